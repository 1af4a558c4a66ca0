"""Fixtures for the browser tests: datasets built by the real workflow (one
plain, one demo-like with a scored model), the FiftyOne App server on
loopback, and headless Debian Chromium via Playwright.

Chromium is Debian's package (/usr/bin/chromium); Playwright only drives it
(`playwright install` is never run). Where Chromium is missing and we are root
(CI: a fresh Debian 12 machine) it is installed with apt-get; elsewhere the
test is skipped with the command to run, except under CI=true, where it fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from caffe_dev.mongod import free_port
from caffe_dev.sample_data import DEMO_MODEL, generate, write_shifted_predictions

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots and timings land here (gitignored), kept after the run for CI.
ARTIFACTS = REPO / "test-artifacts" / "browser"
DATASET = "caffe-browser-test"
IMAGES = 14
# As `make demo`: 24 medium images (small fronts are all shorter than the
# benchmark's 750 m, so a model would have nothing to score) and its model.
SCORED_DATASET = "caffe-browser-scored"
SCORED_IMAGES = 24
PLUGINS_DIR = REPO / "workflow" / "plugins"
# Generous: `import fiftyone` alone can take 20 s on a loaded 2-core machine.
SERVER_TIMEOUT = 180


def _ensure_chromium() -> str:
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for cmd in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "chromium"],
        ):
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}"
        assert os.access(CHROMIUM, os.X_OK), f"apt-get installed chromium but {CHROMIUM} is missing"
        return CHROMIUM
    message = f"{CHROMIUM} missing: run `sudo apt-get install chromium`"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium() -> str:
    return _ensure_chromium()


def _build(
    root: Path, name: str, count: int, seed: int, size: str = "small", model: str | None = None
) -> dict:
    """Generated CaFFe data (and `model`'s predictions: the synthetic demo
    model's) -> real Snakemake run -> FiftyOne dataset `name`."""
    data_dir, workdir = root / "data_raw", root / "work"
    stems = generate(data_dir, count=count, seed=seed, size=size)
    env = dict(os.environ)  # holds the private-DB variables (tests/conftest.py)
    cmd = [
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
        f"dataset_name={name}",
    ]
    if model:
        write_shifted_predictions(data_dir, root / "predictions" / model)
        config = root / "models.yaml"
        config.write_text(f"predictions:\n  {model}: {root / 'predictions' / model}\n")
        cmd += ["--configfile", str(config)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return {"name": name, "stems": stems, "data_dir": data_dir, "workdir": workdir, "env": env}


# The flag FiftyOne's own Playwright tests set: no pop-ups or analytics.
INIT_SCRIPT = "window.IS_PLAYWRIGHT = true;"
TIMEOUT_MS = 120_000


def _open_page(browser, viewport: dict):
    """(context, page, errors): a page set up as the tests drive the App, and
    the list its JavaScript errors are collected in."""
    context = browser.new_context(viewport=viewport)
    context.add_init_script(INIT_SCRIPT)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return context, page, errors


@pytest.fixture(scope="session")
def open_page():
    """`_open_page(browser, viewport)`."""
    return _open_page


@pytest.fixture(scope="session")
def build_dataset():
    """`_build`, for test modules that serve a dataset of their own."""
    return _build


@pytest.fixture(scope="module")
def built_dataset(mongod, tmp_path_factory) -> dict:
    """Generated CaFFe data -> real Snakemake run -> FiftyOne dataset DATASET."""
    return _build(tmp_path_factory.mktemp("browser"), DATASET, IMAGES, seed=11)


@pytest.fixture(scope="module")
def scored_dataset(mongod, tmp_path_factory) -> dict:
    """Like `make demo`: the dataset SCORED_DATASET with the synthetic zone
    model DEMO_MODEL scored on its test split (an evaluation run)."""
    root = tmp_path_factory.mktemp("browser-scored")
    built = _build(root, SCORED_DATASET, SCORED_IMAGES, seed=1, size="medium", model=DEMO_MODEL)
    return built | {"model": DEMO_MODEL}


@contextlib.contextmanager
def _serve_app(env: dict, log_dir: Path):
    """The App server on 127.0.0.1 with `env`; yields its URL."""
    port = free_port()
    log_path = log_dir / "server.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fiftyone.server.main",
                "--port",
                str(port),
                "--address",
                "127.0.0.1",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_TIMEOUT
        while True:
            assert server.poll() is None, f"App server exited:\n{log_path.read_text()}"
            try:
                with urllib.request.urlopen(url + "/", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"App server not up:\n{log_path.read_text()}"
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def app_url(built_dataset, tmp_path_factory) -> str:
    """The App server on 127.0.0.1, on the test's private database."""
    with _serve_app(built_dataset["env"], tmp_path_factory.mktemp("app")) as url:
        yield url


@pytest.fixture(scope="module")
def scored_app_url(scored_dataset, tmp_path_factory) -> str:
    """The App server as the README launches it for scored models: with the
    project's plugins folder, so the plugin @caffe/metrics is loaded."""
    env = scored_dataset["env"] | {"FIFTYONE_PLUGINS_DIR": str(PLUGINS_DIR)}
    with _serve_app(env, tmp_path_factory.mktemp("app-scored")) as url:
        yield url


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
