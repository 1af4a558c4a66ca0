"""Serve a FiftyOne dataset in the App until Ctrl-C (`make app`).

    python -m caffe_workflow.app DATASET [--port 5151] [--address localhost]

`fiftyone app launch` stops serving when the last browser tab closes; a
remote session that waits for ever does not. FiftyOne's own messages (the
remote-session instructions, database notices) are held back through its
logging level; this prints one line saying where the App is and how to stop
it, or one line saying what is wrong.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
from pathlib import Path

PLUGINS_DIR = Path(__file__).resolve().parents[1] / "plugins"
PLUGIN_FOLDER = "caffe-metrics"


class AppError(RuntimeError):
    """The App cannot be served; the message says what to do."""


def check_port(address: str, port: int) -> None:
    """A port in use is an error here: FiftyOne would connect to whatever
    App server holds it (another user's, another database's) and serve that."""
    host = "127.0.0.1" if address in ("localhost", "") else address
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        try:
            s.bind((host, port))
        except OSError as err:
            raise AppError(
                f"port {port} on {address} is not free ({err.strerror}): another App "
                f"is served there; stop it, or choose another port (make app PORT={port + 1})"
            ) from None


def plugins_env(environ: dict) -> str | None:
    """Let the App find the plugin @caffe/metrics (the models' custom metrics).

    Without FIFTYONE_PLUGINS_DIR the project's folder is used, for this
    process and the App server it starts. A folder the user set is never
    changed (FiftyOne reads one); returns a hint when it lacks the plugin.
    """
    mine = environ.get("FIFTYONE_PLUGINS_DIR")
    if not mine:
        environ["FIFTYONE_PLUGINS_DIR"] = str(PLUGINS_DIR)
        return None
    if Path(mine, PLUGIN_FOLDER).exists() or Path(mine).resolve() == PLUGINS_DIR.resolve():
        return None
    return (
        f"(the CaFFe metrics plugin is not in FIFTYONE_PLUGINS_DIR={mine}: "
        f"ln -s {PLUGINS_DIR / PLUGIN_FOLDER} {mine}/ to see its metrics)"
    )


def serve(dataset_name: str, port: int, address: str, wait: float = -1) -> None:
    """Serve `dataset_name` until interrupted (or for `wait` seconds if >= 0)."""
    os.environ.setdefault("FIFTYONE_LOGGING_LEVEL", "ERROR")  # read at import
    hint = plugins_env(os.environ)
    check_port(address, port)

    from caffe_workflow.database import check_database

    check_database()  # DatabaseUnreachable: one line naming the URI
    import fiftyone as fo

    if not fo.dataset_exists(dataset_name):
        names = ", ".join(fo.list_datasets()) or "none"
        raise AppError(
            f"there is no FiftyOne dataset '{dataset_name}' (datasets: {names}); "
            "build it first (make demo, make run) or name another (make app DATASET=NAME)"
        )
    from fiftyone.core.service import ServiceListenTimeout

    dataset = fo.load_dataset(dataset_name)
    try:
        session = fo.launch_app(dataset, remote=True, port=port, address=address)
    except ServiceListenTimeout:
        # FiftyOne waits a fixed time for its server process to listen.
        raise AppError(
            f"the App's server did not start listening on port {port} in time "
            "(a busy machine, or the port was taken meanwhile): run the same command again"
        ) from None
    host = "localhost" if address in ("localhost", "127.0.0.1", "") else address
    print(
        f"The FiftyOne App serves dataset '{dataset_name}' at "
        f"http://{host}:{port}/datasets/{dataset_name} (Ctrl-C stops it)",
        file=sys.stderr,
        flush=True,
    )
    if hint:
        print(hint, file=sys.stderr, flush=True)
    # Ctrl-C, and `kill` too, end the wait below; closing the session stops
    # the App server FiftyOne started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        if wait < 0:
            session.wait(-1)
        else:
            import time

            time.sleep(wait)
    except KeyboardInterrupt:
        pass
    finally:
        session.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset")
    parser.add_argument("--port", type=int, default=5151)
    parser.add_argument(
        "--address",
        default="localhost",
        help="interface to listen on (0.0.0.0: every interface; default: this machine only)",
    )
    args = parser.parse_args(argv)
    from caffe_workflow.database import DatabaseUnreachable

    try:
        serve(args.dataset, args.port, args.address)
    except (AppError, DatabaseUnreachable) as err:
        print(f"Error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
