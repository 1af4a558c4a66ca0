"""Unpack the CaFFe tree of a zip into data_dir, safely and all at once.

unpack()    checks every entry (no absolute paths, `..` or symbolic links),
            extracts into a hidden sibling of data_dir, checks the CRCs and the
            tree's folders and counts, and renames it into place: data_dir is
            either complete or absent.
has_caffe() tells whether data_dir already holds CaFFe images.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

from caffe_workflow.caffe.layout import FOLDERS, FULL_BOUNDING_BOXES, FULL_PNGS
from caffe_workflow.download import CHUNK, DownloadError, human_size


class BadArchive(DownloadError):
    """The zip is corrupt, unsafe or not a CaFFe archive."""


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
                f"unpacking {zip_path} needs {human_size(need)} "
                f"but {parent} has {human_size(free)} free."
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
