"""Shared fixtures: a private mongod and an isolated FiftyOne for every test.

FiftyOne reads its config when it is imported, and otherwise attaches to any
FiftyOne DB service the user already runs. So before any test module is
collected (and could import fiftyone) pytest_configure reserves a loopback port
and writes the isolation variables into os.environ. The mongod itself is only
started when a test asks for the `mongod` fixture, so tests that never touch
the database do not pay for it. Tests that use fiftyone in-process must
request `mongod` (or `fiftyone_env`) so that the server is up.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from caffe_dev.mongod import Mongod, free_port, isolated_fiftyone_env

_STATE: dict = {}


def pytest_configure(config: pytest.Config) -> None:
    root = Path(tempfile.mkdtemp(prefix="caffe-pytest-"))
    port = free_port()
    env = isolated_fiftyone_env(f"mongodb://127.0.0.1:{port}", root / "fiftyone")
    os.environ.update(env)
    _STATE.update(root=root, port=port, env=env, mongod=None)


def pytest_unconfigure(config: pytest.Config) -> None:
    mongod = _STATE.get("mongod")
    if mongod is not None:
        mongod.stop()
    root = _STATE.get("root")
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that uses the session's mongod must be marked `slow` and `mongod`,
    so that `-m "not slow"` (the fast development subset) never starts it."""
    unmarked = [
        item.nodeid
        for item in items
        if {"mongod", "fiftyone_env"} & set(getattr(item, "fixturenames", ()))
        and not {"slow", "mongod"} <= {m.name for m in item.iter_markers()}
    ]
    if unmarked:
        raise pytest.UsageError(
            "uses the mongod fixture but is not marked both slow and mongod: " + ", ".join(unmarked)
        )


@pytest.fixture(scope="session")
def mongod() -> Mongod:
    """The session's private mongod (started on first use, on the port that
    FIFTYONE_DATABASE_URI already names), stopped at the end of the run."""
    if _STATE["mongod"] is None:
        _STATE["mongod"] = Mongod(_STATE["root"] / "mongod", port=_STATE["port"]).start()
    yield _STATE["mongod"]
    _STATE["mongod"].stop()


@pytest.fixture
def fiftyone_env(mongod: Mongod) -> dict[str, str]:
    """A complete environment for subprocesses (Snakemake runs, python -m ...)
    that use FiftyOne: os.environ, which already holds the isolation variables.
    Subprocesses and in-process fiftyone thus see the same private database;
    tests keep apart by using their own dataset names."""
    assert os.environ["FIFTYONE_DATABASE_URI"] == mongod.uri
    return dict(os.environ)
