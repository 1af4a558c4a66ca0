"""Batch jobs and the catalog merge, on generated CaFFe data: a batch redoes
exactly its images that changed; the catalog holds every batch's rows."""

import pyarrow.parquet as pq
import pytest
from PIL import Image

from caffe_dev.sample_data import generate
from caffe_workflow.caffe.layout import label_paths
from caffe_workflow.stages.catalog import merge, prune_stale, write_report
from caffe_workflow.stages.process import row_sha, run_batch


@pytest.fixture
def data_dir(tmp_path):
    root = tmp_path / "data_raw"
    generate(root, count=6, seed=5)
    return root


def members(data_dir, images):
    out = []
    for image in images:
        split, stem = image.parent.name, image.stem
        labels = {k: str(v) for k, v in label_paths(data_dir, split, stem).items()}
        out.append({"split": split, "stem": stem, "image": str(image)} | labels)
    return out


def stamps(images_root):
    return {p.parent.name: p.stat().st_mtime_ns for p in images_root.glob("*/*/metadata.parquet")}


def test_a_batch_redoes_only_what_changed(data_dir, tmp_path):
    images = sorted((data_dir / "sar_images").glob("*/*.png"))
    rows, root = tmp_path / "b0000.parquet", tmp_path / "images"
    batch = members(data_dir, images[:5])
    assert run_batch(batch, rows, root, 32, workers=2) == {"processed": 5, "kept": 0}
    first = stamps(root)
    assert run_batch(batch, rows, root, 32) == {"processed": 0, "kept": 5}
    assert stamps(root) == first

    # A replaced image, a new member, a member gone, a folder deleted by hand.
    with Image.open(images[1]) as im:
        im.rotate(180).save(images[1])
    folder = root / images[2].parent.name / images[2].stem
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    batch = [m for m in batch if m["stem"] != images[3].stem] + members(data_dir, images[5:])
    assert run_batch(batch, rows, root, 32) == {"processed": 3, "kept": 2}
    now = stamps(root)
    assert {s for s in now if now[s] != first.get(s)} == {
        images[1].stem,
        images[2].stem,
        images[5].stem,
    }
    table = pq.read_table(rows)
    assert sorted(table.column("stem").to_pylist()) == sorted(m["stem"] for m in batch)
    # Another thumbnail height: every member again.
    assert run_batch(batch, rows, root, 48) == {"processed": 5, "kept": 0}


def test_rows_carry_their_hash_and_older_batch_files_get_it(data_dir, tmp_path):
    images = sorted((data_dir / "sar_images").glob("*/*.png"))
    rows, root = tmp_path / "b0000.parquet", tmp_path / "images"
    batch = members(data_dir, images[:3])
    run_batch(batch, rows, root, 32)
    written = pq.read_table(rows).to_pylist()
    # The hash of the row as it reads back: what a catalog without it gets.
    assert all(r["row_sha"] == row_sha(r) for r in written)
    assert len({r["row_sha"] for r in written}) == 3

    # A batch file from before row_sha: its rows are kept and given one.
    old = pq.read_table(rows).drop_columns(["row_sha"])
    pq.write_table(old, rows)
    first = stamps(root)
    assert run_batch(batch, rows, root, 32) == {"processed": 0, "kept": 3}
    assert stamps(root) == first
    assert pq.read_table(rows).to_pylist() == written


def test_catalog_is_every_batch_and_the_report_every_flagged_row(data_dir, tmp_path):
    images = sorted((data_dir / "sar_images").glob("*/*.png"))
    (data_dir / "fronts" / images[4].parent.name / f"{images[4].stem}_front.png").unlink()
    root = tmp_path / "images"
    parts = [tmp_path / "b0000.parquet", tmp_path / "b0001.parquet"]
    run_batch(members(data_dir, images[:4]), parts[0], root, 32)
    run_batch(members(data_dir, images[4:]), parts[1], root, 32)

    done = merge(parts, tmp_path / "catalog.parquet")
    catalog = pq.ParquetFile(tmp_path / "catalog.parquet")
    assert catalog.metadata.num_rows == done["rows"] == 6
    assert catalog.metadata.num_row_groups == 2  # one batch at a time
    assert sorted(catalog.read().column("stem").to_pylist()) == sorted(i.stem for i in images)
    assert done["invalid"] == 1 and [r["stem"] for r in done["flagged"]] == [images[4].stem]

    write_report(done["rows"], done["flagged"], tmp_path / "report.md", [])
    text = (tmp_path / "report.md").read_text()
    assert "6 images: 5 valid, 1 invalid" in text and "front mask missing" in text

    kept = done["keys"][1:]
    removed = prune_stale(root, kept)
    assert [p.name for p in removed] == [done["keys"][0][1]]
