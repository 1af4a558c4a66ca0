"""Real Snakemake on generated CaFFe data into a real (private) MongoDB.

Build, then add two images, change one, redraw one's front mask, delete one,
tag a sample and add a user field; rerun and check that only the new or
changed images were processed, that the dataset equals the data and that the
user's work survived; a second rerun does nothing.
"""

import json
from pathlib import Path

import pytest
from PIL import Image, ImageOps

import runner
from caffe_dev.sample_data import generate

pytestmark = [pytest.mark.slow, pytest.mark.mongod]

DATASET = "caffe-incremental-test"


def snakemake(workdir: Path, data_dir: Path, env: dict, *extra: str) -> str:
    return runner.run(workdir, data_dir, DATASET, env, *extra).log


def processed_stamps(workdir: Path) -> dict[str, int]:
    """mtime of each per-image row: it changes exactly when the image was processed."""
    return {
        p.parent.name: p.stat().st_mtime_ns
        for p in (runner.results(workdir, DATASET) / "images").glob("*/*/metadata.parquet")
    }


def source_images(data_dir: Path) -> dict[str, Path]:
    return {p.stem: p for p in (data_dir / "sar_images").glob("*/*.png")}


def test_build_then_incremental_rerun(tmp_path, fiftyone_env):
    import fiftyone as fo

    data_dir = tmp_path / "data_raw"
    workdir = tmp_path / "work"
    stems = generate(data_dir, count=14, seed=7)
    snakemake(workdir, data_dir, fiftyone_env)

    dataset = fo.load_dataset(DATASET)
    assert dataset.persistent and len(dataset) == 14
    assert set(dataset.distinct("stem")) == set(stems)
    first = processed_stamps(workdir)
    assert set(first) == set(stems)

    # The user's own work on the dataset.
    changed, deleted, tagged, relabelled = sorted(stems)[:4]
    sample = dataset.one(fo.ViewField("stem") == tagged)
    sample.tags.append("my-tag")
    sample["my_note"] = "checked by hand"
    sample.save()

    # New, changed and deleted source images.
    added = generate(data_dir, count=2, seed=7, first_index=14)
    assert not set(added) & set(stems)
    images = source_images(data_dir)
    original = Image.open(images[changed])
    ImageOps.invert(original.convert("L")).save(images[changed])
    gone = images[deleted]
    split = gone.parent.name
    gone.unlink()
    for label in (
        data_dir / "zones" / split / f"{deleted}_zones.png",
        data_dir / "fronts" / split / f"{deleted}_front.png",
        data_dir / "bounding_boxes" / f"{deleted}_front_extent_coord.txt",
    ):
        label.unlink()

    # A label redrawn: the front mask of another image loses its front.
    front = data_dir / "fronts" / images[relabelled].parent.name / f"{relabelled}_front.png"
    Image.new("L", Image.open(front).size, 0).save(front)

    snakemake(workdir, data_dir, fiftyone_env)
    second = processed_stamps(workdir)
    rerun = {stem for stem in second if second[stem] != first.get(stem)}
    assert rerun == {changed, relabelled, *added}
    assert deleted not in second  # its derived files went away

    summary = json.loads((runner.results(workdir, DATASET) / "ingest_summary.json").read_text())
    assert (summary["added"], summary["updated"], summary["deleted"]) == (2, 2, 1)
    assert summary["total"] == 15

    dataset.reload()
    current = source_images(data_dir)
    assert sorted(dataset.values("filepath")) == sorted(str(p) for p in current.values())
    assert len(dataset) == len(set(dataset.values("filepath"))) == 15
    replaced = dataset.one(fo.ViewField("stem") == changed)
    assert replaced.metadata.size_bytes == current[changed].stat().st_size
    redrawn = dataset.one(fo.ViewField("stem") == relabelled)
    assert "invalid" in redrawn.tags and redrawn.front is None
    assert "front mask has no front pixel" in redrawn.problems
    mine = dataset.one(fo.ViewField("stem") == tagged)
    assert "my-tag" in mine.tags and mine["my_note"] == "checked by hand"

    # A second rerun has nothing to do.
    log = snakemake(workdir, data_dir, fiftyone_env)
    assert "Nothing to be done" in log
    assert processed_stamps(workdir) == second
