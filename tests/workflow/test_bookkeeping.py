"""Snakemake's bookkeeping is the only one: commands that only look change
nothing, and a per-image folder deleted by hand is redone by the next run.

Real Snakemake runs on generated data into the session's private mongod.
"""

import os
import shutil
from pathlib import Path

import pytest

import runner
from caffe_dev.sample_data import generate

pytestmark = [pytest.mark.slow, pytest.mark.mongod]

DATASET = "caffe-bookkeeping-test"


def snapshot(root: Path) -> dict[str, tuple]:
    """relative path -> (kind, bytes or link target, mtime_ns) of everything under root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            stat = path.lstat()
            if path.is_symlink():
                content = os.readlink(path)
            elif path.is_dir():
                content = "dir"
            else:
                content = path.read_bytes()
            out[str(path.relative_to(root))] = (content, stat.st_mtime_ns)
    return out


LOOKING = [
    ["--dry-run"],
    ["--lint"],
    ["--summary"],
    ["--detailed-summary"],
    ["--list-changes", "params"],
    ["--list-changes", "input"],
    ["--list-changes", "code"],
]


def test_looking_changes_nothing_even_with_work_to_do(tmp_path, fiftyone_env):
    data_dir, workdir = tmp_path / "data_raw", tmp_path / "work"
    generate(data_dir, count=4, seed=61)
    # Before the first run: nothing at all is written.
    for extra in LOOKING:
        runner.run(workdir, data_dir, DATASET, fiftyone_env, *extra)
    assert not (workdir / "results").exists() and not (workdir / "logs").exists()

    runner.run(workdir, data_dir, DATASET, fiftyone_env)
    # New images (a new batch assignment, a batch to redo) and a deleted
    # per-image folder: a dry run lists the work but writes nothing.
    generate(data_dir, count=2, seed=61, first_index=4)
    folders = runner.results(workdir, DATASET) / "images"
    shutil.rmtree(next(folders.glob("*/*")))
    before = snapshot(workdir / "results")
    for extra in LOOKING:
        done = runner.run(workdir, data_dir, DATASET, fiftyone_env, *extra)
        assert snapshot(workdir / "results") == before, extra
    dry = runner.run(workdir, data_dir, DATASET, fiftyone_env, "--dry-run").log
    counts = runner.job_counts(dry)
    assert counts["batches"] == counts["process"] == counts["image_folders"] == 1, dry
    assert "Nothing to be done" not in done.log


def test_deleted_image_folder_is_redone_by_the_next_run(tmp_path, fiftyone_env):
    data_dir, workdir = tmp_path / "data_raw", tmp_path / "work"
    stems = generate(data_dir, count=5, seed=62)
    runner.run(workdir, data_dir, DATASET + "-folders", fiftyone_env)
    res = runner.results(workdir, DATASET + "-folders")
    gone = next(res.glob("images/*/*"))
    kept = {p: snapshot(p) for p in res.glob("images/*/*") if p != gone}
    rows = {p: p.stat().st_mtime_ns for p in res.glob("batches/*.parquet")}
    catalog = (res / "catalog.parquet").stat().st_mtime_ns
    expected = snapshot(gone)
    shutil.rmtree(gone)

    log = runner.run(workdir, data_dir, DATASET + "-folders", fiftyone_env).log
    assert "1 image folder(s) were gone and are redone: " + gone.name in log
    assert sorted(snapshot(gone)) == sorted(expected)  # the same files again
    assert {p: snapshot(p) for p in kept} == kept  # no other image redone
    assert {p: p.stat().st_mtime_ns for p in rows} == rows  # no batch job
    assert (res / "catalog.parquet").stat().st_mtime_ns == catalog  # no catalog
    assert set(runner.job_counts(log)) == {"image_folders", "all"}, log

    # The repair job runs once more (its param no longer counts a missing
    # folder), doing nothing; after that the run has nothing to do.
    again = runner.run(workdir, data_dir, DATASET + "-folders", fiftyone_env).log
    assert set(runner.job_counts(again)) == {"image_folders", "all"}, again
    assert "were gone" not in again
    assert (
        "Nothing to be done"
        in runner.run(workdir, data_dir, DATASET + "-folders", fiftyone_env).log
    )
    assert len(stems) == len(list(res.glob("images/*/*")))
