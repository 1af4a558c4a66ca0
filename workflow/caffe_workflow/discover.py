"""Find the SAR images of a CaFFe `data_raw/` tree (run by the Snakefile at parse time).

Layout: `sar_images/{train,test}/<stem>.png`, with `zones/{split}/<stem>_zones.png`,
`fronts/{split}/<stem>_front.png` and `bounding_boxes/<stem>_front_extent_coord.txt`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

SPLITS = ("train", "test")


class DataDirError(Exception):
    """The data directory cannot be used at all; raised before any work starts."""


@dataclass
class Discovery:
    images: dict[tuple[str, str], Path] = field(default_factory=dict)  # (split, stem)
    ignored: list[tuple[Path, str]] = field(default_factory=list)  # (file, why)


def label_paths(data_dir: Path, split: str, stem: str) -> dict[str, Path]:
    return {
        "zones": data_dir / "zones" / split / f"{stem}_zones.png",
        "front": data_dir / "fronts" / split / f"{stem}_front.png",
        "bbox": data_dir / "bounding_boxes" / f"{stem}_front_extent_coord.txt",
    }


def discover(data_dir: Path) -> Discovery:
    """Every `sar_images/<split>/*.png`; other files are listed as ignored."""
    sar_dir = data_dir / "sar_images"
    if not data_dir.is_dir():
        raise DataDirError(f"data_dir {data_dir} does not exist or is not a directory")
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
            found.ignored.append(
                (Path(entry.path), "split folder is neither 'train' nor 'test'")
            )
        else:
            for item in sorted(os.scandir(entry.path), key=lambda e: e.name):
                path = Path(item.path)
                if item.is_file() and item.name.endswith(".png"):
                    found.images[(entry.name, path.stem)] = path
                else:
                    found.ignored.append((path, "not a .png file"))
    if not found.images:
        raise DataDirError(f"data_dir {data_dir} holds no SAR images (sar_images/train|test/*.png)")
    return found


HOW_TO_GET_DATA = (
    "get CaFFe's data_raw.zip from "
    "https://download.pangaea.de/dataset/940950/files/data_raw.zip "
    "(or the Hugging Face mirror torchgeo/caffe), unzip it and set data_dir "
    "to the data_raw folder (config/config.yaml or --config data_dir=...)"
)


def main(argv: list[str] | None = None) -> int:
    """Check that data_dir holds CaFFe and record what was found."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--record", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        found = discover(args.data_dir)
    except DataDirError as err:
        print(f"Error: {err}; {HOW_TO_GET_DATA}.", file=sys.stderr)
        return 1
    record = {
        "data_dir": str(args.data_dir.absolute()),
        "images": len(found.images),
        "ignored": [str(path) for path, _ in found.ignored],
    }
    args.record.parent.mkdir(parents=True, exist_ok=True)
    args.record.write_text(json.dumps(record, indent=2) + "\n")
    print(f"{len(found.images)} SAR images in {args.data_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
