"""Issue 11 (3) and 16: a dataset belongs to one data_dir; results belong to
their dataset; one ingest at a time writes a dataset.

Real Snakemake runs and real ingests into the session's private mongod.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import runner
from caffe_dev.sample_data import generate
from caffe_workflow.ownership import LOCKS, STALE_S, DatasetLock

pytestmark = [pytest.mark.slow, pytest.mark.mongod]


def summary(workdir, dataset) -> dict:
    return json.loads((runner.results(workdir, dataset) / "ingest_summary.json").read_text())


def tag_and_note(dataset_name, stem):
    import fiftyone as fo
    from fiftyone import ViewField as F

    ds = fo.load_dataset(dataset_name)
    sample = ds.one(F("stem") == stem)
    sample.tags.append("my-tag")
    sample["my_note"] = "mine"
    sample.save()
    ds.save_view("my-view", ds.match_tags("my-tag"))


def user_work_survives(dataset_name, stem):
    import fiftyone as fo
    from fiftyone import ViewField as F

    ds = fo.load_dataset(dataset_name)
    ds.reload()  # the process keeps one Dataset object per name: read it again
    sample = ds.one(F("stem") == stem)
    return "my-tag" in sample.tags and sample["my_note"] == "mine" and ds.has_saved_view("my-view")


def test_another_data_dir_stops_before_any_work(tmp_path, fiftyone_env):
    import fiftyone as fo

    name = "owned-dataset"
    first, second = tmp_path / "a" / "data_raw", tmp_path / "b" / "data_raw"
    stems = generate(first, 3, seed=41)
    other = generate(second, 2, seed=42, first_index=10)
    folder_a, folder_b = tmp_path / "work-a", tmp_path / "work-b"
    runner.run(folder_a, first, name, fiftyone_env)
    tag_and_note(name, stems[0])

    # Another folder, another data_dir, the same dataset name.
    done = runner.run(folder_b, second, name, fiftyone_env, ok=False)
    errors = [line for line in done.log.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, done.log
    assert str(first) in errors[0] and str(second) in errors[0], errors
    assert "dataset_name" in errors[0] and "take_over_dataset=true" in errors[0]
    assert not runner.done_images(folder_b), "per-image work ran"
    # The same folder with the other data_dir: stopped the same way.
    done = runner.run(folder_a, second, name, fiftyone_env, ok=False)
    assert f"was built from {first}, not from {second}" in done.log
    assert len(fo.load_dataset(name)) == 3 and user_work_survives(name, stems[0])

    # The ways out. Another name: a dataset of its own, the first untouched.
    runner.run(folder_b, second, "owned-dataset-b", fiftyone_env)
    assert sorted(fo.load_dataset("owned-dataset-b").distinct("stem")) == sorted(other)
    assert len(fo.load_dataset(name)) == 3
    # Taking over: the dataset now mirrors the second data_dir; the saved view stays.
    runner.run(folder_b, second, name, fiftyone_env, config=["take_over_dataset=true"])
    ds = fo.load_dataset(name)
    ds.reload()
    assert sorted(ds.distinct("stem")) == sorted(other)
    assert ds.info["data_dir"] == str(second) and ds.has_saved_view("my-view")
    assert summary(folder_b, name)["deleted"] == 3
    # Now the first data_dir is the other one. Folder a's next run with new
    # data is stopped before any per-image work, with one line (by the start
    # check: Snakemake removed its record when it refused the other data_dir
    # in this folder above, so it runs again); and so is the run after that.
    (new,) = generate(first, 1, seed=41, first_index=3)
    message = f"was built from {second}, not from {first}"
    for _ in range(2):
        done = runner.run(folder_a, first, name, fiftyone_env, ok=False)
        errors = [line for line in done.log.splitlines() if line.startswith("Error: ")]
        assert len(errors) == 1 and message in errors[0], done.log
        assert sorted(fo.load_dataset(name).distinct("stem")) == sorted(other)
        assert not list((folder_a / "results" / name / "images").glob(f"*/{new}"))


def test_two_folders_one_data_dir_share_the_dataset(tmp_path, fiftyone_env):
    name = "shared-dataset"
    data_dir = tmp_path / "data_raw"
    stems = generate(data_dir, 3, seed=43)
    runner.run(tmp_path / "one", data_dir, name, fiftyone_env)
    tag_and_note(name, stems[1])
    generate(data_dir, 1, seed=43, first_index=3)
    runner.run(tmp_path / "two", data_dir, name, fiftyone_env)
    got = summary(tmp_path / "two", name)
    assert (got["added"], got["deleted"], got["total"]) == (1, 0, 4)
    assert user_work_survives(name, stems[1])


def test_two_data_dirs_in_turn_in_one_folder(tmp_path, fiftyone_env):
    """Each data_dir has its own dataset and results; switching back reprocesses nothing."""
    import fiftyone as fo

    work = tmp_path / "work"
    a, b = tmp_path / "a" / "data_raw", tmp_path / "b" / "data_raw"
    stems_a, stems_b = generate(a, 3, seed=44), generate(b, 2, seed=45, first_index=20)
    runner.run(work, a, "turn-a", fiftyone_env)
    runner.run(work, b, "turn-b", fiftyone_env)
    assert "Nothing to be done" in runner.run(work, a, "turn-a", fiftyone_env).log
    assert "Nothing to be done" in runner.run(work, b, "turn-b", fiftyone_env).log
    assert sorted(r["stem"] for r in runner.catalog(work, "turn-a")) == sorted(stems_a)
    assert sorted(r["stem"] for r in runner.catalog(work, "turn-b")) == sorted(stems_b)
    assert sorted(fo.load_dataset("turn-a").distinct("stem")) == sorted(stems_a)
    assert sorted(fo.load_dataset("turn-b").distinct("stem")) == sorted(stems_b)


# ---------------------------------------------------------------- ingests at once


@pytest.fixture
def built(tmp_path, fiftyone_env):
    name = f"locked-{tmp_path.name[-12:]}".replace("_", "-")
    data_dir = tmp_path / "data_raw"
    stems = generate(data_dir, 3, seed=46)
    runner.run(tmp_path / "work", data_dir, name, fiftyone_env)
    return {
        "name": name,
        "data_dir": data_dir,
        "stems": stems,
        "catalog": runner.results(tmp_path / "work", name) / "catalog.parquet",
    }


def ingest_cmd(built, summary_path):
    return [
        sys.executable,
        "-m",
        "caffe_workflow.stages.ingest",
        "--catalog",
        str(built["catalog"]),
        "--dataset",
        built["name"],
        "--summary",
        str(summary_path),
        "--data-dir",
        str(built["data_dir"]),
    ]


def lock_collection():
    import fiftyone.core.odm as foo

    return foo.get_db_conn()[LOCKS]


def test_an_ingest_waits_for_the_one_writing(built, tmp_path, fiftyone_env):
    import fiftyone as fo

    tag_and_note(built["name"], built["stems"][0])
    lock = DatasetLock(lock_collection().database, built["name"], "the test")
    lock.acquire()
    try:
        proc = subprocess.Popen(
            ingest_cmd(built, tmp_path / "s.json"),
            env=fiftyone_env,
            stderr=subprocess.PIPE,
            text=True,
        )
        waiting = ""
        while "waiting for another ingest" not in waiting:
            line = proc.stderr.readline()
            assert line, f"the ingest ended without waiting: {waiting}"
            waiting += line
        assert proc.poll() is None
    finally:
        lock.release()
    rest = proc.communicate(timeout=runner.RUN_TIMEOUT)[1]
    assert proc.returncode == 0, waiting + rest
    assert json.loads((tmp_path / "s.json").read_text())["unchanged"] == 3
    assert len(fo.load_dataset(built["name"])) == 3
    assert user_work_survives(built["name"], built["stems"][0])
    assert lock_collection().count_documents({"_id": built["name"]}) == 0


def test_a_dead_ingests_lock_is_taken_over(built, tmp_path, fiftyone_env):
    import datetime

    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=STALE_S + 5)
    lock_collection().insert_one(
        {
            "_id": built["name"],
            "token": "gone:1:x",
            "data_dir": "?",
            "started": old,
            "heartbeat": old,
        }
    )
    done = subprocess.run(
        ingest_cmd(built, tmp_path / "s.json"),
        env=fiftyone_env,
        capture_output=True,
        text=True,
        timeout=runner.RUN_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    assert "took over the lock of an ingest that stopped (gone:1:x" in done.stderr
    assert lock_collection().count_documents({"_id": built["name"]}) == 0


def wait_until_waiting(proc) -> str:
    """The ingest's stderr up to its line saying it waits for the lock."""
    seen = ""
    while "waiting for another ingest" not in seen:
        line = proc.stderr.readline()
        assert line, f"the ingest ended without waiting: {seen}"
        seen += line
    return seen


def test_two_ingests_at_once_converge(built, tmp_path, fiftyone_env):
    import fiftyone as fo

    tag_and_note(built["name"], built["stems"][2])
    generate(built["data_dir"], 2, seed=46, first_index=3)
    # Both folders' runs see the new images; their ingests start together.
    runner.run(
        tmp_path / "work", built["data_dir"], built["name"], fiftyone_env, "--omit-from", "ingest"
    )
    # The test holds the lock until both ingests wait for it, so they are
    # under way at the same time; released, they go one after the other.
    lock = DatasetLock(lock_collection().database, built["name"], "the test")
    lock.acquire()
    try:
        procs = [
            subprocess.Popen(
                ingest_cmd(built, tmp_path / f"s{i}.json"),
                env=fiftyone_env,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(2)
        ]
        waited = [wait_until_waiting(p) for p in procs]
        assert all("from the test" in w for w in waited), waited
        assert [p.poll() for p in procs] == [None, None]
    finally:
        lock.release()
    outputs = [w + p.communicate(timeout=runner.RUN_TIMEOUT)[1] for w, p in zip(waited, procs)]
    assert [p.returncode for p in procs] == [0, 0], outputs
    summaries = [json.loads((tmp_path / f"s{i}.json").read_text()) for i in range(2)]
    # One added the new images, the other found them there: they did not
    # write at the same time.
    assert sorted(s["added"] for s in summaries) == [0, 2], summaries
    assert sorted(s["unchanged"] for s in summaries) == [3, 5], summaries
    ds = fo.load_dataset(built["name"])
    assert len(ds) == 5 and len(set(ds.values("filepath"))) == 5
    assert user_work_survives(built["name"], built["stems"][2])
    assert lock_collection().count_documents({"_id": built["name"]}) == 0
