"""Issue 16: the README's commands in their order, as a new user types them.

`make demo` (generated sample -> dataset `caffe-sample`), then `make run` for
the real benchmark, which must download CaFFe (here from a loopback mirror of
a small CaFFe-format zip) and build the dataset `caffe` from exactly the
mirror's images, leaving the demo's dataset and results alone.

The commands run in a copy of the repository (the files git knows, as they
are in the working tree) that shares this checkout's .venv; `make -o STAMP`
keeps make from re-running the set-up there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import runner
from caffe_dev.sample_data import generate
from zip_server import ZipServer, zip_tree

pytestmark = [pytest.mark.slow, pytest.mark.mongod]

STAMPS = (".venv/.setup-stamp", ".venv/.slurm-stamp")


def copy_of_repo(dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"],
                           cwd=runner.REPO, capture_output=True, check=True).stdout  # fmt: skip
    for name in filter(None, files.decode().split("\0")):
        src = runner.REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes(src.read_bytes())
    (dest / ".venv").symlink_to(Path(sys.executable).parents[1])
    return dest


def make(repo: Path, target: str, env: dict, *variables: str) -> str:
    old = [arg for stamp in STAMPS for arg in ("-o", stamp)]
    done = subprocess.run(["make", *old, target, "CORES=2", *variables], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=runner.RUN_TIMEOUT)  # fmt: skip
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert "setup-env" not in log, "make re-ran the set-up"
    return log


def test_make_demo_then_make_run_builds_the_downloaded_data(tmp_path, fiftyone_env):
    import fiftyone as fo

    repo = copy_of_repo(tmp_path / "repo")
    env = {k: v for k, v in fiftyone_env.items() if k != "VIRTUAL_ENV"}

    make(repo, "demo", env)
    demo = fo.load_dataset("caffe-sample")
    demo_stems = sorted(demo.distinct("stem"))
    assert len(demo_stems) == 24

    mirror = tmp_path / "mirror" / "data_raw"
    stems = generate(mirror, 5, seed=61, first_index=100)
    assert not set(stems) & set(demo_stems)
    server = ZipServer(zip_tree(mirror))
    try:
        log = make(repo, "run", env, f"SNAKEMAKE_ARGS=--config download_url={server.url}")
    finally:
        server.close()
    assert "fetch" in log and len(server.ranges) >= 1, log

    data_dir = repo / "resources" / "data_raw"
    assert sorted(p.stem for p in data_dir.glob("sar_images/*/*.png")) == sorted(stems)
    real = fo.load_dataset("caffe")
    assert sorted(real.distinct("stem")) == sorted(stems)
    assert all(fp.startswith(str(data_dir) + os.sep) for fp in real.values("filepath"))
    assert real.info["data_dir"] == str(data_dir)
    assert sorted(r["stem"] for r in runner.catalog(repo, "caffe")) == sorted(stems)
    # The demo's dataset and results are as they were.
    demo.reload()
    assert sorted(demo.distinct("stem")) == demo_stems
    assert sorted(r["stem"] for r in runner.catalog(repo, "caffe-sample")) == demo_stems
