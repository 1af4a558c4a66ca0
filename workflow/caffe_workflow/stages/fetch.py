"""Fetch, verify and unpack the CaFFe archive (`data_raw.zip`).

    python -m caffe_workflow.stages.fetch --url U --zip resources/data_raw.zip \
        --data-dir data/data_raw [--sha256 H] [--report FILE]

fetch()     downloads into `<zip>.part`, resumes it with HTTP Range (on a retry
            or on the next run), checks the size, verifies the SHA-256 when one
            is given, records it in `<zip>.provenance.json`, then renames the
            file to `<zip>`. A `<zip>` therefore always is a complete download.
ensure_zip() reuses a complete `<zip>` (size recorded, digest verified) or fetches.
unpack()    extracts into a hidden sibling of data_dir, checks the tree and
            renames it into place: data_dir is either complete or absent.
has_caffe() tells whether data_dir already holds CaFFe images.

Every failure the user can act on raises DownloadError (or a subclass) with a
one-line message; the command line prints it without a traceback.
The Snakefile imports where_to_get() at parse time, so requests and tqdm are
imported only by the functions that download.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from pathlib import Path

from caffe_workflow.atomic import write_atomically
from caffe_workflow.caffe.layout import FOLDERS, FULL_BOUNDING_BOXES, FULL_PNGS

PANGAEA_URL = "https://download.pangaea.de/dataset/940950/files/data_raw.zip"
MIRROR_URL = "https://huggingface.co/datasets/torchgeo/caffe"
DEFAULT_ZIP = "resources/data_raw.zip"

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


class BadArchive(DownloadError):
    """The zip is corrupt, unsafe or not a CaFFe archive."""


def where_to_get(zip_path: str | os.PathLike = DEFAULT_ZIP) -> str:
    """The advice given whenever the archive cannot be downloaded."""
    return (
        f"Get data_raw.zip (2.86 GB) from {PANGAEA_URL} or the Hugging Face mirror "
        f"{MIRROR_URL}, then set config download_url to a reachable copy "
        f"(http(s):// or file://), or put the zip at {zip_path}, or unzip it "
        "yourself and set config data_dir to its data_raw folder "
        "(config download: false turns downloading off)."
    )


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


def _write_json(path: Path, data: dict) -> None:
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    write_atomically(path, lambda f: f.write(text.encode()))


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""  # unreachable


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
        print(f"{dest.name}: computing sha256 of {_human(size)}", file=sys.stderr)
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
    _write_json(provenance_path(dest), record)
    os.replace(part, dest)
    return {**record, "path": str(dest)}


def ensure_zip(
    url: str, dest_zip: str | os.PathLike, sha256: str | None = None, **fetch_args
) -> dict:
    """Reuse `dest_zip` when it is complete, else fetch it; return the provenance.

    Complete means: with `sha256`, the file has that digest (re-hashed, ~5 s
    for the real zip); without, its size is the recorded one. A zip put there
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
                _write_json(provenance_path(dest), record)
            return {**record, "path": str(dest), "skipped": True}
    return {**fetch(url, dest, sha256, **fetch_args), "skipped": False}


# ---------------------------------------------------------------- unpack


def has_caffe(data_dir: str | os.PathLike) -> bool:
    """True if `data_dir/sar_images` holds at least one PNG (in a split folder or flat)."""
    sar = Path(data_dir) / "sar_images"
    if not sar.is_dir():
        return False
    return next(sar.glob("*/*.png"), None) is not None or next(sar.glob("*.png"), None) is not None


def _plan(zf: zipfile.ZipFile, zip_path: Path) -> tuple[list, str]:
    """Check every entry, find the folder holding sar_images/ (normally data_raw/).

    Returns the entries under that folder with their path relative to it.
    """
    entries, roots = [], set()
    for info in zf.infolist():
        name = info.filename
        parts = [p for p in re.split(r"[/\\]", name) if p not in ("", ".")]
        if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) or ".." in parts:
            raise BadArchive(
                f"{zip_path}: refusing the entry {name!r}, it would be written outside "
                "data_dir; nothing was unpacked (the zip is kept)."
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise BadArchive(
                f"{zip_path}: refusing the symbolic link {name!r}; nothing was unpacked "
                "(the zip is kept)."
            )
        if not parts or parts[0] == "__MACOSX":
            continue
        entries.append((info, parts))
        if "sar_images" in parts[:-1] or (info.is_dir() and parts[-1] == "sar_images"):
            roots.add(tuple(parts[: parts.index("sar_images")]))
    if not roots:
        raise BadArchive(
            f"{zip_path} holds no sar_images/ folder: not a CaFFe archive "
            "(expected data_raw/sar_images/...); the zip is kept."
        )
    depth = min(len(r) for r in roots)
    top = sorted(r for r in roots if len(r) == depth)
    if len(top) > 1:
        raise BadArchive(
            f"{zip_path} holds several sar_images/ folders: {['/'.join(r) for r in top]}."
        )
    root = top[0]
    members = [(i, p[depth:]) for i, p in entries if tuple(p[:depth]) == root and len(p) > depth]
    return members, "/".join(root)


def _check_tree(tree: Path) -> tuple[dict, list[str]]:
    """Count the files of an unpacked tree; raise if a folder is missing."""
    missing = [f for f in FOLDERS if not (tree / f).is_dir()]
    if missing:
        raise BadArchive(
            f"the archive lacks the folder(s) {', '.join(missing)}; a CaFFe tree has "
            f"{', '.join(FOLDERS)}."
        )
    counts = {f: sum(1 for _ in (tree / f).rglob("*.png")) for f in FOLDERS[:3]}
    counts["bounding_boxes"] = sum(1 for _ in (tree / "bounding_boxes").rglob("*.txt"))
    if counts["sar_images"] == 0:
        raise BadArchive("the archive's sar_images folder holds no PNG.")
    pngs = counts["sar_images"] + counts["zones"] + counts["fronts"]
    warns = []
    if (pngs, counts["bounding_boxes"]) != (FULL_PNGS, FULL_BOUNDING_BOXES):
        warns.append(
            f"unpacked {pngs} PNGs and {counts['bounding_boxes']} bounding boxes; the full "
            f"CaFFe release has {FULL_PNGS:,} and {FULL_BOUNDING_BOXES} (fine for a sample, "
            "otherwise the archive is incomplete)."
        )
    if len(set(counts.values())) > 1:
        warns.append(
            "sar_images, zones, fronts and bounding_boxes hold "
            + ", ".join(str(counts[f]) for f in FOLDERS)
            + " files: some images lack labels."
        )
    return {**counts, "pngs": pngs}, warns


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def unpack(zip_path: str | os.PathLike, data_dir: str | os.PathLike) -> dict:
    """Unpack the CaFFe tree of `zip_path` so that it becomes `data_dir`.

    The folder holding sar_images/ inside the archive (data_raw/ in the real
    zip) becomes `data_dir`. Extraction goes into a hidden temporary sibling
    of `data_dir` (same file system), which is renamed into place only after
    every member passed its CRC check and the tree has the four folders.
    Entries that would escape (absolute, `..`, symbolic links) are refused
    before anything is written. On any error the temporary folder is removed
    and the zip is kept. Other file counts than the full release's give
    warnings (returned in "warnings"), not errors. `data_dir` must be absent
    or an empty folder.
    """
    zip_path, data_dir = Path(zip_path), Path(data_dir).absolute()
    started = time.time()
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise DownloadError(
            f"{data_dir} exists and is not empty: not unpacking over it "
            "(move it away, or point config data_dir at it if it holds CaFFe)."
        )
    parent = data_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{data_dir.name}.unpacking-"
    for stale in parent.glob(prefix + "*"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    try:
        zf = zipfile.ZipFile(zip_path)
    except FileNotFoundError:
        raise DownloadError(f"{zip_path} does not exist.") from None
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise BadArchive(
            f"{zip_path} is not a readable zip ({e}): a truncated or corrupt download? "
            "Nothing was unpacked; the zip is kept for inspection, delete it to download again."
        ) from None
    with zf:
        members, root = _plan(zf, zip_path)
        need = sum(info.file_size for info, _ in members)
        free = shutil.disk_usage(parent).free
        if need > free:
            raise DownloadError(
                f"unpacking {zip_path} needs {_human(need)} but {parent} has {_human(free)} free."
            )
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        current = None
        try:
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private
            for info, rel in members:
                current = info.filename
                target = tmp.joinpath(*rel)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                # Reading each member to its end checks its CRC-32 (as
                # testzip() would), so the archive is read only once.
                with zf.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
            current = None
            counts, warns = _check_tree(tmp)
            os.rename(tmp, data_dir)
        except BaseException as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(e, (zipfile.BadZipFile, zlib.error, EOFError)):
                raise BadArchive(
                    f"{zip_path} is corrupt ({current}: {e}): a truncated or damaged download? "
                    "Nothing was unpacked; the zip is kept for inspection, "
                    "delete it to download again."
                ) from None
            if isinstance(e, BadArchive):
                raise BadArchive(
                    f"{zip_path}: {e} Nothing was unpacked; the zip is kept."
                ) from None
            raise
    return {
        "zip": str(zip_path),
        "data_dir": str(data_dir),
        "root_in_zip": root,
        "files": sum(1 for info, _ in members if not info.is_dir()),
        "bytes": need,
        "counts": counts,
        "complete": (counts["pngs"], counts["bounding_boxes"]) == (FULL_PNGS, FULL_BOUNDING_BOXES),
        "warnings": warns,
        "seconds": round(time.time() - started, 3),
    }


# ---------------------------------------------------------------- command line


def _terminate(signum, frame):
    # Turn SIGTERM (Snakemake, SLURM, kill) into SystemExit so that the part
    # file is closed and a half-made unpack folder is removed.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m caffe_workflow.stages.fetch",
        description="Download (resumable, verified) and unpack the CaFFe data_raw.zip.",
    )
    parser.add_argument("--url", default=PANGAEA_URL, help="where to download the zip from")
    parser.add_argument("--zip", default=DEFAULT_ZIP, help="where to keep the zip")
    parser.add_argument("--data-dir", required=True, help="folder to unpack data_raw/ into")
    parser.add_argument("--sha256", default=None, help="expected SHA-256 of the zip")
    parser.add_argument("--retries", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=60.0, help="read timeout, seconds")
    parser.add_argument("--connect-timeout", type=float, default=10.0)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--report", default=None, help="write a JSON summary here")
    args = parser.parse_args(argv)
    if args.retries < 0:
        parser.error("--retries must be >= 0")

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        report = {
            "data_dir": args.data_dir,
            "already_present": False,
            "download": None,
            "unpack": None,
        }
        if has_caffe(args.data_dir):
            print(
                f"{args.data_dir} already holds CaFFe images; nothing to download.",
                file=sys.stderr,
            )
            report["already_present"] = True
        else:
            got = ensure_zip(
                args.url,
                args.zip,
                args.sha256,
                retries=args.retries,
                timeout=args.timeout,
                connect_timeout=args.connect_timeout,
                progress=not args.no_progress,
            )
            if got["skipped"]:
                how = "sha256 verified" if args.sha256 else "already downloaded"
                print(f"using {args.zip} ({how})", file=sys.stderr)
            done = unpack(args.zip, args.data_dir)
            for warning in done["warnings"]:
                print(f"warning: {warning}", file=sys.stderr)
            c = done["counts"]
            print(
                f"unpacked {done['files']} files ({c['sar_images']} SAR images) into "
                f"{args.data_dir} in {done['seconds']:.1f} s",
                file=sys.stderr,
            )
            report.update(download=got, unpack=done)
        if args.report:
            Path(args.report).parent.mkdir(parents=True, exist_ok=True)
            _write_json(Path(args.report), report)
        return 0
    except DownloadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # disk full, permissions: no traceback either
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; rerun to resume the download", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
