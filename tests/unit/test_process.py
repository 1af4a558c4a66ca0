"""The per-image step on generated CaFFe data: outputs, validation, imports."""

import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from PIL import Image

from caffe_dev.sample_data import generate
from caffe_workflow.caffe.layout import label_paths
from caffe_workflow.stages.process import process


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("caffe") / "data_raw"
    generate(root, count=14, seed=3)
    return root


def run(data_dir, stem, out_root, height=64):
    image = next((data_dir / "sar_images").glob(f"*/{stem}.png"))
    split = image.parent.name
    labels = label_paths(data_dir, split, stem)
    out = out_root / split / stem
    row = process(image, labels["zones"], labels["front"], labels["bbox"], split, out, height)
    return row, out


def stems(data_dir):
    return sorted(p.stem for p in (data_dir / "sar_images").glob("*/*.png"))


def test_valid_image_gives_a_complete_folder(data_dir, tmp_path):
    stem = stems(data_dir)[0]
    row, out = run(data_dir, stem, tmp_path)
    assert row["valid"] and row["problems"] == []
    assert sorted(p.name for p in out.iterdir()) == [
        "front.png",
        "metadata.parquet",
        "thumbnail.jpg",
        "zones.png",
    ]
    table = pq.read_table(out / "metadata.parquet").to_pylist()
    assert len(table) == 1 and table[0]["stem"] == stem
    image = Image.open(row["filepath"])
    assert (table[0]["width"], table[0]["height"]) == image.size
    thumb = Image.open(out / "thumbnail.jpg")
    assert thumb.height == 64
    assert abs(thumb.width / thumb.height - image.width / image.height) < 0.05
    fractions = [table[0][f"zone_{c}_fraction"] for c in ("na", "rock", "glacier", "ocean")]
    assert sum(fractions) == pytest.approx(1.0)
    assert table[0]["front_pixels"] > 0 and table[0]["front_length_km"] > 0
    lines = table[0]["front_lines"]
    assert lines and all(0 <= v <= 1 for line in lines for pt in line for v in pt)
    # The validated masks are byte copies of the source masks.
    labels = label_paths(data_dir, row["split"], stem)
    assert (out / "zones.png").read_bytes() == labels["zones"].read_bytes()
    assert not list(out.parent.glob(".*"))  # no temporary folder left


def test_bad_labels_make_the_image_invalid_but_keep_what_is_good(data_dir, tmp_path):
    stem = stems(data_dir)[1]
    bad = tmp_path / "bad"
    bad.mkdir()
    image = next((data_dir / "sar_images").glob(f"*/{stem}.png"))
    labels = label_paths(data_dir, image.parent.name, stem)
    small = Image.open(labels["zones"]).resize((10, 10))
    small.save(bad / "zones.png")
    out = tmp_path / "out" / stem
    row = process(
        image,
        bad / "zones.png",
        bad / "missing_front.png",
        labels["bbox"],
        "train",
        out,
        64,
    )
    problems = row["problems"]
    assert not row["valid"]
    assert any("zone mask is 10x10" in p for p in problems)
    assert any("front mask missing: missing_front.png" in p for p in problems)
    assert sorted(p.name for p in out.iterdir()) == ["metadata.parquet", "thumbnail.jpg"]
    assert row.get("zones_path") is None and row.get("front_path") is None


def test_per_image_step_does_not_import_fiftyone():
    # Each batch job imports the step once; FiftyOne would cost it seconds.
    code = (
        "import sys, caffe_workflow.stages.process;"
        "print(sorted(m for m in ('fiftyone',) if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
