"""`make app` (caffe_workflow.app): the App serves a dataset until it is
stopped, on the port asked for, with one line saying where; a missing
dataset or a port in use is one line that says what to do.

The App server is FiftyOne's own, on the test's private database; the page
is fetched over HTTP, then the launcher is stopped as Ctrl-C stops it.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from caffe_dev.mongod import free_port

pytestmark = [pytest.mark.slow, pytest.mark.mongod, pytest.mark.timeout(600)]

# Generous: `import fiftyone` alone can take 20 s on a loaded 2-core machine.
START_TIMEOUT = 180


def launch(name: str, port: int, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "caffe_workflow.app",
            name,
            "--port",
            str(port),
            "--address",
            "127.0.0.1",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def get(url: str) -> tuple[int, str] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode(errors="replace")
    except OSError:
        return None


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def dataset(fiftyone_env):
    import fiftyone as fo

    name = "caffe-app-launcher"
    if fo.dataset_exists(name):
        fo.delete_dataset(name)
    ds = fo.Dataset(name, persistent=True)
    ds.add_sample(fo.Sample(filepath="/nonexistent/a.png", stem="a"))
    yield name
    fo.delete_dataset(name)


def test_app_serves_the_dataset_until_interrupted(dataset, fiftyone_env):
    port = free_port()
    app = launch(dataset, port, fiftyone_env)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while (page := get(f"http://127.0.0.1:{port}/datasets/{dataset}")) is None:
            assert app.poll() is None, app.communicate()
            assert time.monotonic() < deadline, "the App did not come up"
            time.sleep(0.5)
        status, html = page
        assert status == 200 and "<html" in html.lower(), html[:500]
        # The App's API answers for this dataset on this database.
        assert get(f"http://127.0.0.1:{port}/fiftyone") is not None
        time.sleep(3)  # still serving with no browser connected
        assert app.poll() is None and listening(port)
    finally:
        app.send_signal(signal.SIGINT)
        out, err = app.communicate(timeout=60)
    assert app.returncode == 0, err
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert lines[0] == (
        f"The FiftyOne App serves dataset '{dataset}' at "
        f"http://localhost:{port}/datasets/{dataset} (Ctrl-C stops it)"
    ), lines
    # One more line at most: the plugin hint (the test's plugins folder lacks it).
    assert len(lines) <= 2 and all("plugin" in line for line in lines[1:]), lines
    deadline = time.monotonic() + 30
    while listening(port):
        assert time.monotonic() < deadline, "the App server outlived the launcher"
        time.sleep(0.5)


def test_missing_dataset_is_one_line(fiftyone_env):
    app = launch("caffe-no-such-dataset", free_port(), fiftyone_env)
    out, err = app.communicate(timeout=START_TIMEOUT)
    assert app.returncode == 2
    lines = (out + err).strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: there is no FiftyOne dataset 'caffe-no-such-dataset'")
    assert "make app DATASET=NAME" in lines[0]


def test_port_in_use_is_one_line(fiftyone_env):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        app = launch("whatever", port, fiftyone_env)
        out, err = app.communicate(timeout=START_TIMEOUT)
    assert app.returncode == 2
    lines = (out + err).strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"Error: port {port} on 127.0.0.1 is not free")
    assert f"PORT={port + 1}" in lines[0]
