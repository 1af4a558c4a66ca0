"""Helpers for tests that run the real workflow: Snakemake runs (to completion
or in the background, to be killed), tree checksums, and comparable snapshots
of the catalog and of a FiftyOne dataset."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from caffe_workflow.stages.process import row_sha

REPO = Path(__file__).resolve().parents[2]
# Generous: the test machine is shared and `import fiftyone` alone can take 20 s.
RUN_TIMEOUT = 600


def results(workdir: Path, dataset: str | None = None) -> Path:
    """The results folder of `dataset` in `workdir` (None: the only one there)."""
    if dataset is not None:
        return Path(workdir) / "results" / dataset
    (folder,) = [p for p in (Path(workdir) / "results").iterdir() if p.is_dir()]
    return folder


def snakemake_cmd(workdir, data_dir, dataset, *extra, config=()) -> list[str]:
    """`extra` are more options; `config` more key=value config entries."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        "--config",
        f"data_dir={data_dir}",
        f"dataset_name={dataset}",
        *config,
        *extra,
    ]


def run(workdir, data_dir, dataset, env, *extra, config=(), ok: bool | None = True):
    """Run Snakemake to its end; `ok` True/False asserts success/failure.
    Returns the CompletedProcess with `.log` = stdout + stderr."""
    done = subprocess.run(
        snakemake_cmd(workdir, data_dir, dataset, *extra, config=config),
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    done.log = done.stdout + done.stderr
    if ok is True:
        assert done.returncode == 0, done.log
    elif ok is False:
        assert done.returncode != 0, done.log
    return done


def start(workdir, data_dir, dataset, env, log_path: Path, *extra, config=()):
    """Start Snakemake in its own process group, so that killing the group
    kills it and every job it started, as a crash or `kill -9 -PGID` would."""
    log = open(log_path, "w")
    proc = subprocess.Popen(
        snakemake_cmd(workdir, data_dir, dataset, *extra, config=config),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    return proc


def kill_group(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


def wait_for(condition, proc: subprocess.Popen, timeout: float = RUN_TIMEOUT, poll=0.01):
    """Poll `condition()` until it is true; fail if `proc` ends first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"Snakemake ended (code {proc.returncode}) before the moment came")
        if time.monotonic() > deadline:
            kill_group(proc)
            raise AssertionError("timed out waiting for the moment to kill")
        time.sleep(poll)


def marked_incomplete(workdir: Path, output: str) -> bool:
    """True while Snakemake has a job running for `output` (its incomplete
    marker exists: written when the job starts, removed when it is done)."""
    name = base64.b64encode(output.encode()).decode()
    return (workdir / ".snakemake" / "incomplete" / name).exists()


def done_images(workdir: Path) -> list[Path]:
    return sorted((Path(workdir) / "results").glob("*/images/*/*/metadata.parquet"))


def tree_checksums(root: Path) -> dict[str, str]:
    """relative path -> sha256 (files), 'dir' (folders), link target (symlinks)."""
    sums = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                sums[rel] = "-> " + os.readlink(path)
            elif path.is_dir():
                sums[rel] = "dir"
            else:
                sums[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return sums


def _relocate(value, workdir: str, results_dir: str | None = None):
    """Replace the results folder and the workdir in every string, so runs in
    different workdirs (and for different dataset names) compare equal."""
    if isinstance(value, str):
        if results_dir:
            value = value.replace(results_dir, "<results>")
        return value.replace(workdir, "<work>")
    if isinstance(value, list):
        return [_relocate(v, workdir, results_dir) for v in value]
    if isinstance(value, dict):
        return {k: _relocate(v, workdir, results_dir) for k, v in value.items()}
    return value


def catalog(workdir: Path, dataset: str | None = None) -> list[dict]:
    folder = results(workdir, dataset)
    rows = pq.read_table(folder / "catalog.parquet").to_pylist()
    # row_sha hashes the row, whose paths hold the workdir: checked, then left out.
    for row in rows:
        assert row.pop("row_sha") == row_sha(row), row["stem"]
    return _relocate(rows, str(workdir), str(folder))


def _strip_ids(value):
    """Drop database ids and timestamps, which differ from run to run."""
    volatile = {"_id", "id", "created_at", "last_modified_at", "_dataset_id"}
    if isinstance(value, dict):
        return {k: _strip_ids(v) for k, v in value.items() if k not in volatile}
    if isinstance(value, list):
        return [_strip_ids(v) for v in value]
    return value


def dataset_snapshot(name: str, workdir: Path, ignore_fields=(), ignore_tags=()) -> dict:
    """What a clean run and a recovered run must agree on: every sample's
    fields and tags (by filepath, without ids and timestamps), and the
    dataset's mask targets, info, schema and saved views. `ignore_*` leave out
    what a user added."""
    import fiftyone as fo

    dataset = fo.load_dataset(name)
    dataset.reload()
    samples = {}
    for sample in dataset.iter_samples():
        doc = _strip_ids(sample.to_dict())
        # A hash of the catalog row, whose paths name the workdir; the rows
        # themselves are compared with catalog().
        doc.pop("catalog_hash", None)
        for field in ignore_fields:
            doc.pop(field, None)
        doc["tags"] = sorted(t for t in doc.get("tags", []) if t not in ignore_tags)
        samples[doc["filepath"]] = doc
    return _relocate(
        {
            "count": len(dataset),
            "samples": samples,
            "mask_targets": dataset.mask_targets,
            "info": dataset.info,
            "schema": sorted(set(dataset.get_field_schema()) - set(ignore_fields)),
            "persistent": dataset.persistent,
        },
        str(workdir),
        str(results(workdir, name)),
    )


def saved_views(name: str) -> list[str]:
    import fiftyone as fo

    dataset = fo.load_dataset(name)
    dataset.reload()
    return sorted(dataset.list_saved_views())


def package_env() -> dict:
    """os.environ, which conftest already points at the private FiftyOne
    database, for Snakemake subprocesses."""
    return dict(os.environ)


def job_counts(log: str) -> dict[str, int]:
    """The first 'Job stats' table of a Snakemake log: rule -> jobs."""
    counts, inside = {}, False
    for line in log.splitlines():
        if line.startswith("Job stats:"):
            inside = True
        elif inside:
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                if parts[0] == "total":
                    break
                counts[parts[0]] = int(parts[1])
    return counts


def differences(got, want, path="") -> list[str]:
    """Where two nested values differ, as readable lines (for assert messages)."""
    if isinstance(got, dict) and isinstance(want, dict):
        out = []
        for key in sorted(set(got) | set(want), key=str):
            if key not in got or key not in want:
                out.append(f"{path}/{key}: only in {'got' if key in got else 'want'}")
            else:
                out += differences(got[key], want[key], f"{path}/{key}")
        return out
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        return [
            d for i, (g, w) in enumerate(zip(got, want)) for d in differences(g, w, f"{path}[{i}]")
        ]
    return [] if got == want else [f"{path}: {got!r:.200} != {want!r:.200}"]
