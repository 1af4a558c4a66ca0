"""A model's prediction jobs on Slurm ask for a GPU as profiles/slurm/config.yaml
documents it (its commented `set-resources: predict:` block, uncommented), on
the private cluster whose node offers one GPU as a counted resource: the
prediction jobs are granted it, the other jobs ask for none. The node has no
CUDA device, so onnxruntime runs on CPU and the run says so."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_workflow_slurm import THREADS, TIMEOUT, slurm_env, snakemake_cmd

from caffe_dev.onnx_nets import zones_net
from caffe_dev.sample_data import generate

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.mongod, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
DATASET = "caffe-slurm-gpu-test"


def gpu_profile(folder: Path, partition: str) -> Path:
    """The shipped Slurm profile with its GPU block uncommented (the site's
    GPU partition replaced by the test cluster's only one)."""
    shutil.copytree(REPO / "profiles" / "slurm", folder)
    text = (folder / "config.yaml").read_text()
    block = '# set-resources:\n#   predict:\n#     gres: "gpu:1"\n#     slurm_partition: "gpu"\n'
    assert block in text, "the profile's GPU block changed: update this test and the docs"
    wanted = f'set-resources:\n  predict:\n    gres: "gpu:1"\n    slurm_partition: "{partition}"\n'
    (folder / "config.yaml").write_text(text.replace(block, wanted))
    return folder


def test_prediction_jobs_get_a_gpu(slurm_cluster, fiftyone_env, tmp_path):
    cluster = slurm_cluster
    env = slurm_env(cluster, fiftyone_env)
    data_dir, workdir = tmp_path / "data_raw", tmp_path / "work"
    generate(data_dir, count=3, seed=5)
    config = {"models": {"net": {"onnx": zones_net(tmp_path / "net.onnx"), "kind": "zones"}}}
    (tmp_path / "models.json").write_text(json.dumps(config))
    before = set(cluster.submitted_job_ids())
    cmd = snakemake_cmd(
        workdir,
        data_dir,
        DATASET,
        "--workflow-profile",
        str(gpu_profile(tmp_path / "profile", cluster.partition)),
        "--configfile",
        str(tmp_path / "models.json"),
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--set-threads",
        f"process={THREADS}",
        f"predict={THREADS}",
        f"evaluate={THREADS}",
    )
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log

    rules = {}
    for job_id in set(cluster.submitted_job_ids()) - before:
        script = cluster._run(["scontrol", "write", "batch_script", str(job_id), "-"]).stdout
        rule = re.search(r"--target-jobs '?(\w+):", script).group(1)
        rules[job_id] = (rule, cluster.show_job(job_id))
    predict = [job for rule, job in rules.values() if rule == "predict"]
    others = [job for rule, job in rules.values() if rule != "predict"]
    assert len(predict) == 1 and others, rules
    (job,) = predict
    assert job["JobState"] == "COMPLETED", job
    assert "gres:gpu:1" in job.get("TresPerNode", ""), job
    assert all("gpu" not in j.get("TresPerNode", "") for j in others), others
    # No CUDA device on the node: the provider onnxruntime used is named.
    assert "model net: 3 images predicted in this run on CPUExecutionProvider" in log
