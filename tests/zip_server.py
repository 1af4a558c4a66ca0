"""A loopback HTTP server for data_raw.zip, and a zip builder: the download tests'
stand-in for PANGAEA (no test may reach the internet)."""

from __future__ import annotations

import io
import re
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def zip_tree(
    tree: Path, prefix: str = "data_raw/", compression=zipfile.ZIP_DEFLATED, extra=()
) -> bytes:
    """The tree as a zip under `prefix`, with directory entries like a real zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        if prefix:
            zf.write(tree, prefix)
        for path in sorted(tree.rglob("*")):
            zf.write(path, prefix + path.relative_to(tree).as_posix())
        for name, data in extra:
            zf.writestr(name, data)
    return buf.getvalue()


class ZipServer:
    """Serves one payload at /data_raw.zip, with Range support.

    mode "drop": a request from byte 0 gets half the body, then the connection
    is closed; "stall": the same, but the connection hangs until `release`;
    /mirror/data_raw.zip redirects to /data_raw.zip;
    "ignore_range": always 200 with the whole file. `errors`: status codes to
    answer first, one per request. `ranges`: the Range header of each request.
    """

    def __init__(self, payload: bytes, mode: str = "normal"):
        self.payload, self.mode = payload, mode
        self.ranges: list[str | None] = []
        self.errors: list[int] = []
        self.release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                owner.answer(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/data_raw.zip"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        rng = h.headers.get("Range")
        self.ranges.append(rng)
        if h.path == "/mirror/data_raw.zip":  # like the Hugging Face CDN redirect
            h.send_response(302)
            h.send_header("Location", "/data_raw.zip")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if h.path != "/data_raw.zip":
            h.send_error(404)
            return
        if self.errors:
            h.send_error(self.errors.pop(0))
            return
        data, start = self.payload, 0
        if rng and self.mode != "ignore_range":
            start = int(re.fullmatch(r"bytes=(\d+)-", rng)[1])
            if start >= len(data):
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{len(data)}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            h.send_response(200)
        body = data[start:]
        h.send_header("Content-Type", "application/zip")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if self.mode in ("drop", "stall") and start == 0:
            h.wfile.write(body[: len(body) // 2])
            h.wfile.flush()
            if self.mode == "stall":
                self.release.wait()  # close() releases it
            h.close_connection = True
            return
        h.wfile.write(body)

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
