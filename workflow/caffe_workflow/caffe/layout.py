"""The layout of a CaFFe `data_raw/` tree, and finding its SAR images (run by
the Snakefile at parse time).

    sar_images/{train,test}/<stem>.png
    zones/{train,test}/<stem>_zones.png
    fronts/{train,test}/<stem>_front.png
    bounding_boxes/<stem>_front_extent_coord.txt      (no split folders)
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

SPLITS = ("train", "test")
SAR_DIR, ZONES_DIR, FRONTS_DIR, BOXES_DIR = "sar_images", "zones", "fronts", "bounding_boxes"
FOLDERS = (SAR_DIR, ZONES_DIR, FRONTS_DIR, BOXES_DIR)  # the first three hold PNGs
ZONES_SUFFIX, FRONT_SUFFIX, BOX_SUFFIX = "_zones.png", "_front.png", "_front_extent_coord.txt"

# The full release: 681 images, each with a zone mask, a front mask and a box.
FULL_IMAGES = 681
FULL_PNGS = 3 * FULL_IMAGES
FULL_BOUNDING_BOXES = FULL_IMAGES


class DataDirError(Exception):
    """The data directory cannot be used at all; raised before any work starts."""


@dataclass
class Discovery:
    images: dict[tuple[str, str], Path] = field(default_factory=dict)  # (split, stem)
    ignored: list[tuple[Path, str]] = field(default_factory=list)  # (file, why)
    sizes: dict[tuple[str, str], int] = field(default_factory=dict)  # bytes of each image


def canonical_dir(folder: str | os.PathLike) -> Path:
    """The one spelling of a folder: absolute, `~` expanded, no `.`, `..` or
    trailing slash, symbolic links resolved. Image paths are this of their
    folder plus the file name, so `data_dir=../x/`, `~/x` and a link to x give
    the same catalog rows and samples (FiftyOne only applies abspath, which
    keeps `..` forms apart from links, so the canonical form is computed here)."""
    return Path(os.path.realpath(os.path.expanduser(os.fspath(folder))))


def canonical_path(path: str | os.PathLike) -> Path:
    """canonical_dir of the file's folder, plus its name (a linked file keeps its name)."""
    head, tail = os.path.split(os.path.abspath(os.path.expanduser(os.fspath(path))))
    return canonical_dir(head) / tail


def file_parts(data_dir: Path, split: str) -> dict[str, tuple[Path, str]]:
    """(folder, suffix after the stem) of a split's SAR images ("sar") and
    label files ("zones", "front", "bbox")."""
    data_dir = Path(data_dir)
    return {
        "sar": (data_dir / SAR_DIR / split, ".png"),
        "zones": (data_dir / ZONES_DIR / split, ZONES_SUFFIX),
        "front": (data_dir / FRONTS_DIR / split, FRONT_SUFFIX),
        "bbox": (data_dir / BOXES_DIR, BOX_SUFFIX),
    }


def image_paths(data_dir: Path, split: str, stem: str) -> dict[str, Path]:
    """The SAR image ("sar") and its label files ("zones", "front", "bbox")."""
    return {
        name: folder / f"{stem}{suffix}"
        for name, (folder, suffix) in file_parts(data_dir, split).items()
    }


def label_paths(data_dir: Path, split: str, stem: str) -> dict[str, Path]:
    """The label files of an image: image_paths without "sar"."""
    paths = image_paths(data_dir, split, stem)
    del paths["sar"]
    return paths


def has_labels(zones, front, bbox) -> bool:
    """True when an image has at least one of its label files; one with none
    is a valid, unlabelled image."""
    return any(os.path.exists(p) for p in (zones, front, bbox))


def _is_utf8(name: str) -> bool:
    """False for names whose bytes are not UTF-8 (Python holds them as surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(path: Path) -> str:
    """The path as text that can always be written, undecodable bytes as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def discover(data_dir: Path) -> Discovery:
    """Every `sar_images/<split>/*.png`; other files are listed as ignored.

    Raises DataDirError, with a one-line message, when the tree cannot be used.
    """
    data_dir = canonical_dir(data_dir)
    sar_dir = data_dir / SAR_DIR
    if data_dir.exists() and not data_dir.is_dir():
        if zipfile.is_zipfile(data_dir):
            raise DataDirError(
                f"data_dir {data_dir} is a zip file: unzip it and set data_dir to the "
                "data_raw folder inside, or leave data_dir unset to download CaFFe"
            )
        raise DataDirError(f"data_dir {data_dir} is not a directory")
    if not data_dir.is_dir():
        raise DataDirError(f"data_dir {data_dir} does not exist")
    if not os.access(data_dir, os.R_OK | os.X_OK):
        raise DataDirError(f"data_dir {data_dir} is not readable")
    if not sar_dir.is_dir():
        raise DataDirError(
            f"data_dir {data_dir} holds no sar_images/ folder: "
            "it should be CaFFe's unpacked data_raw/"
        )
    found = Discovery()
    for entry in sorted(os.scandir(sar_dir), key=lambda e: e.name):
        if not entry.is_dir():
            found.ignored.append((Path(entry.path), "not a split folder"))
        elif entry.name not in SPLITS:
            raise DataDirError(
                f"split folder {entry.path} is neither 'train' nor 'test': "
                "move its images into one of those"
            )
        else:
            split_dir = canonical_dir(entry.path)
            for item in sorted(os.scandir(split_dir), key=lambda e: e.name):
                path = split_dir / item.name
                if not (item.is_file() and item.name.endswith(".png")):
                    found.ignored.append((path, "not a .png file"))
                elif not _is_utf8(item.name):
                    # Snakemake cannot encode such a path and stops with a traceback.
                    found.ignored.append((path, "name is not valid UTF-8: rename the file"))
                elif "{" in item.name or "}" in item.name:
                    # Snakemake reads {...} in a path as a wildcard: such a name
                    # cannot be a job's input or output, so it would stop the run.
                    found.ignored.append((path, "name contains { or }: rename the file"))
                else:
                    found.images[(entry.name, path.stem)] = path
                    found.sizes[(entry.name, path.stem)] = item.stat().st_size
    if not found.images:
        raise DataDirError(f"data_dir {data_dir} holds no SAR images (sar_images/train|test/*.png)")
    return found
