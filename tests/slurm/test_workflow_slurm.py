"""The workflow on the private Slurm cluster, with the shipped Slurm profile.

Generated images are built once locally and once through Slurm (per-image
work in batch jobs, one Slurm job per batch; catalog, plots and ingest on the
submit host, into the session's standalone mongod named by
FIFTYONE_DATABASE_URI); catalog and dataset must be equal. Then more images go
through Slurm: only they are processed, in one more Slurm job of the batch
they joined.

The command line overrides only what a test needs: the first status check
(the plugin's 40 s is meant for a busy cluster, not a test), the threads of a
batch job (the test node has 2 CPUs) and keeping the plugin's logs of
successful jobs, which the test reads. Each Slurm job starts
Snakemake twice whatever its number of images: the plugin's job step, then
the job itself under srun; the test counts those starts in the job's log.
"""

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from caffe_dev.sample_data import generate
from caffe_workflow.stages.process import row_sha
from slurm_cluster import SBIN_PATH

# Slurm start-up, then two Snakemake runs in a row of up to TIMEOUT each.
pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.mongod, pytest.mark.timeout(3600)]

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "profiles" / "slurm"
# Images of the first run (48 fit in one batch of BATCH_MB; set
# CAFFE_SLURM_IMAGES to measure more, e.g. 681: a batch job per MB), images
# added for the rerun.
FIRST, ADDED = int(os.environ.get("CAFFE_SLURM_IMAGES", 48)), 2
BATCH_MB = 1
THREADS = 2  # CPUs of a batch job: all of the test node's
SLURM_DATASET = "caffe-slurm-test"
LOCAL_DATASET = "caffe-slurm-test-local"
TIMEOUT = 900  # s per Snakemake run; generous, the test machine is shared


def snakemake_cmd(workdir: Path, data_dir: Path, dataset: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--config",
        f"data_dir={data_dir}",
        f"dataset_name={dataset}",
        f"batch_mb={BATCH_MB}",
        *extra,
    ]


def slurm_cmd(workdir: Path, data_dir: Path) -> list[str]:
    return snakemake_cmd(
        workdir,
        data_dir,
        SLURM_DATASET,
        "--workflow-profile",
        str(PROFILE),
        "--slurm-init-seconds-before-status-checks",
        "2",
        # The test node has 2 CPUs; the profile's 4 would stay PENDING.
        "--set-threads",
        f"process={THREADS}",
        "--slurm-keep-successful-logs",
    )


def elapsed(log: str) -> float:
    """Seconds of Snakemake's "Elapsed time: H:MM:SS.ffffff" line."""
    h, m, sec = re.search(r"Elapsed time: (\d+):(\d+):([\d.]+)", log).groups()
    return 3600 * int(h) + 60 * int(m) + float(sec)


def run(cmd: list[str], env: dict) -> str:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    return log


def slurm_env(cluster, fiftyone_env: dict) -> dict:
    """The test's FiftyOne isolation + the private cluster's SLURM_CONF."""
    env = {k: v for k, v in fiftyone_env.items() if not k.startswith("SLURM_")}
    env["SLURM_CONF"] = cluster.env["SLURM_CONF"]
    env["PATH"] = env["PATH"] + os.pathsep + SBIN_PATH
    return env


def slurm_jobs(cluster, since: set[int]) -> dict[int, str]:
    """Slurm job id -> the batch its Snakemake job step was told to run (from
    the batch script Slurm stored), for the jobs submitted after `since`."""
    jobs = {}
    for job_id in set(cluster.submitted_job_ids()) - since:
        script = cluster._run(
            ["scontrol", "write", "batch_script", str(job_id), "-"], check=True
        ).stdout
        (line,) = [x for x in script.splitlines() if " -m snakemake " in x]
        argv = shlex.split(line)
        targets = argv[argv.index("--target-jobs") + 1 :]
        targets = targets[: next(i for i, t in enumerate(targets) if t.startswith("--"))]
        # Only batch jobs go to Slurm: catalog, plots and ingest are local.
        (target,) = targets
        assert target.startswith("process:"), script
        jobs[job_id] = re.search(r"batch=(b[0-9]+)", target).group(1)
    return jobs


def manifest_batches(workdir: Path, stems=None) -> list[str]:
    """The batches of the run's manifests (of `stems` only, if given)."""
    import csv

    rows = []
    for manifest in (workdir / "results").glob("*/batches/b*.tsv"):  # one per batch
        with open(manifest, newline="") as f:
            rows += list(csv.DictReader(f, delimiter="\t"))
    assert rows, "no batch manifest"
    return sorted({r["batch"] for r in rows if stems is None or r["stem"] in stems})


def check_ran_in_slurm(cluster, jobs: dict[int, str], workdir: Path) -> dict[int, int]:
    """Every job completed, with the profile's CPUs; returns job -> Snakemake starts."""
    logs = workdir / ".snakemake" / "slurm_logs"
    starts = {}
    for job_id, batch in jobs.items():
        job = cluster.show_job(job_id)
        assert job["JobState"] == "COMPLETED", job
        assert job["NumCPUs"] == str(THREADS), job  # --set-threads
        (log,) = logs.rglob(f"{job_id}.log")
        text = log.read_text()
        assert f"batch={batch}" in text, text
        # Each Snakemake start prints its DAG building once.
        starts[job_id] = text.count("Building DAG of jobs")
    return starts


def processed_stamps(workdir: Path) -> dict[str, int]:
    """mtime of each per-image row: it changes exactly when the image was processed."""
    return {
        p.parent.name: p.stat().st_mtime_ns
        for p in (workdir / "results").glob("*/images/*/*/metadata.parquet")
    }


def _relocate(value, workdir: Path):
    """`value` without ids, and <work> for the workdir in paths."""
    if isinstance(value, dict):
        return {k: _relocate(v, workdir) for k, v in value.items() if k not in ("_id", "id")}
    if isinstance(value, list):
        return [_relocate(v, workdir) for v in value]
    if isinstance(value, str):
        for dataset in (SLURM_DATASET, LOCAL_DATASET):
            value = value.replace(f"{workdir / 'results' / dataset}/", "<results>/")
        return value.replace(str(workdir), "<work>")
    return value


def catalog_rows(workdir: Path) -> list[dict]:
    (catalog,) = (workdir / "results").glob("*/catalog.parquet")
    rows = pq.read_table(catalog).to_pylist()
    # row_sha hashes the row, whose paths hold the workdir: checked, then left out.
    for row in rows:
        assert row.pop("row_sha") == row_sha(row), row["stem"]
    return _relocate(rows, workdir)


def dataset_samples(name: str, workdir: Path) -> list[dict]:
    import fiftyone as fo

    # catalog_hash hashes the row, whose paths hold the workdir.
    skip = {"_dataset_id", "created_at", "last_modified_at", "catalog_hash"}
    samples = fo.load_dataset(name).sort_by("filepath")
    return [
        _relocate({k: v for k, v in s.to_dict().items() if k not in skip}, workdir) for s in samples
    ]


def test_workflow_through_slurm_equals_local_run(slurm_cluster, fiftyone_env, tmp_path):
    import pymongo

    started = time.monotonic()
    cluster = slurm_cluster
    env = slurm_env(cluster, fiftyone_env)
    data_dir = tmp_path / "data_raw"
    stems = generate(data_dir, count=FIRST, seed=3)
    local, remote = tmp_path / "local", tmp_path / "slurm"

    # The local reference run, side by side with the Slurm run (which mostly
    # waits for Slurm): it saves a run's worth of wall time.
    local_cmd = snakemake_cmd(local, data_dir, LOCAL_DATASET, "--cores", "2")
    local_run = subprocess.Popen(
        local_cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        before = set(cluster.submitted_job_ids())
        slurm_started = time.monotonic()
        run(slurm_cmd(remote, data_dir), env)
        slurm_seconds = time.monotonic() - slurm_started
        local_log = local_run.communicate(timeout=TIMEOUT)[0]
    except BaseException:
        os.killpg(local_run.pid, signal.SIGKILL)  # Snakemake and its jobs
        local_run.wait()
        raise
    assert local_run.returncode == 0, local_log
    local_seconds = elapsed(local_log)

    # The per-image work ran as one Slurm job per batch (one batch of 48), whose
    # Snakemake starts do not grow with its images: the plugin's job step and
    # the job under srun.
    jobs = slurm_jobs(cluster, before)
    assert sorted(jobs.values()) == manifest_batches(remote)
    assert FIRST > 48 or manifest_batches(remote) == ["b0000"]
    starts = check_ran_in_slurm(cluster, jobs, remote)
    assert set(starts.values()) == {2}, starts
    assert set(processed_stamps(remote)) == set(stems)

    # Same catalog and same dataset as the local run.
    assert len(catalog_rows(remote)) == FIRST
    assert catalog_rows(remote) == catalog_rows(local)
    assert dataset_samples(SLURM_DATASET, remote) == dataset_samples(LOCAL_DATASET, local)

    # The ingest wrote into the standalone mongod named by FIFTYONE_DATABASE_URI.
    client = pymongo.MongoClient(env["FIFTYONE_DATABASE_URI"], serverSelectionTimeoutMS=5000)
    try:
        assert "setName" not in client.admin.command("hello")  # not a replica set
        db = client[env["FIFTYONE_DATABASE_NAME"]]
        doc = db.datasets.find_one({"name": SLURM_DATASET})
        assert doc is not None
        assert db[doc["sample_collection_name"]].count_documents({}) == FIRST
    finally:
        client.close()

    # New images: they join the open batch, whose one Slurm job processes
    # only them.
    rerun_started = time.monotonic()
    first = processed_stamps(remote)
    added = generate(data_dir, count=ADDED, seed=3, first_index=FIRST)
    before = set(cluster.submitted_job_ids())
    run(slurm_cmd(remote, data_dir), env)
    rerun = time.monotonic() - rerun_started
    jobs = slurm_jobs(cluster, before)
    assert sorted(jobs.values()) == manifest_batches(remote, set(added))
    assert set(check_ran_in_slurm(cluster, jobs, remote).values()) == {2}
    second = processed_stamps(remote)
    assert {s for s in second if second[s] != first.get(s)} == set(added)
    assert sorted(r["stem"] for r in catalog_rows(remote)) == sorted(stems + added)

    import fiftyone as fo

    dataset = fo.load_dataset(SLURM_DATASET)
    assert sorted(dataset.distinct("stem")) == sorted(stems + added)
    print(
        f"\nSlurm test, {FIRST} images in {len(manifest_batches(remote))} batches: Slurm "
        f"run {slurm_seconds:.0f} s (local run of the same images side by side: "
        f"{local_seconds:.0f} s); +{ADDED} images through Slurm {rerun:.0f} s; "
        f"all {time.monotonic() - started:.0f} s"
    )
