"""caffe_workflow.database: URI masking, and the ingest against a mongod that
requires a login, like a site's shared MongoDB (a real mongod with --auth).

The ingest runs as the workflow runs it, `python -m caffe_workflow.stages.ingest` in
a subprocess, logged in as a user whose only role is readWrite on FiftyOne's
database: the least a site has to grant.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pymongo
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for ingest_fixtures

from caffe_dev.mongod import Mongod, isolated_fiftyone_env  # noqa: E402
from caffe_workflow.database import (  # noqa: E402
    DatabaseAuthError,
    DatabaseUnreachable,
    check_database,
    mask_uri,
)
from ingest_fixtures import make_invalid_row, make_row, write_catalog  # noqa: E402

REPO = Path(__file__).resolve().parents[2]

# Characters that must be percent-encoded in a URI, so the encoding is tested.
PASSWORD = "gl@cier:front/2024%"
WRONG = "not-the-p@ssword:9"

# ------------------------------------------------------------ no database needed


@pytest.mark.parametrize(
    "uri, masked",
    [
        (
            "mongodb://caffe:s3cret@db.example:27017/x?authSource=admin",
            "mongodb://***@db.example:27017/x?authSource=admin",
        ),
        # several hosts (a replica set) and several options
        (
            "mongodb://caffe:s3cret@db1:27017,db2:27017,db3/?replicaSet=rs0&authSource=admin",
            "mongodb://***@db1:27017,db2:27017,db3/?replicaSet=rs0&authSource=admin",
        ),
        (
            "mongodb+srv://caffe:s3cret@cluster0.example.net/?retryWrites=true&w=majority",
            "mongodb+srv://***@cluster0.example.net/?retryWrites=true&w=majority",
        ),
        # '@', ':', '/' in the password, percent-encoded as they must be ...
        (
            "mongodb://caffe:gl%40cier%3Afront%2F1@127.0.0.1:27017/?authSource=admin",
            "mongodb://***@127.0.0.1:27017/?authSource=admin",
        ),
        # ... or raw, as users write them anyway
        (
            "mongodb://caffe:gl@cier:front/1@127.0.0.1:27017/?authSource=admin",
            "mongodb://***@127.0.0.1:27017/?authSource=admin",
        ),
        ("mongodb://caffe:what?now@127.0.0.1:27017", "mongodb://***@127.0.0.1:27017"),
        # a user without a password (e.g. X.509) is masked too
        (
            "mongodb://CN%3Dcaffe@db.example/?authMechanism=MONGODB-X509",
            "mongodb://***@db.example/?authMechanism=MONGODB-X509",
        ),
        ("mongodb://127.0.0.1:27017", "mongodb://127.0.0.1:27017"),
        ("mongodb://db1,db2/fiftyone?replicaSet=rs0", "mongodb://db1,db2/fiftyone?replicaSet=rs0"),
    ],
)
def test_mask_uri_hides_the_userinfo(uri, masked):
    assert mask_uri(uri) == masked


def test_module_imports_neither_fiftyone_nor_pymongo():
    code = (
        "import sys, caffe_workflow.database as d, caffe_workflow.stages.ingest\n"
        "assert d.check_database('') is None\n"  # no URI: nothing to check
        "print(sorted(m for m in ('fiftyone', 'pymongo') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PYTHONPATH=str(REPO / "workflow")),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# ------------------------------------------------------------ mongod with --auth


@pytest.fixture(scope="module")
def auth_mongod(tmp_path_factory):
    """A mongod started with --auth; its root user is 'admin'."""
    server = Mongod(tmp_path_factory.mktemp("auth") / "db", user="admin", password="r00t:pw@")
    with server:
        yield server


@pytest.fixture
def site(auth_mongod, tmp_path):
    """An isolated FiftyOne environment on `auth_mongod` (URI set per test) and
    the user 'caffe' with readWrite on its FiftyOne database only."""
    env = isolated_fiftyone_env(auth_mongod.uri, tmp_path / "fiftyone")
    database = env["FIFTYONE_DATABASE_NAME"]
    user = f"caffe-{database[-12:]}"
    auth_mongod.create_user(user, PASSWORD, [{"role": "readWrite", "db": database}])
    env.update(PYTHONPATH=str(REPO / "workflow"))
    env = dict(os.environ, **env)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    return {"env": env, "user": user, "database": database, "mongod": auth_mongod}


def run_ingest(env: dict, tmp_path: Path, rows: list[dict], dataset: str):
    catalog = write_catalog(rows, tmp_path / "catalog.parquet")
    summary = tmp_path / "ingest_summary.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "caffe_workflow.stages.ingest",
            "--catalog",
            str(catalog),
            "--dataset",
            dataset,
            "--summary",
            str(summary),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    return proc, summary


def sample_filepaths(mongod: Mongod, database: str, dataset: str) -> list[str]:
    """Filepaths of a dataset's samples, read with pymongo as root."""
    with pymongo.MongoClient(mongod.admin_uri, serverSelectionTimeoutMS=5000) as client:
        db = client[database]
        doc = db.datasets.find_one({"name": dataset})
        assert doc is not None, f"no dataset {dataset} in {database}"
        return sorted(s["filepath"] for s in db[doc["sample_collection_name"]].find())


@pytest.mark.slow
@pytest.mark.mongod
def test_ingest_logs_in_with_user_and_password(site, tmp_path):
    rows = [make_row(i, tmp_path, g) for i, g in enumerate(["JAC", "DBE", "COL", "Mapple"])]
    rows.append(make_invalid_row(4, tmp_path, "SI"))
    env = dict(site["env"])
    env["FIFTYONE_DATABASE_URI"] = site["mongod"].uri_with(site["user"], PASSWORD)
    assert urllib.parse.quote_plus(PASSWORD) in env["FIFTYONE_DATABASE_URI"]

    proc, summary = run_ingest(env, tmp_path, rows, "caffe-auth")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(summary.read_text()) == {
        "added": 5,
        "updated": 0,
        "deleted": 0,
        "unchanged": 0,
        "relinked": 0,
        "total": 5,
        "dataset": "caffe-auth",
    }
    assert sample_filepaths(site["mongod"], site["database"], "caffe-auth") == sorted(
        r["filepath"] for r in rows
    )

    # A rerun reads the dataset back through the same login and writes nothing.
    proc, summary = run_ingest(env, tmp_path, rows, "caffe-auth")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(summary.read_text())["unchanged"] == 5
    for secret in (PASSWORD, urllib.parse.quote_plus(PASSWORD)):
        assert secret not in proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.mongod
def test_wrong_password_is_one_masked_line(site, tmp_path):
    env = dict(site["env"])
    port = site["mongod"].port
    env["FIFTYONE_DATABASE_URI"] = site["mongod"].uri_with(site["user"], WRONG)

    proc, summary = run_ingest(env, tmp_path, [make_row(1, tmp_path)], "never")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"ERROR: authentication failed for user {site['user']!r} at "
        f"mongodb://***@127.0.0.1:{port}/?authSource=admin; check the user and password "
        "(and authSource, the database that holds the user) in FIFTYONE_DATABASE_URI"
    ]
    assert proc.stdout == ""
    for secret in (WRONG, urllib.parse.quote_plus(WRONG), PASSWORD, "r00t"):
        assert secret not in proc.stderr
    assert not summary.exists()


@pytest.mark.slow
@pytest.mark.mongod
def test_check_tells_missing_login_and_missing_rights(site):
    mongod = site["mongod"]

    # The right user and password: the check passes.
    check_database(mongod.uri_with(site["user"], PASSWORD), site["database"])

    # No user in the URI: ping would pass, FiftyOne's first query would not.
    with pytest.raises(
        DatabaseAuthError,
        match=r"requires a login; put a user and password "
        r"in FIFTYONE_DATABASE_URI",
    ):
        check_database(mongod.uri, site["database"])

    # A user with rights on another database only.
    mongod.create_user("elsewhere", PASSWORD, [{"role": "readWrite", "db": "other"}])
    with pytest.raises(DatabaseAuthError) as raised:
        check_database(mongod.uri_with("elsewhere", PASSWORD), site["database"])
    message = str(raised.value)
    assert message.startswith(
        f"user 'elsewhere' may not use database '{site['database']}' "
        f"at mongodb://***@127.0.0.1:{mongod.port}/"
    )
    assert message.endswith(f"it needs the role readWrite on '{site['database']}'")
    assert "\n" not in message and PASSWORD not in message

    # Authentication errors are still DatabaseUnreachable, which the ingest catches.
    with pytest.raises(DatabaseUnreachable, match="authentication failed"):
        check_database(mongod.uri_with(site["user"], WRONG), site["database"])
