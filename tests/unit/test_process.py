"""The per-image step on generated CaFFe data: outputs, validation, imports."""

import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from caffe_dev.sample_data import generate
from caffe_workflow.caffe.layout import label_paths
from caffe_workflow.rows import ROW_SCHEMA, earlier_schema, row_sha
from caffe_workflow.stages.process import process, run_batch


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


def test_an_image_without_any_label_is_valid_and_unlabelled(data_dir, tmp_path):
    stem = stems(data_dir)[2]
    image = next((data_dir / "sar_images").glob(f"*/{stem}.png"))
    none = tmp_path / "none"
    out = tmp_path / "out" / stem
    row = process(image, none / "z.png", none / "f.png", none / "b.txt", "train", out, 64)
    assert row["valid"] and row["labelled"] is False and row["problems"] == []
    assert row["width"] and row["features"] and row["thumbnail_path"]
    assert all(row.get(k) is None for k in ("zones_path", "front_path", "front_lines"))
    assert sorted(p.name for p in out.iterdir()) == ["metadata.parquet", "thumbnail.jpg"]
    # One label file is enough to make it a labelled image, and the others are then missing.
    labels = label_paths(data_dir, image.parent.name, stem)
    row = process(image, labels["zones"], none / "f.png", none / "b.txt", "train", out, 64)
    assert not row["valid"] and row["labelled"] is True
    assert any("front mask missing" in p for p in row["problems"])
    assert any("bounding box file missing" in p for p in row["problems"])


def test_rows_from_before_labelled_are_kept_or_redone(data_dir, tmp_path):
    """Batch rows written before the column `labelled`: kept (labelled) when
    the image has labels; redone when it has none (such rows were invalid)."""
    first, second = stems(data_dir)[3:5]
    members = []
    for stem in (first, second):
        image = next((data_dir / "sar_images").glob(f"*/{stem}.png"))
        split = image.parent.name
        members.append(
            {"split": split, "stem": stem, "image": str(image)}
            | {k: str(v) for k, v in label_paths(data_dir, split, stem).items()}
        )
    # The second image never had labels: its label paths point nowhere.
    members[1] |= {k: str(tmp_path / f"none_{k}") for k in ("zones", "front", "bbox")}
    rows_path, root = tmp_path / "batch.parquet", tmp_path / "images"
    assert run_batch(members, rows_path, root, 64) == {"processed": 2, "kept": 0}
    table = pq.read_table(rows_path)
    # As an earlier release wrote it: no `labelled`, the unlabelled image invalid.
    old = table.drop_columns(["labelled"]).to_pylist()
    old[1] |= {"valid": False, "problems": ["zone mask missing: none_zones"]}
    for row in old:
        row["row_sha"] = row_sha(row)  # of the row without `labelled`
    schema = ROW_SCHEMA.remove(ROW_SCHEMA.get_field_index("labelled"))
    assert earlier_schema(schema) and not earlier_schema(pa.schema([("stem", pa.string())]))
    pq.write_table(pa.Table.from_pylist(old, schema=schema), rows_path)
    redone = []
    assert run_batch(members, rows_path, root, 64, redone=redone) == {"processed": 1, "kept": 1}
    assert redone == [second]
    rows = {r["stem"]: r for r in pq.read_table(rows_path).to_pylist()}
    assert rows[first]["labelled"] is True and rows[first]["valid"]
    assert rows[second]["labelled"] is False and rows[second]["valid"]
    assert rows[first]["row_sha"] != old[0]["row_sha"]  # the new column is in its hash


def test_per_image_step_does_not_import_fiftyone():
    # Each batch job imports the step once; FiftyOne would cost it seconds.
    code = (
        "import sys, caffe_workflow.stages.process;"
        "print(sorted(m for m in ('fiftyone',) if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
