"""Download one file over HTTP(S) or file://, resumable and verified.

fetch()      downloads into `<dest>.part`, resumes it with HTTP Range (on a retry
             or on the next run), checks the size, verifies the SHA-256 when one
             is given, records it in `<dest>.provenance.json`, then renames the
             file to `<dest>`. A `<dest>` therefore always is a complete download.
             Progress goes to stderr (tqdm).
ensure_zip() reuses a complete `<dest>` (size recorded, digest verified) or fetches.

Every failure the user can act on raises DownloadError (or a subclass) with a
one-line message. requests, urllib3 and tqdm are imported by the functions
that download: the Snakefile imports the fetch stage when it is parsed.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shutil
import sys
import time
import zipfile
from pathlib import Path

from caffe_workflow.atomic import write_atomically
from caffe_workflow.caffe.source import where_to_get

CHUNK = 1 << 20
MAX_BACKOFF = 60.0
# A server that cannot be reached at all (refused, DNS, connect timeout) is
# tried this often before giving up: the user gets the error within seconds.
CONNECT_ATTEMPTS = 3
# Answers worth another try; any other 3xx/4xx/5xx answer is final.
RETRY_STATUS = frozenset((408, 429, *range(500, 600)))
USER_AGENT = "caffe-workflow-download/2 (+python requests)"
PROGRESS_FORMAT = (
    "{desc}: {percentage:5.1f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]"
)


class DownloadError(Exception):
    """A failure the user can act on; the message is one line."""


class SourceUnavailable(DownloadError):
    """The archive cannot be had from the URL (unreachable, DNS, 4xx)."""


class ChecksumMismatch(DownloadError):
    """The downloaded file does not have the expected SHA-256."""


# ---------------------------------------------------------------- helpers


def _part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _rejected_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".rejected")


def provenance_path(dest_zip: str | os.PathLike) -> Path:
    dest = Path(dest_zip)
    return dest.with_name(dest.name + ".provenance.json")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def sha256_file(path: str | os.PathLike) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_json(path: Path, data: dict) -> None:
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    write_atomically(path, lambda f: f.write(text.encode()))


def _reason(err: BaseException) -> str:
    """The innermost cause in words ("Connection refused"), without the reprs
    of the requests and urllib3 exceptions wrapped around it."""
    while True:
        inner = getattr(err, "reason", None) or err.__cause__
        if not isinstance(inner, BaseException):
            inner = next((a for a in err.args if isinstance(a, BaseException)), None)
        if inner is None:
            return getattr(err, "strerror", None) or str(err) or type(err).__name__
        err = inner


def _kept(part: Path) -> str:
    if not part.exists():
        return ""
    return f" The partial file {part} is kept and the next run resumes it."


def _unavailable(url: str, dest: Path, why: str) -> SourceUnavailable:
    return SourceUnavailable(
        f"cannot download {url}: {why}.{_kept(_part_path(dest))} {where_to_get(dest)}"
    )


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""  # unreachable


# ---------------------------------------------------------------- fetch


class _Transient(Exception):
    """The server was reached but the transfer failed; worth another try."""


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """`bytes 100-199/1000` -> (100, 1000); `bytes */1000` -> (None, 1000)."""
    m = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value or "")
    if not m:
        return None, None
    start = int(m[1]) if m[1] is not None else None
    total = int(m[2]) if m[2] != "*" else None
    return start, total


def _receive(resp, part: Path, offset: int, name: str, progress: bool) -> dict:
    """Write the body of a 2xx answer to a request from `offset` into `part`.

    Returns what was learnt about the remote file; raises _Transient when the
    body breaks off or does not fit `part`.
    """
    from tqdm import tqdm
    from urllib3.exceptions import HTTPError

    length = resp.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    if resp.status_code == 206:
        start, total = _content_range(resp.headers.get("Content-Range"))
        if start != offset:
            part.unlink(missing_ok=True)
            raise _Transient(f"server sent range from {start} instead of {offset}; starting again")
        if total is None and length is not None:
            total = offset + length
    else:
        # The whole file. If we asked for a range the server ignored it:
        # start again from zero instead of appending.
        offset, total = 0, length
    done = offset
    with (
        open(part, "ab" if offset else "wb") as f,
        tqdm(
            desc=name,
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            file=sys.stderr,
            disable=not progress,
            # Redrawn twice a second on a terminal; in a log file (Snakemake, SLURM)
            # an update every 10 s instead of thousands.
            mininterval=0.5 if sys.stderr.isatty() else 10.0,
            bar_format=PROGRESS_FORMAT if total else None,
        ) as bar,
    ):
        while True:
            try:
                # read1: whatever has arrived, so a stalled or killed transfer
                # still leaves every received byte on disk. Raw bytes (no
                # decoding): sizes and Range offsets are the file's.
                chunk = resp.raw.read1(CHUNK, decode_content=False)
            except (HTTPError, OSError) as e:
                raise _Transient(f"connection lost after {done} bytes: {_reason(e)}") from None
            if not chunk:
                break
            f.write(chunk)
            f.flush()
            done += len(chunk)
            bar.update(len(chunk))
    if total is not None and done < total:
        raise _Transient(f"connection closed after {done} of {total} bytes")
    if total is not None and done > total:
        part.unlink()
        raise _Transient(f"received {done} bytes, more than the announced {total}")
    return {
        "final_url": resp.url,
        "etag": resp.headers.get("ETag"),
        "last_modified": resp.headers.get("Last-Modified"),
    }


def _download(
    url: str,
    part: Path,
    dest: Path,
    retries: int,
    timeout: tuple[float, float],
    backoff: float,
    progress: bool,
) -> dict:
    """Download an http(s) `url` into `part`, resuming it after every break."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.exceptions import ConnectTimeoutError
    from urllib3.util import Retry

    class Repeat(Retry):
        def sleep(self, response=None):
            # urllib3 waits quietly; say why the download does not progress.
            if progress and response is not None:
                delay = self.get_retry_after(response) or self.get_backoff_time()
                print(
                    f"{dest.name}: HTTP {response.status} {response.reason}; "
                    f"retrying in {delay:.0f} s",
                    file=sys.stderr,
                )
            super().sleep(response)

    # urllib3 repeats a request that fails before its body starts (no
    # connection, a RETRY_STATUS answer, with the server's Retry-After); a body
    # that breaks off is resumed by the loop below, which urllib3 cannot do.
    policy = Repeat(
        total=None,
        connect=CONNECT_ATTEMPTS - 1,
        read=False,  # the server took the request: the loop decides
        other=0,
        status_forcelist=RETRY_STATUS,
        backoff_factor=backoff,
        backoff_max=MAX_BACKOFF,
        retry_after_max=int(MAX_BACKOFF),
        raise_on_status=False,  # the last answer comes back, not an exception
    )
    adapter = HTTPAdapter()
    attempts = failures = 0
    reached = restarted = False
    with requests.Session() as session:
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        # identity: sizes and Range offsets must be those of the file.
        session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
        while True:
            before = _size(part)
            # urllib3's repeats count towards the consecutive failures too.
            adapter.max_retries = policy.new(status=retries - failures)
            attempts += 1
            try:
                resp = session.get(
                    url,
                    headers={"Range": f"bytes={before}-"} if before else None,
                    stream=True,
                    timeout=timeout,
                )
            except (requests.ConnectionError, requests.Timeout) as e:
                if isinstance(e, requests.exceptions.SSLError):  # certificate, TLS
                    raise _unavailable(url, dest, _reason(e)) from None
                cause = getattr(e.args[0], "reason", None) if e.args else None
                if isinstance(cause, ConnectTimeoutError):  # refused, DNS, timeout
                    if not reached:
                        why = f"{_reason(e)} ({CONNECT_ATTEMPTS} attempts)"
                        raise _unavailable(url, dest, why) from None
                    attempts += CONNECT_ATTEMPTS - 1
                reached = True  # it took the connection, now or before
                error = f"no answer: {_reason(e)}"
            except requests.RequestException as e:  # a bad URL, a redirect loop
                raise _unavailable(url, dest, _reason(e)) from None
            else:
                reached = True
                with resp:
                    retried = len(resp.raw.retries.history)
                    attempts, failures = attempts + retried, failures + retried
                    status = resp.status_code
                    if status == 416 and before:
                        _, total = _content_range(resp.headers.get("Content-Range"))
                        if total == before:  # the part file is the whole file
                            info = {"final_url": resp.url}
                            break
                        part.unlink()  # the part file does not fit the remote one
                        error = f"HTTP 416 when resuming at byte {before}; starting again"
                    elif status in RETRY_STATUS:  # urllib3 has used up the retries
                        error = f"HTTP {status} {resp.reason}"
                    elif status >= 300:
                        raise _unavailable(url, dest, f"HTTP {status} {resp.reason}")
                    else:
                        restarted = restarted or (before > 0 and status != 206)
                        try:
                            info = _receive(resp, part, before, dest.name, progress)
                            break
                        except _Transient as e:
                            error = str(e)
            failures = 0 if _size(part) > before else failures + 1
            if failures > retries:
                raise DownloadError(
                    f"download of {url} failed {failures} times in a row ({error})." + _kept(part)
                )
            delay = min(MAX_BACKOFF, backoff * 2 ** max(failures - 1, 0))
            if progress:
                print(f"{dest.name}: {error}; retrying in {delay:.0f} s", file=sys.stderr)
            time.sleep(delay)
    return {**info, "attempts": attempts, "restarted": restarted}


def _copy_file(url: str, part: Path, dest: Path) -> dict:
    """A file:// URL (a local mirror): copied whole, which is cheap."""
    from urllib.parse import urlsplit
    from urllib.request import url2pathname

    source = Path(url2pathname(urlsplit(url).path))
    if not source.is_file():
        raise _unavailable(url, dest, "no such file")
    restarted = _size(part) > 0
    shutil.copyfile(source, part)
    return {"final_url": url, "attempts": 1, "restarted": restarted}


def fetch(
    url: str,
    dest_zip: str | os.PathLike,
    sha256: str | None = None,
    retries: int = 5,
    timeout: float = 60.0,
    connect_timeout: float = 10.0,
    backoff: float = 2.0,
    progress: bool = True,
) -> dict:
    """Download `url` to `dest_zip` via `dest_zip.part`; return the provenance.

    An existing `.part` is resumed with an HTTP Range request; a server that
    ignores Range (200) is read again from byte zero. Connection errors,
    timeouts, 408, 429 and 5xx answers are retried with exponential back-off
    from `backoff` seconds (at most 60 s, or the server's Retry-After up to
    60 s); `retries` counts consecutive attempts that brought no new byte, so
    a long download over a flaky link goes on as long as it progresses. A
    server that cannot be reached at all gives SourceUnavailable after
    CONNECT_ATTEMPTS quick tries. `timeout` is the read timeout,
    `connect_timeout` the one for opening the connection. A file:// URL is
    copied.

    The size is checked against Content-Length / Content-Range. With `sha256`,
    a mismatching file is renamed to `<zip>.rejected` and ChecksumMismatch is
    raised: it is kept for inspection but neither resumed nor used by the next
    run. The digest is always computed and written, with the URL, size and
    time, to `<zip>.provenance.json`.
    """
    dest = Path(dest_zip)
    part = _part_path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    expected = sha256.strip().lower() if sha256 else None
    started, resumed_from = time.time(), _size(part)
    if url.lower().startswith("file:"):
        info = _copy_file(url, part, dest)
    else:
        info = _download(url, part, dest, retries, (connect_timeout, timeout), backoff, progress)

    size = _size(part)
    if progress:
        print(f"{dest.name}: computing sha256 of {human_size(size)}", file=sys.stderr)
    digest = sha256_file(part)
    if expected and digest != expected:
        rejected = _rejected_path(dest)
        os.replace(part, rejected)
        raise ChecksumMismatch(
            f"sha256 of the file downloaded from {url} is {digest}, expected {expected}; "
            f"it is kept as {rejected} for inspection and the next run downloads again "
            "(check config download_sha256 and download_url)."
        )
    record = {
        "file": dest.name,
        "url": url,
        "final_url": info["final_url"],
        "size": size,
        "sha256": digest,
        "sha256_expected": expected,
        "verified": bool(expected),
        "downloaded_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "seconds": round(time.time() - started, 3),
        "attempts": info["attempts"],
        "resumed_from": resumed_from,
        "restarted_from_zero": info["restarted"],
        "etag": info.get("etag"),
        "last_modified": info.get("last_modified"),
    }
    # Provenance first: a <zip> on disk then always has its record.
    write_json(provenance_path(dest), record)
    os.replace(part, dest)
    return {**record, "path": str(dest)}


def ensure_zip(
    url: str, dest_zip: str | os.PathLike, sha256: str | None = None, **fetch_args
) -> dict:
    """Reuse `dest_zip` when it is complete, else fetch it; return the provenance.

    Complete means: with `sha256`, the file has that digest (re-hashed);
    without, its size is the recorded one. A zip put there
    by hand (no record) is accepted if it opens as a zip; unpack() checks
    every member's CRC anyway. The result has "skipped": True when reused.
    """
    dest = Path(dest_zip)
    expected = sha256.strip().lower() if sha256 else None
    if dest.is_file():
        try:
            record = json.loads(provenance_path(dest).read_text())
        except (OSError, ValueError):
            record = None
        size = dest.stat().st_size
        digest = None
        if expected:
            digest = sha256_file(dest)
            ok = digest == expected
            if not ok:
                print(
                    f"{dest} does not have the expected sha256; downloading again",
                    file=sys.stderr,
                )
        elif record:
            ok = record.get("size") == size
        else:
            ok = zipfile.is_zipfile(dest)
        if ok:
            if (
                not record
                or record.get("size") != size
                or (digest and record.get("sha256") != digest)
            ):
                record = {
                    "file": dest.name,
                    "url": None,
                    "note": "found in place, not downloaded by this workflow",
                    "size": size,
                    "sha256": digest or sha256_file(dest),
                    "sha256_expected": expected,
                    "verified": bool(expected),
                    "recorded_at": datetime.datetime.now(datetime.UTC).isoformat(
                        timespec="seconds"
                    ),
                }
                write_json(provenance_path(dest), record)
            return {**record, "path": str(dest), "skipped": True}
    return {**fetch(url, dest, sha256, **fetch_args), "skipped": False}
