"""Issue 3, faults: kills, an unreachable database, two runs at once.

Each test runs the real workflow (Snakemake, per-image jobs, merge, ingest into
the session's private mongod) and compares what a damaged run converges to
with what a clean run on the same data gives.

What a user types after a crash (asserted below in rerun_after_crash):
  `snakemake --unlock`, then the same command again. The plain rerun is
  refused with "Directory cannot be locked ... can be removed with the
  --unlock argument": the killed run's lock is still there, and it holds no
  PID, so Snakemake cannot tell a dead run from a live one. Jobs the kill left
  incomplete are rerun without asking, because profiles/default sets
  rerun-incomplete: that is always safe here, since every output is written
  under a temporary name and renamed, so it is either complete or absent.

Replacing or deleting a source image between runs (its derived files and
sample rebuilt or removed) is covered by test_incremental.py.
"""

from __future__ import annotations

import shutil

import pytest
from PIL import Image, ImageOps

from caffe_dev.mongod import Mongod, free_port, isolated_fiftyone_env
from caffe_dev.sample_data import generate
from runner import (
    catalog,
    dataset_snapshot,
    differences,
    done_images,
    job_counts,
    kill_group,
    marked_incomplete,
    package_env,
    results,
    run,
    saved_views,
    start,
    tree_checksums,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.mongod]

COUNT = 10
SEED = 31
LOCKED = "Directory cannot be locked"


@pytest.fixture(scope="module")
def env(mongod):
    return package_env()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, env):
    """A clean run on the shared data: what every damaged run must equal."""
    root = tmp_path_factory.mktemp("faults-reference")
    data_dir = root / "data_raw"
    generate(data_dir, COUNT, seed=SEED, size="small")
    workdir = root / "work"
    run(workdir, data_dir, "faults-reference", env)
    return {
        "data_dir": data_dir,
        "checksums": tree_checksums(data_dir),
        "catalog": catalog(workdir),
        "dataset": dataset_snapshot("faults-reference", workdir),
    }


def rerun_after_crash(workdir, data_dir, dataset, env, config=()):
    """What the user does after a kill; returns the log of the rerun that
    finished. The plain rerun is refused with a message that names its fix."""
    refused = run(workdir, data_dir, dataset, env, ok=False, config=config).log
    assert LOCKED in refused and "--unlock" in refused, refused
    run(workdir, data_dir, dataset, env, "--unlock", config=config)
    return run(workdir, data_dir, dataset, env, config=config).log


def assert_converged(workdir, dataset, expected_catalog, expected_dataset, **ignore):
    got = catalog(workdir)
    assert got == expected_catalog, differences(got, expected_catalog)[:20]
    got = dataset_snapshot(dataset, workdir, **ignore)
    assert got == expected_dataset, differences(got, expected_dataset)[:20]
    images = results(workdir, dataset) / "images"
    assert not [p for p in images.glob("*/.*")], "a temporary per-image folder was left"
    left = list(results(workdir, dataset).glob(".*"))
    assert not left, "a temporary catalog/summary was left"


def test_kill_during_per_image_jobs_then_rerun(reference, tmp_path, env):
    data_dir, workdir, name = reference["data_dir"], tmp_path / "work", "faults-kill-images"
    # Batches of a few small images, one job at a time: the kill comes when
    # the first batch's rows are written, so that batch is done and the next
    # one has at most just been started (a job's start alone takes longer
    # than the poll), whatever the machine's speed.
    config = ["batch_mb=0.05"]
    batch_rows = results(workdir, name) / "batches"
    planned = job_counts(run(workdir, data_dir, name, env, "--dry-run", config=config).log)
    assert planned["process"] >= 3, planned
    proc = start(
        workdir, data_dir, name, env, tmp_path / "killed.log", "--cores", "1", config=config
    )
    wait_for(lambda: any(batch_rows.glob("*.parquet")), proc)
    kill_group(proc)
    assert len(list(batch_rows.glob("*.parquet"))) == 1
    assert 0 < len(done_images(workdir)) < COUNT
    assert not (results(workdir, name) / "catalog.parquet").exists()

    rerun_after_crash(workdir, data_dir, name, env, config=config)
    assert_converged(workdir, name, reference["catalog"], reference["dataset"])
    assert "Nothing to be done" in run(workdir, data_dir, name, env, config=config).log
    assert tree_checksums(data_dir) == reference["checksums"]


def sample_collection(dataset_name):
    """The MongoDB collection of a dataset's samples (read with pymongo, so
    the test can poll it every few milliseconds)."""
    import fiftyone.core.odm as foo

    db = foo.get_db_conn()
    # The dataset's own document names its samples' collection.
    return db[db.datasets.find_one({"name": dataset_name})["sample_collection_name"]]


def test_kill_during_merge_and_during_ingest_keeps_user_work(tmp_path_factory, env):
    import fiftyone as fo
    from fiftyone import ViewField as F

    root = tmp_path_factory.mktemp("faults-crash")
    data_dir, workdir, name = root / "data_raw", root / "work", "faults-crash"
    stems = generate(data_dir, COUNT, seed=SEED, size="small")
    run(workdir, data_dir, name, env)

    # The user's own work before the crash.
    dataset = fo.load_dataset(name)
    changed, deleted, tagged, noted = sorted(stems)[:4]
    for stem in (tagged, noted):
        sample = dataset.one(F("stem") == stem)
        sample.tags.append("my-tag")
        sample.save()
    sample = dataset.one(F("stem") == noted)
    sample["my_note"] = "front checked by hand"
    sample.save()
    dataset.save_view("my-view", dataset.match_tags("my-tag"), description="mine")

    # New data arrives: two images added, one replaced, one deleted.
    generate(data_dir, 2, seed=SEED, first_index=COUNT)
    images = {p.stem: p for p in (data_dir / "sar_images").glob("*/*.png")}
    ImageOps.invert(Image.open(images[changed]).convert("L")).save(images[changed])
    split = images[deleted].parent.name
    for path in (
        images[deleted],
        data_dir / "zones" / split / f"{deleted}_zones.png",
        data_dir / "fronts" / split / f"{deleted}_front.png",
        data_dir / "bounding_boxes" / f"{deleted}_front_extent_coord.txt",
    ):
        path.unlink()
    source = tree_checksums(data_dir)

    # Kill 1, during the merge: from the moment Snakemake starts the job (its
    # incomplete marker appears). The merge takes ~1 s (pyarrow import), so
    # this lands in it reliably, usually before the catalog is written.
    summary = results(workdir, name) / "ingest_summary.json"
    first_summary = summary.stat().st_mtime_ns
    proc = start(workdir, data_dir, name, env, root / "killed-merge.log")
    wait_for(lambda: marked_incomplete(workdir, f"results/{name}/catalog.parquet"), proc)
    kill_group(proc)
    assert summary.stat().st_mtime_ns == first_summary  # the ingest never ran

    run(workdir, data_dir, name, env, "--unlock")

    # Kill 2, during the ingest's database writes: the moment the number of
    # samples changes (the deleted image's sample goes first, then the new
    # ones are added, then the changed one and the dataset settings are
    # written). Polled every few ms; the rest of the ingest takes longer, so
    # the kill lands inside it. If the ingest had finished first, its summary
    # would exist and the assertion below says so.
    samples = sample_collection(name)
    before = samples.count_documents({})
    proc = start(workdir, data_dir, name, env, root / "killed-ingest.log", "--rerun-incomplete")
    wait_for(lambda: samples.count_documents({}) != before, proc, poll=0.002)
    kill_group(proc)
    unfinished = not summary.exists() or summary.stat().st_mtime_ns == first_summary
    assert unfinished, "the ingest finished before the kill"

    log = rerun_after_crash(workdir, data_dir, name, env)
    assert "process" not in job_counts(log)  # per-image work was kept

    # A clean run on the same data, in a fresh place, is the reference.
    ref_workdir = root / "reference"
    run(ref_workdir, data_dir, "faults-crash-reference", env)
    mine = {"ignore_fields": ("my_note",), "ignore_tags": ("my-tag",)}
    assert_converged(
        workdir,
        name,
        catalog(ref_workdir),
        dataset_snapshot("faults-crash-reference", ref_workdir),
        **mine,
    )

    # The user's tags, field and saved view survived.
    dataset.reload()
    assert sorted(dataset.match_tags("my-tag").values("stem")) == sorted([tagged, noted])
    assert dataset.one(F("stem") == noted)["my_note"] == "front checked by hand"
    assert "my-view" in saved_views(name)
    assert len(dataset.load_saved_view("my-view")) == 2
    assert "Nothing to be done" in run(workdir, data_dir, name, env).log
    assert tree_checksums(data_dir) == source


def only_ingest(log):
    jobs = job_counts(log)
    return jobs.get("ingest") == 1 and not {"process", "catalog"} & set(jobs)


def test_database_unreachable_at_ingest(reference, tmp_path, env):
    data_dir = tmp_path / "data_raw"
    shutil.copytree(reference["data_dir"], data_dir)
    workdir, name = tmp_path / "work", "faults-db"
    ingest_log = workdir / "logs" / name / "ingest.log"

    # A wrong URI (nothing listens there) that carries credentials.
    closed = free_port()
    wrong = dict(env, FIFTYONE_DATABASE_URI=f"mongodb://caffe:s3cret@127.0.0.1:{closed}")
    failed = run(workdir, data_dir, name, wrong, ok=False)
    assert "Error in rule ingest" in failed.log and f"logs/{name}/ingest.log" in failed.log
    message = ingest_log.read_text()
    assert f"cannot reach the FiftyOne database at mongodb://***@127.0.0.1:{closed}" in message
    assert "FIFTYONE_DATABASE_URI" in message
    assert "s3cret" not in message + failed.log
    # Per-image results and the catalog are kept.
    assert len(done_images(workdir)) == COUNT
    assert (results(workdir, name) / "catalog.parquet").exists()

    # A mongod of its own, which the test can stop and start again.
    mongod = Mongod(tmp_path / "mongod").start()
    try:
        db_env = dict(env, **isolated_fiftyone_env(mongod.uri, tmp_path / "fiftyone"))
        done = run(workdir, data_dir, name, db_env)
        assert only_ingest(done.log)

        # New data, and the database stops before the run.
        generate(data_dir, 1, seed=SEED, first_index=COUNT)
        mongod.stop()
        # --show-failed-logs puts the failed job's log on the console.
        failed = run(workdir, data_dir, name, db_env, "--show-failed-logs", ok=False)
        message = ingest_log.read_text()
        assert f"cannot reach the FiftyOne database at {mongod.uri}" in message
        assert f"cannot reach the FiftyOne database at {mongod.uri}" in failed.log
        jobs = job_counts(failed.log)
        assert jobs["process"] == 1 and jobs["ingest"] == 1, jobs

        # The database is back: the rerun only ingests.
        mongod.start()
        done = run(workdir, data_dir, name, db_env)
        assert only_ingest(done.log)
        summary = (results(workdir, name) / "ingest_summary.json").read_text()
        assert '"added": 1' in summary and f'"total": {COUNT + 1}' in summary
    finally:
        mongod.stop()


def test_second_run_at_once_is_refused(reference, tmp_path, env):
    data_dir, workdir, name = reference["data_dir"], tmp_path / "work", "faults-concurrent"
    first = start(workdir, data_dir, name, env, tmp_path / "first.log")
    locks = workdir / ".snakemake" / "locks"
    wait_for(lambda: locks.is_dir() and any(locks.iterdir()), first)

    second = run(workdir, data_dir, name, env, ok=False)
    assert LOCKED in second.log
    # Also with --rerun-incomplete, for which the first run's running jobs
    # look incomplete: still refused, and nothing of the first run is touched
    # (the flag could thus be a default in a workflow profile).
    second = run(workdir, data_dir, name, env, "--rerun-incomplete", ok=False)
    assert LOCKED in second.log
    assert first.poll() is None, "the first run ended before the second was refused"
    assert any(locks.iterdir()), "the refused run removed the first run's lock"

    assert first.wait(timeout=600) == 0, (tmp_path / "first.log").read_text()
    assert_converged(workdir, name, reference["catalog"], reference["dataset"])
    assert "Nothing to be done" in run(workdir, data_dir, name, env).log
    assert tree_checksums(data_dir) == reference["checksums"]
