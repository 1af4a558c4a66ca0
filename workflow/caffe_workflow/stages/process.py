"""Stage `process`: SAR images in, one folder of validated results per image out.

The rule runs one job per batch of images (caffe_workflow.batches); the job
calls `run_batch`, which processes, in a pool of threads, the members whose
inputs changed since its last run and writes every member's row to the
batch's Parquet file, which the catalog stage concatenates. By hand, one image:

    python -m caffe_workflow.stages.process --image I --zones Z --front F --bbox B \
        --split S --out-dir results/caffe/images/S/STEM --thumbnail-height 256

An image's folder holds `metadata.parquet` (its catalog row) and, where they
could be made, `thumbnail.jpg`, `zones.png` and `front.png` (byte copies of
masks that passed validation). Everything is written into a hidden sibling
folder first and renamed at the end, so the folder is either complete or absent.

An image with none of its three label files is a valid, unlabelled image
(`labelled` False): a new acquisition. One with some but not all of them is
invalid, each missing file a problem.

Bad input never fails the job: what is wrong goes into the row's `problems`
(the image is invalid) or `warnings` (it was handled), and the job succeeds.
`process` runs in threads (Pillow's decoding, resizing and hashing release
the interpreter lock), so it keeps no process-wide state such as warnings filters.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import io
import os
import shutil
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image
from PIL.PngImagePlugin import PngImageFile

from caffe_workflow import OUTPUT_VERSION
from caffe_workflow.atomic import write_atomically
from caffe_workflow.caffe.bounding_box import read_front_extent
from caffe_workflow.caffe.features import sar_features
from caffe_workflow.caffe.fronts import polyline_length, trace_fronts
from caffe_workflow.caffe.labels import check_front, check_zones
from caffe_workflow.caffe.layout import has_labels
from caffe_workflow.caffe.names import parse_stem
from caffe_workflow.caffe.splits import official_split
from caffe_workflow.fingerprint import fingerprint as stat_fingerprint
from caffe_workflow.rows import earlier_schema, row_sha, rows_table

# Refuse images beyond this many pixels rather than exhaust memory. The largest
# CaFFe image (COL at 7 m) has 9.4 megapixels.
MAX_PIXELS = 64_000_000


def fingerprint(image, zones, front, bbox, thumbnail_height: int) -> str:
    """What the row of an image depends on, short of reading the files."""
    return stat_fingerprint((image, zones, front, bbox), OUTPUT_VERSION, thumbnail_height)


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
    stamp = fingerprint(image_path, zones_path, front_path, bbox_path, thumbnail_height)
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
        "official_split": official_split(split, stem),
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
        "fingerprint": stamp,
    }

    labelled = has_labels(zones_path, front_path, bbox_path)
    row["labelled"] = labelled
    image = _open(image_path, "image", problems, data)
    size = None
    if image is not None:
        row.update(width=image.width, height=image.height, image_mode=image.mode)
        gray = _to_grayscale(image, warns)
        _thumbnail(gray, thumbnail_height, work / "thumbnail.jpg")
        row["thumbnail_path"] = str(out_dir / "thumbnail.jpg")
        row["features"] = sar_features(gray).tolist()
        size = image.size
        del image, gray, data  # the full-size pixels are no longer needed
    if size is not None and labelled:
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
            row["front_lines"] = [
                [[round((x + left) / w, 6), round((y + top) / h, 6)] for x, y in line]
                for line in lines
            ]
            if name.spatial_resolution:
                length_px = sum(polyline_length(line) for line in lines)
                row["front_length_km"] = length_px * name.spatial_resolution / 1000
            shutil.copyfile(front_path, work / "front.png")
            row["front_path"] = str(out_dir / "front.png")

        extent = read_front_extent(bbox_path, *size, problems)
        if extent is not None:
            row["front_extent"] = [round(v, 6) for v in extent]

    row["valid"] = not problems
    row["problems"] = problems
    row["warnings"] = warns
    row["row_sha"] = row_sha(row)  # once: the batch's table keeps it
    pq.write_table(rows_table([row]), work / "metadata.parquet")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(work, out_dir)
    return row


def _messages(image, row: dict) -> list[str]:
    """One line per problem or warning, naming the image."""
    return [f"{image}: invalid: {p}\n" for p in row["problems"]] + [
        f"{image}: warning: {w}\n" for w in row["warnings"]
    ]


def process_and_log(member: dict, images_root: Path, thumbnail_height: int) -> tuple[dict, list]:
    """`process` one batch member ({split, stem, image, zones, front, bbox})."""
    out_dir = Path(images_root) / member["split"] / member["stem"]
    row = process(
        Path(member["image"]),
        Path(member["zones"]),
        Path(member["front"]),
        Path(member["bbox"]),
        member["split"],
        out_dir,
        thumbnail_height,
    )
    return row, _messages(member["image"], row)


def run_batch(
    members: list[dict],
    rows_path: str | os.PathLike,
    images_root: str | os.PathLike,
    thumbnail_height: int,
    workers: int = 1,
    redone: list | None = None,
) -> dict:
    """Bring one batch's rows up to date; returns {"processed": n, "kept": n}
    and appends the stems it processed to `redone` (when given).

    A member is processed when the previous rows (`rows_path`, kept by
    Snakemake as an update() output) hold no row for it, its fingerprint
    changed or its folder is gone; the rows of the others are kept as they
    are. Every member's problems and warnings go to stderr (the job's log).
    """
    rows_path, images_root = Path(rows_path), Path(images_root)
    old = {}
    if rows_path.exists():
        try:
            previous = pq.read_table(rows_path)
            if earlier_schema(previous.schema):
                old = {(r["split"], r["stem"]): r for r in previous.to_pylist()}
        except (OSError, pa.ArrowException) as err:  # a damaged file: redo the batch
            print(f"not reusing {rows_path} ({err})", file=sys.stderr)
    todo, rows = [], {}
    for m in members:
        key = (m["split"], m["stem"])
        row = old.get(key)
        if (
            row is None
            or row["fingerprint"]
            != fingerprint(m["image"], m["zones"], m["front"], m["bbox"], thumbnail_height)
            or not (images_root / m["split"] / m["stem"]).is_dir()
            # A row from before `labelled` of an image without labels: it
            # was made invalid for that, so it is made again.
            or (row.get("labelled") is None and not has_labels(m["zones"], m["front"], m["bbox"]))
        ):
            todo.append(m)
        else:
            # Columns added since the row was made (rows.LATER_COLUMNS): a new row_sha too.
            if row.get("official_split") is None:
                row |= {"official_split": official_split(*key), "row_sha": None}
            if row.get("labelled") is None:
                row |= {"labelled": True, "row_sha": None}
            rows[key] = row
            sys.stderr.writelines(_messages(m["image"], row))
    with concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:
        for m, (row, lines) in zip(
            todo, pool.map(lambda m: process_and_log(m, images_root, thumbnail_height), todo)
        ):
            rows[(m["split"], m["stem"])] = row
            sys.stderr.writelines(lines)
    table = rows_table([rows[key] for key in sorted(rows)])
    write_atomically(rows_path, lambda f: pq.write_table(table, f))
    if redone is not None:
        redone.extend(m["stem"] for m in todo)
    return {"processed": len(todo), "kept": len(members) - len(todo)}


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
    row = process(
        args.image,
        args.zones,
        args.front,
        args.bbox,
        args.split,
        args.out_dir,
        args.thumbnail_height,
    )
    sys.stderr.writelines(_messages(args.image, row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
