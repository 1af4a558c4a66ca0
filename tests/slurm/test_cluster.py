"""The private Slurm cluster itself: sbatch and srun really run jobs on it."""

import subprocess
import time

import pytest

from slurm_cluster import ETC_CONF

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def run(cluster, *argv, **kw):
    done = subprocess.run(argv, env=cluster.env, capture_output=True, text=True, timeout=120, **kw)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def wait_finished(cluster, job_id: int, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = {int(j["id"]): j["state"] for j in cluster.jobs()}
        if states.get(job_id) in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"):
            return states[job_id]
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} not finished after {timeout} s: {states}")


def test_sbatch_wrap_runs_a_batch_job(slurm_cluster, tmp_path):
    out = run(
        slurm_cluster,
        "sbatch",
        "--parsable",
        "--chdir",
        str(tmp_path),
        "--output",
        "job.log",
        "--wrap",
        'echo "job=$SLURM_JOB_ID node=$SLURMD_NODENAME" > result.txt',
    )
    job_id = int(out.strip())
    assert wait_finished(slurm_cluster, job_id) == "COMPLETED"
    result = (tmp_path / "result.txt").read_text().strip()
    assert result == f"job={job_id} node={slurm_cluster.host}"
    assert job_id in slurm_cluster.submitted_job_ids()
    # Finished jobs stay in the controller's history (no slurmdbd/sacct here).
    assert slurm_cluster.show_job(job_id)["JobState"] == "COMPLETED"


def test_srun_runs_a_command_as_a_job(slurm_cluster):
    before = set(slurm_cluster.submitted_job_ids())
    out = run(
        slurm_cluster,
        "srun",
        "--ntasks=1",
        "--cpus-per-task=1",
        "--mem=100",
        "sh",
        "-c",
        'echo "$SLURM_JOB_ID $SLURM_CPUS_PER_TASK"',
    )
    job_id, cpus = map(int, out.split())
    assert cpus == 1
    assert set(slurm_cluster.submitted_job_ids()) - before == {job_id}
    assert wait_finished(slurm_cluster, job_id) == "COMPLETED"


def test_nested_srun_finds_the_cluster_without_slurm_conf(slurm_cluster, tmp_path):
    # Like the Snakemake jobstep plugin: srun inside a batch job, SLURM_CONF unset,
    # so Slurm reads /etc/slurm/slurm.conf (which the cluster must have written).
    assert ETC_CONF.read_text() == slurm_cluster.conf.read_text()
    out = run(
        slurm_cluster,
        "sbatch",
        "--parsable",
        "--chdir",
        str(tmp_path),
        "--output",
        "job.log",
        "--cpus-per-task=2",
        "--wrap",
        "env -u SLURM_CONF srun -n1 --cpus-per-task=2 echo nested-$SLURM_JOB_ID",
    )
    job_id = int(out.strip())
    state = wait_finished(slurm_cluster, job_id)
    log = (tmp_path / "job.log").read_text()
    assert state == "COMPLETED", log
    assert f"nested-{job_id}" in log


def test_jobs_exceeding_the_node_stay_pending(slurm_cluster):
    # The node has the real CPU count: a request for more can never start.
    out = run(
        slurm_cluster,
        "sbatch",
        "--parsable",
        "--wrap",
        "true",
        f"--cpus-per-task={slurm_cluster.cpus + 1}",
    )
    job_id = int(out.strip())
    time.sleep(2)
    job = slurm_cluster.show_job(job_id)
    run(slurm_cluster, "scancel", str(job_id))
    assert job["JobState"] == "PENDING"


def test_a_second_cluster_starts_and_stops_cleanly(slurm_cluster, start_slurm_cluster):
    # Nested use: its own ports, key and state; stopping it leaves nothing of it
    # running (checked by the fixture) and /etc/slurm/slurm.conf is the outer
    # cluster's again.
    inner = start_slurm_cluster()
    assert {inner.ctld_port, inner.slurmd_port}.isdisjoint(
        {slurm_cluster.ctld_port, slurm_cluster.slurmd_port}
    )
    assert ETC_CONF.read_text() == inner.conf.read_text()
    assert run(inner, "srun", "-n1", "hostname").strip() == inner.host
    assert inner.submitted_job_ids() == [1]
    start_slurm_cluster.stop(inner)
    assert ETC_CONF.read_text() == slurm_cluster.conf.read_text()
    assert run(slurm_cluster, "srun", "-n1", "true") == ""
