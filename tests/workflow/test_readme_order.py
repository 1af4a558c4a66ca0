"""The README's commands, as written and in the README's order, as a new user
types them in a second clone.

A first copy of the repository runs `make demo`, so the database already
holds another folder's `caffe-sample` (with a tag a user put on it). Then, in
a second copy, every command of the README's ```bash and ```python blocks
runs in order: `make demo`, the App (served, fetched over HTTP, stopped as
Ctrl-C stops it), the report, `make run` (CaFFe downloaded from a loopback
mirror of a small CaFFe-format zip, not from PANGAEA), the "Your data" lines
on generated data at the README's own `../mydata/data_raw`, the Python
example. A command the test does not know fails it: add it here, or to SKIP
with the reason it cannot run in a test.

Both copies hold the files git knows, as they are in the working tree, and
share this checkout's .venv; `make -o STAMP` keeps make from re-running the
set-up. Make commands get CORES=2 (the test machine's) and the App a free
port; nothing else is added.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

import runner
from caffe_dev.mongod import free_port
from caffe_dev.sample_data import generate
from zip_server import ZipServer, zip_tree

pytestmark = [pytest.mark.slow, pytest.mark.mongod, pytest.mark.timeout(2400)]

STAMPS = (".venv/.setup-stamp", ".venv/.slurm-stamp")
README = runner.REPO / "README.md"
# Commands of the README this test cannot run, and why.
SKIP = {
    "make test": "the test suite itself",
}
# A limit, not a speed check: the App's server takes seconds on an idle
# machine and far longer on one busy with other test runs.
APP_TIMEOUT = 300


def copy_of_repo(dest: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=runner.REPO,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, files.decode().split("\0")):
        src = runner.REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes(src.read_bytes())
    (dest / ".venv").symlink_to(Path(sys.executable).parents[1])
    return dest


def readme_commands(text: str) -> list[tuple[str, str]]:
    """(language, command) in README order: each line of a ```bash block
    (comments dropped), each ```python block whole."""
    found = []
    for lang, body in re.findall(r"^```(bash|python)\n(.*?)^```", text, re.S | re.M):
        if lang == "python":
            found.append((lang, body))
            continue
        for line in body.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                found.append((lang, shlex.join(words)))
    return found


def make_argv(words: list[str], *extra: str) -> list[str]:
    old = [arg for stamp in STAMPS for arg in ("-o", stamp)]
    return ["make", *old, *words[1:], "CORES=2", *extra]


def run(argv: list[str], repo: Path, env: dict) -> str:
    done = subprocess.run(
        argv, cwd=repo, env=env, capture_output=True, text=True, timeout=runner.RUN_TIMEOUT
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, f"{shlex.join(argv)} failed:\n{log[-6000:]}"
    assert "setup-env" not in log, "make re-ran the set-up"
    return log


def serve_and_stop(argv: list[str], repo: Path, env: dict, dataset: str, port: int) -> str:
    """`make app`: the page is served and the command says so (FiftyOne's
    server can answer before launch_app has seen it listen), then the whole
    process group gets SIGINT, as Ctrl-C in a terminal sends it, and must end."""
    app = subprocess.Popen(
        argv,
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(app.stdout), daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{port}/datasets/{dataset}"
    said = f"serves dataset '{dataset}' at http://localhost:{port}/datasets/{dataset}"
    served = False
    try:
        deadline = time.monotonic() + APP_TIMEOUT
        while not (served and any(said in line for line in lines)):
            assert app.poll() is None, f"{shlex.join(argv)} ended:\n{''.join(lines)}"
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    served = r.status == 200
            except OSError:
                pass
            assert time.monotonic() < deadline, f"{url} not served and said:\n{''.join(lines)}"
            time.sleep(0.5)
    finally:
        os.killpg(app.pid, signal.SIGINT)
        app.wait(timeout=60)
        reader.join(timeout=60)
    return "".join(lines)


def test_readme_commands_in_order_in_a_second_clone(tmp_path, fiftyone_env):
    import fiftyone as fo

    env = {k: v for k, v in fiftyone_env.items() if k != "VIRTUAL_ENV"}
    for name in ("caffe-sample", "caffe-sample-2", "caffe", "mycaffe"):
        if fo.dataset_exists(name):
            fo.delete_dataset(name)

    # Another clone's demo, with a user's tag on one of its samples.
    other = copy_of_repo(tmp_path / "other")
    run(make_argv(["make", "demo"], "DEMO_IMAGES=8"), other, env)
    theirs = fo.load_dataset("caffe-sample")
    tagged = theirs.first()
    tagged.tags.append("checked-by-hand")
    tagged.save()

    work = tmp_path / "work"
    repo = copy_of_repo(work / "repo")
    my_stems = generate(work / "mydata" / "data_raw", 5, seed=71, first_index=200)
    mirror = tmp_path / "mirror" / "data_raw"
    caffe_stems = generate(mirror, 5, seed=61, first_index=100)
    server = ZipServer(zip_tree(mirror))

    commands = readme_commands(README.read_text())
    ran = []
    try:
        for lang, command in commands:
            if command in SKIP:
                continue
            if lang == "python":
                run([str(repo / ".venv/bin/python"), "-c", command], repo, env)
                ran.append("python")
                continue
            words = shlex.split(command)
            if words[:2] == ["make", "app"]:
                port = free_port()
                dataset = dict(w.split("=", 1) for w in words[2:]).get("DATASET", "caffe-sample-2")
                serve_and_stop(make_argv(words, f"PORT={port}"), repo, env, dataset, port)
            elif words == ["make", "run"]:
                run(make_argv(words, f"CONFIG=download_url={server.url}"), repo, env)
            elif words[0] == "make" and words[1] in ("demo", "report", "run"):
                run(make_argv(words), repo, env)
            elif words[0] == ".venv/bin/snakemake":
                run(words, repo, env)
            else:
                pytest.fail(f"README command {command!r} is neither run here nor in SKIP")
            ran.append(command)
    finally:
        server.close()

    # Every kind of command was found and run.
    for expected in (
        "make demo",
        "make app",
        "make report",
        "make run",
        "make app DATASET=caffe",
        "make report DATASET=caffe",
        "python",
    ):
        assert expected in ran, (expected, ran)
    assert any(c.startswith(".venv/bin/snakemake") and "--directory" in c for c in ran), ran

    # The second clone's demo got its own dataset; the first one's is intact.
    mine = fo.load_dataset("caffe-sample-2")
    assert len(mine) == 24 and mine.info["data_dir"] == str(repo / "sample_data" / "data_raw")
    assert (repo / "sample_data" / "dataset_name").read_text().strip() == "caffe-sample-2"
    theirs.reload()
    assert len(theirs) == 8 and theirs.info["data_dir"] == str(other / "sample_data" / "data_raw")
    assert theirs.match_tags("checked-by-hand").values("stem") == [tagged.stem]
    # The reports.
    assert (repo / "results" / "caffe-sample-2" / "report.html").stat().st_size > 0
    assert (repo / "results" / "caffe" / "report.html").stat().st_size > 0
    # make run: the mirror's images, downloaded and unpacked into resources/.
    assert len(server.ranges) >= 1
    assert sorted(fo.load_dataset("caffe").distinct("stem")) == sorted(caffe_stems)
    # Your data, built from the README's ../mydata/data_raw, in two folders.
    mycaffe = fo.load_dataset("mycaffe")
    assert sorted(mycaffe.distinct("stem")) == sorted(my_stems)
    assert mycaffe.info["data_dir"] == str(work / "mydata" / "data_raw")
    assert sorted(r["stem"] for r in runner.catalog(work / "mycaffe-run", "mycaffe")) == sorted(
        my_stems
    )
