"""The catalog merge: a merge with the previous catalog equals a full merge."""

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from caffe_dev.sample_data import generate
from caffe_workflow.caffe.layout import label_paths
from caffe_workflow.stages.catalog import merge, read_rows
from caffe_workflow.stages.process import process


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("caffe") / "data_raw"
    generate(root, count=6, seed=5)
    return root


def build(data_dir, image, out_root):
    split, stem = image.parent.name, image.stem
    labels = label_paths(data_dir, split, stem)
    out = out_root / split / stem
    process(image, labels["zones"], labels["front"], labels["bbox"], split, out, 32)
    return out


def age(path, seconds):
    """Date `path`'s metadata back, as if written `seconds` ago."""
    meta = path / "metadata.parquet"
    t = meta.stat().st_mtime - seconds
    os.utime(meta, (t, t))


@pytest.fixture
def folders(data_dir, tmp_path):
    images = sorted((data_dir / "sar_images").glob("*/*.png"))
    dirs = [build(data_dir, image, tmp_path / "images") for image in images[:5]]
    for d in dirs:
        age(d, 60)
    catalog = tmp_path / "catalog.parquet"
    pq.write_table(merge(dirs), catalog)
    return images, dirs, catalog


def test_merge_with_previous_reads_only_new_and_rewritten_folders(
    data_dir, tmp_path, folders, monkeypatch
):
    images, dirs, catalog = folders
    # Rewrite one folder with different content (the image was replaced),
    # add one, drop one.
    replaced = images[1]
    with Image.open(replaced) as im:
        im.rotate(180).save(replaced)
    build(data_dir, replaced, tmp_path / "images")
    added = build(data_dir, images[5], tmp_path / "images")
    current = [d for d in dirs if d != dirs[3]] + [added]

    read = []
    real = read_rows
    monkeypatch.setattr(
        "caffe_workflow.stages.catalog.read_rows", lambda ds: read.extend(ds) or real(ds)
    )
    incremental = merge(current, previous=catalog)
    assert sorted(read) == sorted([dirs[1], added])

    full = real(current).sort_by([("split", "ascending"), ("stem", "ascending")])
    assert incremental.equals(full)
    assert incremental.num_rows == 5
    row = incremental.to_pylist()[[r["stem"] for r in incremental.to_pylist()].index(replaced.stem)]
    old = pq.read_table(catalog).to_pylist()
    assert row["image_sha256"] != next(r for r in old if r["stem"] == replaced.stem)["image_sha256"]


def test_nothing_changed_still_equals_a_full_merge(folders):
    _, dirs, catalog = folders
    assert merge(dirs, previous=catalog).equals(pq.read_table(catalog))


def test_old_catalog_with_other_columns_is_not_reused(folders, tmp_path):
    _, dirs, catalog = folders
    old = pq.read_table(catalog)
    pq.write_table(old.append_column("retired", pa.array([1] * old.num_rows)), catalog)
    assert merge(dirs, previous=catalog).equals(merge(dirs))


def test_unreadable_old_catalog_means_a_full_merge(folders, capsys):
    _, dirs, catalog = folders
    catalog.write_bytes(b"not parquet")
    assert merge(dirs, previous=catalog).equals(merge(dirs))
    assert "not reusing" in capsys.readouterr().err
