"""The workflow used as a Snakemake module, the way snakedeploy deploys it:
a Snakefile of its own in an empty folder with `module` and `use rule *`.
Snakemake runs no onstart/onsuccess hook of a module, so the start check and
the end summary are rules; a failed job's one-line reason reaches the console.

Real Snakemake runs on generated data into the session's private mongod.
"""

import subprocess
import sys

import pytest

from caffe_dev.mongod import free_port
from caffe_dev.sample_data import generate
from runner import REPO, RUN_TIMEOUT

pytestmark = [pytest.mark.slow, pytest.mark.mongod]

NAME = "caffe-module-test"


def deploy(folder):
    folder.mkdir(parents=True)
    (folder / "Snakefile").write_text(
        "module caffe:\n"
        f'    snakefile:\n        "{REPO / "Snakefile"}"\n'
        "    config:\n        config\n\n\n"
        "use rule * from caffe\n"
    )
    return folder


def snakemake(folder, data_dir, env, ok=True):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--cores",
            "2",
            "--config",
            f"data_dir={data_dir}",
            f"dataset_name={NAME}",
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    log = done.stdout + done.stderr
    assert (done.returncode == 0) == ok, log
    return log


def errors(log):
    return [line for line in log.splitlines() if line.startswith("Error: ")]


def test_start_check_summary_and_errors_as_a_module(tmp_path, fiftyone_env):
    data_dir = tmp_path / "data_raw"
    generate(data_dir, 3, seed=71)
    folder = deploy(tmp_path / "deployed")

    log = snakemake(folder, data_dir, fiftyone_env)
    assert f"Checking that FiftyOne dataset '{NAME}' may be built from {data_dir}" in log
    assert f"FiftyOne dataset '{NAME}': 3 samples (3 added, 0 updated" in log
    assert (folder / "results" / NAME / "catalog.parquet").exists()
    assert "Nothing to be done" in snakemake(folder, data_dir, fiftyone_env)

    # The start check refuses another data_dir for the dataset, before any
    # per-image work, in one line.
    other = tmp_path / "other" / "data_raw"
    generate(other, 2, seed=72, first_index=10)
    second = deploy(tmp_path / "second")
    log = snakemake(second, other, fiftyone_env, ok=False)
    (line,) = errors(log)
    assert f"dataset '{NAME}' was built from {data_dir}, not from {other}" in line
    assert not list((second / "results" / NAME).glob("images/*/*"))

    # A refused ingest (the database does not answer) says why on the console.
    generate(data_dir, 1, seed=71, first_index=3)
    closed = dict(fiftyone_env, FIFTYONE_DATABASE_URI=f"mongodb://127.0.0.1:{free_port()}")
    log = snakemake(folder, data_dir, closed, ok=False)
    # (Snakemake's own error block below it still says "message: None": its
    # job-error formatter prints the error's message field, which is unset.)
    (line,) = errors(log)
    assert line.startswith("Error: cannot reach the FiftyOne database at mongodb://127.0.0.1:")
    assert log.index(line) < log.index("Error in rule ingest")
