"""Per-image step: one SAR image in, one folder of validated results out.

    python -m caffe_workflow.stages.process --image I --zones Z --front F --bbox B \
        --split S --out-dir results/images/S/STEM --thumbnail-height 256

The folder holds `metadata.parquet` (one catalog row), and, where they could be
made, `thumbnail.jpg`, `zones.png` and `front.png` (byte copies of masks that
passed validation). Everything is written into a hidden sibling folder first and
renamed at the end, so the folder is either complete or absent.

Bad input never fails the job: what is wrong goes into the row's `problems`
(the image is invalid) or `warnings` (it was handled), and the job succeeds.

The workflow calls `process_and_log` in threads of the Snakemake process (a
`run:` rule), so this must be thread-safe (no process-wide state such as
warnings filters) and cheap to import: only the standard library and Pillow.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import sys
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngImageFile

from caffe_workflow import OUTPUT_VERSION
from caffe_workflow.caffe.bounding_box import read_front_extent
from caffe_workflow.caffe.fronts import polyline_length, trace_fronts
from caffe_workflow.caffe.labels import check_front, check_zones
from caffe_workflow.caffe.names import parse_stem
from caffe_workflow.parquet_row import write_table

# Refuse images beyond this many pixels rather than exhaust memory. The largest
# CaFFe image (COL at 7 m) has 9.4 megapixels.
MAX_PIXELS = 64_000_000

# The per-image row; the catalog merge turns the *_json columns into lists.
COLUMNS = {
    "stem": "string",
    "split": "string",
    "filepath": "string",
    "glacier": "string",
    "glacier_name": "string",
    "date_taken": "date",
    "year": "int32",
    "season": "string",
    "hemisphere": "string",
    "satellite": "string",
    "sensor_band": "string",
    "spatial_resolution": "int32",
    "quality_factor": "int32",
    "orbit": "string",
    "modality": "string",
    "width": "int32",
    "height": "int32",
    "size_bytes": "int64",
    "image_sha256": "string",
    "image_mode": "string",
    "zone_na_fraction": "double",
    "zone_rock_fraction": "double",
    "zone_glacier_fraction": "double",
    "zone_ocean_fraction": "double",
    "front_pixels": "int64",
    "front_length_km": "double",
    "front_lines_json": "string",
    "front_extent_json": "string",
    "valid": "bool",
    "problems_json": "string",
    "warnings_json": "string",
    "zones_path": "string",
    "front_path": "string",
    "thumbnail_path": "string",
    "output_version": "int32",
}


def _open(
    path: Path, what: str, problems: list[str], data: bytes | None = None
) -> Image.Image | None:
    """Open and fully decode a PNG (from `data` if given), or record why not."""
    if data is None and not path.exists():
        problems.append(f"{what} missing: {path.name}")
        return None
    source = path if data is None else io.BytesIO(data)
    try:
        try:
            # The PNG reader directly, and the size checks below are ours:
            # Image.open's decompression-bomb check warns through the
            # process-wide warnings filters, which cannot be changed safely
            # here (the rule runs this in threads of the Snakemake process).
            image = PngImageFile(source)
        except SyntaxError:  # not a PNG: Image.open names what it is
            if data is not None:
                source.seek(0)
            image = Image.open(source)
            problems.append(f"{what} is {image.format}, not PNG: {path.name}")
            return None
        pixels = image.width * image.height
        if Image.MAX_IMAGE_PIXELS and pixels > Image.MAX_IMAGE_PIXELS:
            problems.append(
                f"{what} refused as a decompression bomb: {path.name} "
                f"({image.width}x{image.height} = {pixels:,} pixels)"
            )
            return None
        if pixels > MAX_PIXELS:
            problems.append(
                f"{what} is {image.width}x{image.height}, larger than the "
                f"{MAX_PIXELS:,}-pixel limit: {path.name}"
            )
            return None
        image.load()  # decode now, so truncation shows here
        return image
    except Image.DecompressionBombError as err:  # from Image.open, for a non-PNG
        problems.append(f"{what} refused as a decompression bomb: {path.name} ({err})")
    except (OSError, SyntaxError, ValueError) as err:
        problems.append(f"{what} cannot be decoded: {path.name} ({err})")
    return None


def _to_grayscale(image: Image.Image, warns: list[str]) -> Image.Image:
    """SAR images are 8-bit grayscale; convert anything else and say so."""
    if image.mode == "L":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        lo, hi = image.getextrema()
        scale = 255 / (hi - lo) if hi > lo else 0
        converted = image.point(lambda v: (v - lo) * scale).convert("L")
        warns.append(
            f"image has mode {image.mode}; its range {lo}..{hi} was stretched "
            "to 8-bit grayscale for the thumbnail"
        )
        return converted
    warns.append(f"image has mode {image.mode}; converted to 8-bit grayscale")
    return image.convert("L")


def _thumbnail(image: Image.Image, height: int, path: Path) -> None:
    width = max(1, round(image.width * height / image.height))
    # reducing_gap lets Pillow box-reduce first, which is much faster on big images.
    small = image.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=2.0)
    small.save(path, "JPEG", quality=85)


def process(
    image_path: Path,
    zones_path: Path,
    front_path: Path,
    bbox_path: Path,
    split: str,
    out_dir: Path,
    thumbnail_height: int,
) -> dict:
    """Build the folder `out_dir` for one image; returns the row written."""
    image_path = image_path.absolute()
    out_dir = out_dir.absolute()
    stem = image_path.stem
    work = out_dir.with_name(f".{out_dir.name}.{os.getpid()}.tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    # Read the SAR file once: its checksum tells a replaced image from the old
    # one even when every measured value is the same, and Pillow decodes it.
    data = image_path.read_bytes()
    name = parse_stem(stem)
    problems, warns = list(name.problems), list(name.warnings)
    row = {
        "stem": stem,
        "split": split,
        "filepath": str(image_path),
        "glacier": name.glacier,
        "glacier_name": name.glacier_name,
        "date_taken": name.date_taken,
        "year": name.date_taken.year if name.date_taken else None,
        "season": name.season,
        "hemisphere": name.hemisphere,
        "satellite": name.satellite,
        "sensor_band": name.sensor_band,
        "spatial_resolution": name.spatial_resolution,
        "quality_factor": name.quality_factor,
        "orbit": name.orbit,
        "modality": name.modality,
        "size_bytes": len(data),
        "image_sha256": hashlib.sha256(data).hexdigest(),
        "output_version": OUTPUT_VERSION,
    }

    image = _open(image_path, "image", problems, data)
    if image is not None:
        row.update(width=image.width, height=image.height, image_mode=image.mode)
        _thumbnail(_to_grayscale(image, warns), thumbnail_height, work / "thumbnail.jpg")
        row["thumbnail_path"] = str(out_dir / "thumbnail.jpg")
        size = image.size
        del image, data  # the full-size pixels are no longer needed

        zones = _open(zones_path, "zone mask", problems)
        fractions = zones and check_zones(zones, size, problems)
        if fractions:
            for cls, fraction in fractions.items():
                row[f"zone_{cls}_fraction"] = fraction
            shutil.copyfile(zones_path, work / "zones.png")
            row["zones_path"] = str(out_dir / "zones.png")

        front = _open(front_path, "front mask", problems)
        front_pixels = front and check_front(front, size, problems)
        if front_pixels:
            row["front_pixels"] = front_pixels
            # Trace inside the front's bounding box: copying out the whole
            # mask (tobytes) cost more than the tracing.
            left, top, right, bottom = front.getbbox()
            lines = trace_fronts(
                front.crop((left, top, right, bottom)).tobytes(), right - left, bottom - top
            )
            w, h = size
            row["front_lines_json"] = json.dumps(
                [
                    [[round((x + left) / w, 6), round((y + top) / h, 6)] for x, y in line]
                    for line in lines
                ]
            )
            if name.spatial_resolution:
                length_px = sum(polyline_length(line) for line in lines)
                row["front_length_km"] = length_px * name.spatial_resolution / 1000
            shutil.copyfile(front_path, work / "front.png")
            row["front_path"] = str(out_dir / "front.png")

        extent = read_front_extent(bbox_path, *size, problems)
        if extent is not None:
            row["front_extent_json"] = json.dumps([round(v, 6) for v in extent])

    row["valid"] = not problems
    row["problems_json"] = json.dumps(problems)
    row["warnings_json"] = json.dumps(warns)
    write_table(work / "metadata.parquet", COLUMNS, [row])
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(work, out_dir)
    return row


def process_and_log(
    image: str,
    zones: str,
    front: str,
    bbox: str,
    split: str,
    out_dir: str,
    thumbnail_height: int,
    log: str | None = None,
) -> dict:
    """`process`, then one line per problem or warning, naming the image, to
    `log` (stderr when None). The Snakemake rule calls this in-process."""
    row = process(
        Path(image), Path(zones), Path(front), Path(bbox), split, Path(out_dir), thumbnail_height
    )
    lines = [f"{image}: invalid: {p}\n" for p in json.loads(row["problems_json"])]
    lines += [f"{image}: warning: {w}\n" for w in json.loads(row["warnings_json"])]
    if log is None:
        sys.stderr.writelines(lines)
    else:
        Path(log).write_text("".join(lines))
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", type=Path, required=True)
    parser.add_argument("--zones", type=Path, required=True)
    parser.add_argument("--front", type=Path, required=True)
    parser.add_argument("--bbox", type=Path, required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--thumbnail-height", type=int, default=256)
    args = parser.parse_args(argv)
    process_and_log(
        args.image,
        args.zones,
        args.front,
        args.bbox,
        args.split,
        args.out_dir,
        args.thumbnail_height,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
