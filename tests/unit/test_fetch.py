"""download.py: fetch (resume, retries, size and digest checks); unpack.py:
unpack (atomic, safe, tree check); stages/fetch.py: the command line.

No internet: a ThreadingHTTPServer on 127.0.0.1 (ephemeral port, own thread)
serves a CaFFe-format data_raw.zip built from caffe_dev.sample_data; its
modes imitate servers that drop the connection, stall or ignore Range.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

WORKFLOW_DIR = Path(__file__).resolve().parents[2] / "workflow"
try:
    import caffe_workflow  # noqa: F401
except ImportError:  # the package is not pip-installed (-e) in this venv yet
    sys.path.insert(0, str(WORKFLOW_DIR))

from caffe_dev import sample_data  # noqa: E402
from caffe_workflow.caffe.source import MIRROR_URL, PANGAEA_URL  # noqa: E402
from caffe_workflow.download import (  # noqa: E402
    ChecksumMismatch,
    DownloadError,
    SourceUnavailable,
    fetch,
)
from caffe_workflow.stages.fetch import main  # noqa: E402
from caffe_workflow.unpack import BadArchive, has_caffe, unpack  # noqa: E402
from zip_server import ZipServer, zip_tree  # noqa: E402

FAST = {"backoff": 0.01, "progress": False}


# ---------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    # requests honours *_proxy variables; the loopback server must be reached directly.
    for var in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.upper(), raising=False)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tree") / "data_raw"
    sample_data.generate(root, 3, seed=0, size="small", jobs=1)
    return root


@pytest.fixture(scope="module")
def payload(tree) -> bytes:
    return zip_tree(tree)


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if ".unpacking-" in p.name] if parent.exists() else []


@pytest.fixture
def serve(payload):
    servers = []

    def start(data: bytes = payload, mode: str = "normal") -> ZipServer:
        servers.append(ZipServer(data, mode))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def paths(tmp_path):
    zip_path = tmp_path / "resources" / "data_raw.zip"
    data_dir = tmp_path / "data" / "data_raw"
    return zip_path, data_dir


def cli(url, zip_path, data_dir, *extra) -> list[str]:
    return [
        "--url",
        url,
        "--zip",
        str(zip_path),
        "--data-dir",
        str(data_dir),
        "--no-progress",
        *extra,
    ]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(WORKFLOW_DIR), env.get("PYTHONPATH")]))
    return env


# ---------------------------------------------------------------- fetch


def test_fetch_downloads_checks_and_records_provenance(serve, payload, paths, capsys):
    server = serve()
    zip_path, _ = paths
    record = fetch(server.url, zip_path, backoff=0.01, progress=True)
    assert zip_path.read_bytes() == payload
    assert not zip_path.with_name("data_raw.zip.part").exists()
    digest = hashlib.sha256(payload).hexdigest()
    assert (record["size"], record["sha256"], record["verified"]) == (
        len(payload),
        digest,
        False,
    )
    on_disk = json.loads(zip_path.with_name("data_raw.zip.provenance.json").read_text())
    assert on_disk["url"] == server.url and on_disk["sha256"] == digest
    assert on_disk["size"] == len(payload) and on_disk["downloaded_at"]
    assert server.ranges == [None]
    err = capsys.readouterr().err
    assert "data_raw.zip:" in err and "100.0%" in err


def test_dropped_connection_is_resumed_with_range(serve, payload, paths):
    server = serve(mode="drop")
    zip_path, _ = paths
    half = len(payload) // 2
    record = fetch(server.url, zip_path, retries=2, **FAST)
    assert server.ranges == [None, f"bytes={half}-"]
    assert zip_path.read_bytes() == payload
    assert record["attempts"] == 2 and record["sha256"] == hashlib.sha256(payload).hexdigest()


def test_resume_follows_a_redirect(serve, payload, paths):
    server = serve(mode="drop")
    zip_path, _ = paths
    record = fetch(server.url.replace("/data_raw.zip", "/mirror/data_raw.zip"), zip_path, **FAST)
    half = len(payload) // 2
    assert server.ranges == [None, None, f"bytes={half}-", f"bytes={half}-"]
    assert zip_path.read_bytes() == payload and record["final_url"] == server.url


# The server holds a stalled connection until the test ends, so if the read
# timeout did not end the stall, fetch would hang: the mark turns that into a
# failure.
@pytest.mark.timeout(120)
def test_stalled_transfer_times_out_and_resumes(serve, payload, paths):
    server = serve(mode="stall")
    zip_path, _ = paths
    # The read timeout, not the connect timeout (an hour here), must end the stall.
    fetch(server.url, zip_path, timeout=0.5, connect_timeout=3600, **FAST)
    assert server.ranges == [None, f"bytes={len(payload) // 2}-"]
    assert zip_path.read_bytes() == payload


def test_killed_download_is_resumed_by_the_next_run(serve, payload, paths):
    server = serve(mode="stall")
    zip_path, data_dir = paths
    part = zip_path.with_name("data_raw.zip.part")
    half = len(payload) // 2
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "caffe_workflow.stages.fetch",
            *cli(server.url, zip_path, data_dir),
        ],
        env=subprocess_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not (part.exists() and part.stat().st_size >= half):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.05)
    proc.terminate()  # what Snakemake / SLURM do on cancel
    _, err = proc.communicate(timeout=20)
    assert proc.returncode != 0 and "Traceback" not in err
    assert part.stat().st_size == half and not zip_path.exists() and not data_dir.exists()

    server.release.set()
    assert main(cli(server.url, zip_path, data_dir)) == 0
    assert server.ranges[-1] == f"bytes={half}-"
    assert zip_path.read_bytes() == payload and has_caffe(data_dir)
    record = json.loads(zip_path.with_name("data_raw.zip.provenance.json").read_text())
    assert record["resumed_from"] == half


def test_server_ignoring_range_restarts_from_zero(serve, payload, paths):
    server = serve(mode="ignore_range")
    zip_path, _ = paths
    zip_path.parent.mkdir(parents=True)
    zip_path.with_name("data_raw.zip.part").write_bytes(b"x" * 1000)
    record = fetch(server.url, zip_path, **FAST)
    assert server.ranges == ["bytes=1000-"]
    assert zip_path.read_bytes() == payload  # not 1000 stray bytes + payload
    assert record["restarted_from_zero"] and record["resumed_from"] == 1000


def test_complete_part_file_is_finished_without_a_new_transfer(serve, payload, paths):
    server = serve()
    zip_path, _ = paths
    zip_path.parent.mkdir(parents=True)
    zip_path.with_name("data_raw.zip.part").write_bytes(payload)
    fetch(server.url, zip_path, **FAST)  # the server answers 416 with the total
    assert server.ranges == [f"bytes={len(payload)}-"]
    assert zip_path.read_bytes() == payload


def test_server_errors_are_retried_with_backoff(serve, payload, paths):
    server = serve()
    server.errors = [503, 500]
    zip_path, _ = paths
    record = fetch(server.url, zip_path, retries=3, **FAST)
    assert len(server.ranges) == 3 and record["attempts"] == 3
    assert zip_path.read_bytes() == payload


def test_persistent_server_errors_give_up_after_the_retries(serve, paths):
    server = serve()
    server.errors = [503] * 10
    zip_path, _ = paths
    with pytest.raises(DownloadError, match=r"failed 3 times in a row \(HTTP 503"):
        fetch(server.url, zip_path, retries=2, **FAST)
    assert len(server.ranges) == 3 and not zip_path.exists()


def test_missing_file_is_a_clear_error_without_retries(serve, paths):
    server = serve()
    zip_path, _ = paths
    with pytest.raises(SourceUnavailable, match="HTTP 404") as err:
        fetch(server.url.replace("data_raw.zip", "nothing.zip"), zip_path, **FAST)
    assert len(server.ranges) == 1
    assert PANGAEA_URL in str(err.value) and "download_url" in str(err.value)


def test_file_url_works_as_a_mirror(payload, paths, tmp_path):
    local = tmp_path / "copy.zip"
    local.write_bytes(payload)
    zip_path, _ = paths
    fetch(local.as_uri(), zip_path, **FAST)
    assert zip_path.read_bytes() == payload


def test_unreachable_server_fails_after_a_few_quick_tries_with_advice(paths, monkeypatch):
    zip_path, _ = paths
    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)
    with pytest.raises(SourceUnavailable) as err:
        fetch(f"http://127.0.0.1:{closed_port()}/data_raw.zip", zip_path, progress=False)
    # With the default back-off: a refused connection gives up within seconds,
    # not after the minutes of back-off a dropped transfer is worth.
    assert 0 < sum(slept) < 5, slept
    message = str(err.value)
    assert "\n" not in message and "refused" in message
    for needle in (
        PANGAEA_URL,
        MIRROR_URL,
        "download_url",
        "data_dir",
        "download: false",
        str(zip_path),
    ):
        assert needle in message


def test_unreachable_server_cli_prints_one_line_and_fails(paths):
    zip_path, data_dir = paths
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "caffe_workflow.stages.fetch",
            *cli(f"http://127.0.0.1:{closed_port()}/data_raw.zip", zip_path, data_dir),
        ],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith("error: cannot download")
        and PANGAEA_URL in lines[0]
    )
    assert not data_dir.exists()


# ---------------------------------------------------------------- command line


def test_cli_downloads_and_unpacks_end_to_end(serve, tree, paths, tmp_path, capsys):
    server = serve()
    zip_path, data_dir = paths
    report = tmp_path / "results" / "download.json"
    assert main(cli(server.url, zip_path, data_dir, "--report", str(report))) == 0
    assert files_of(data_dir) == files_of(tree)
    assert has_caffe(data_dir) and leftovers(data_dir.parent) == []
    summary = json.loads(report.read_text())
    assert summary["download"]["sha256"] == hashlib.sha256(zip_path.read_bytes()).hexdigest()
    counts = summary["unpack"]["counts"]
    assert (counts["sar_images"], counts["pngs"], counts["bounding_boxes"]) == (3, 9, 3)
    assert summary["unpack"]["complete"] is False
    err = capsys.readouterr().err
    assert "warning: unpacked 9 PNGs and 3 bounding boxes" in err

    # data_dir holds CaFFe: nothing is fetched again.
    assert main(cli(server.url, zip_path, data_dir)) == 0
    assert len(server.ranges) == 1
    assert "nothing to download" in capsys.readouterr().err


def test_cli_reuses_a_verified_zip(serve, payload, paths, capsys):
    server = serve()
    zip_path, data_dir = paths
    digest = hashlib.sha256(payload).hexdigest()
    assert main(cli(server.url, zip_path, data_dir, "--sha256", digest.upper())) == 0
    record = json.loads(zip_path.with_name("data_raw.zip.provenance.json").read_text())
    assert record["verified"] and record["sha256_expected"] == digest
    capsys.readouterr()

    # The unpacked tree is gone but the zip is complete: unpack only.
    for p in sorted(data_dir.rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()
    data_dir.rmdir()
    assert main(cli(server.url, zip_path, data_dir, "--sha256", digest)) == 0
    assert len(server.ranges) == 1 and has_caffe(data_dir)
    assert "sha256 verified" in capsys.readouterr().err


def test_wrong_sha256_keeps_the_file_and_unpacks_nothing(serve, payload, paths, capsys):
    server = serve()
    zip_path, data_dir = paths
    assert main(cli(server.url, zip_path, data_dir, "--sha256", "0" * 64)) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: sha256 of the file downloaded")
    rejected = zip_path.with_name("data_raw.zip.rejected")
    assert rejected.read_bytes() == payload and str(rejected) in lines[0]
    assert not zip_path.exists() and not zip_path.with_name("data_raw.zip.part").exists()
    assert not data_dir.exists() and leftovers(data_dir.parent) == []

    # The rejected file is not resumed: the next run starts from zero.
    digest = hashlib.sha256(payload).hexdigest()
    assert main(cli(server.url, zip_path, data_dir, "--sha256", digest)) == 0
    assert server.ranges == [None, None] and has_caffe(data_dir)


def test_wrong_sha256_from_fetch(serve, paths):
    server = serve()
    zip_path, _ = paths
    with pytest.raises(ChecksumMismatch, match="expected " + "ab" * 32):
        fetch(server.url, zip_path, sha256="ab" * 32, **FAST)


def test_truncated_zip_is_refused_and_kept(serve, payload, paths, capsys):
    truncated = payload[: len(payload) * 2 // 3]
    server = serve(data=truncated)
    zip_path, data_dir = paths
    assert main(cli(server.url, zip_path, data_dir)) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "is not a readable zip" in lines[0] and "truncated" in lines[0]
    assert zip_path.read_bytes() == truncated  # kept for inspection
    assert not data_dir.exists() and leftovers(data_dir.parent) == []


# ---------------------------------------------------------------- unpack


def flip_byte_in_last_member(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = [i for i in zf.infolist() if i.file_size > 0][-1]
    name_len, extra_len = struct.unpack(
        "<HH", data[info.header_offset + 26 : info.header_offset + 30]
    )
    at = info.header_offset + 30 + name_len + extra_len + info.file_size // 2
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def test_corrupt_member_fails_its_crc_and_nothing_is_left(tree, paths):
    zip_path, data_dir = paths
    zip_path.parent.mkdir(parents=True)
    zip_path.write_bytes(flip_byte_in_last_member(zip_tree(tree, compression=zipfile.ZIP_STORED)))
    with pytest.raises(BadArchive, match="is corrupt .*Bad CRC-32"):
        unpack(zip_path, data_dir)
    assert not data_dir.exists() and leftovers(data_dir.parent) == []
    assert zip_path.exists()


@pytest.mark.parametrize(
    "name",
    [
        "../evil.txt",
        "data_raw/../../evil.txt",
        "/caffe-download-test-evil.txt",
        "symlink",
    ],
)
def test_escaping_entries_are_refused(tree, paths, tmp_path, name):
    extra = [(name, b"evil")]
    if name == "symlink":
        link = zipfile.ZipInfo("data_raw/sar_images/train/evil.png")
        link.external_attr = 0o120777 << 16  # S_IFLNK | 0777
        extra = [(link, "/etc/passwd")]
    zip_path, data_dir = paths
    zip_path.parent.mkdir(parents=True)
    zip_path.write_bytes(zip_tree(tree, extra=extra))
    if name != "symlink":
        assert name in zipfile.ZipFile(zip_path).namelist()  # stored as given
    with pytest.raises(BadArchive, match="refusing"):
        unpack(zip_path, data_dir)
    assert not data_dir.exists() and leftovers(data_dir.parent) == []
    for where in (tmp_path, tmp_path / "data", tmp_path.parent, Path("/")):
        assert not (where / "evil.txt").exists()
    assert not Path("/caffe-download-test-evil.txt").exists()
    assert zip_path.exists()


@pytest.mark.parametrize("prefix", ["data_raw/", "", "CaFFe release/data_raw/"])
def test_the_tree_is_found_under_any_prefix(tree, paths, prefix):
    zip_path, data_dir = paths
    zip_path.parent.mkdir(parents=True)
    junk = [
        ("__MACOSX/data_raw/sar_images/._x.png", b"junk"),
        ("README.txt", b"readme"),
    ]
    zip_path.write_bytes(zip_tree(tree, prefix=prefix, extra=junk))
    result = unpack(zip_path, data_dir)
    assert result["root_in_zip"] == prefix.rstrip("/")
    expected = files_of(tree)
    if not prefix:
        expected["README.txt"] = b"readme"  # inside the root: kept
    assert files_of(data_dir) == expected
    assert result["counts"]["sar_images"] == 3 and len(result["warnings"]) == 1


def test_a_missing_folder_fails_the_tree_check(tree, paths, tmp_path):
    zip_path, data_dir = paths
    zip_path.parent.mkdir(parents=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted(tree.rglob("*")):
            rel = p.relative_to(tree).as_posix()
            if not rel.startswith("fronts"):
                zf.write(p, "data_raw/" + rel)
    zip_path.write_bytes(buf.getvalue())
    with pytest.raises(BadArchive, match="lacks the folder.*fronts"):
        unpack(zip_path, data_dir)
    assert not data_dir.exists() and leftovers(data_dir.parent) == []


def test_a_zip_without_sar_images_is_not_caffe(paths):
    zip_path, data_dir = paths
    zip_path.parent.mkdir(parents=True)
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("something/else.txt", b"x")
    with pytest.raises(BadArchive, match="no sar_images/ folder"):
        unpack(zip_path, data_dir)
    assert not data_dir.exists()


def test_unpack_refuses_a_non_empty_data_dir(payload, paths):
    zip_path, data_dir = paths
    zip_path.parent.mkdir(parents=True)
    zip_path.write_bytes(payload)
    data_dir.mkdir(parents=True)
    (data_dir / "mine.txt").write_text("keep me")
    with pytest.raises(DownloadError, match="not empty"):
        unpack(zip_path, data_dir)
    assert [p.name for p in data_dir.iterdir()] == ["mine.txt"]
    (data_dir / "mine.txt").unlink()  # an empty folder is fine
    assert unpack(zip_path, data_dir)["counts"]["sar_images"] == 3


def test_stale_unpack_folders_of_killed_runs_are_removed(payload, paths):
    zip_path, data_dir = paths
    zip_path.parent.mkdir(parents=True)
    zip_path.write_bytes(payload)
    stale = data_dir.parent / ".data_raw.unpacking-old"
    (stale / "sar_images").mkdir(parents=True)
    unpack(zip_path, data_dir)
    assert not stale.exists() and has_caffe(data_dir)


def test_has_caffe(tmp_path):
    assert not has_caffe(tmp_path / "absent")
    (tmp_path / "sar_images" / "train").mkdir(parents=True)
    assert not has_caffe(tmp_path)
    (tmp_path / "sar_images" / "train" / "x.png").write_bytes(b"")
    assert has_caffe(tmp_path)
