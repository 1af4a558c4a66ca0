"""Stage `evaluate`: a model's predictions -> the official CaFFe metrics, per image.

The protocol itself is :mod:`caffe_workflow.caffe.evaluation`; this module
runs it the way the workflow runs the per-image stage (stages/process.py):

- :mod:`caffe_workflow.predictions` reads the config key ``predictions``
  when Snakemake starts (without this module's imports);
- :func:`run_batch` is one job per (model, batch of images): it evaluates,
  in threads, only the members whose prediction or labels changed (size and
  mtime of the prediction, label front, zones and box, and
  ``EVALUATION_VERSION``) and keeps the rows of the others;
- :func:`merge` concatenates a model's batch rows into ``per_image.parquet``
  and writes ``metrics.json`` (:func:`caffe_workflow.caffe.evaluation.summarize`
  over the valid test-split rows, plus what was missing, invalid or ignored).

A prediction that cannot be scored (wrong size, values outside the set, not
an image) gives a row with ``valid`` False and the reason; the job goes on.
A prediction of an image without label files (``labelled`` False) is
checked against the image's size and post-processed as the benchmark does,
so the dataset and the report show its front; nothing of it is scored.
Predictions are read as the official evaluation reads them
(:mod:`caffe_workflow.prediction_pixels`); the labels as they are.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from caffe_workflow import EVALUATION_VERSION
from caffe_workflow.atomic import write_atomically
from caffe_workflow.caffe import evaluation as ev
from caffe_workflow.caffe.bounding_box import read_corners
from caffe_workflow.caffe.fronts import trace_fronts
from caffe_workflow.caffe.layout import has_labels
from caffe_workflow.caffe.masks import crop_window
from caffe_workflow.caffe.names import parse_stem
from caffe_workflow.fingerprint import fingerprint as stat_fingerprint
from caffe_workflow.prediction_pixels import read_prediction

PROGRESS_EVERY_S = 10.0
CLASSES = ev.ZONE_NAMES  # NA, rock, glacier, ocean: the confusion matrix order

ROW_SCHEMA = pa.schema(
    [
        ("stem", pa.string()),
        ("split", pa.string()),
        ("model", pa.string()),
        ("kind", pa.string()),
        ("prediction_path", pa.string()),
        # How the file stores its pixels: "gray" (8-bit, the labels' values:
        # usable as a mask as it is), "RGB", "palette", "class indices", ...
        ("prediction_encoding", pa.string()),
        # The zone mask the App shows: the prediction itself when it is an
        # 8-bit gray file of the labels' values, else its gray copy.
        ("mask_path", pa.string()),
        ("valid", pa.bool_()),
        # False for an image without label files: its prediction is read and
        # its front drawn (not cut to a box), nothing is scored.
        ("labelled", pa.bool_()),
        ("reason", pa.string()),
        ("glacier", pa.string()),
        ("season", pa.string()),
        ("sensor", pa.string()),
        ("resolution", pa.int32()),
        ("date_taken", pa.date32()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("has_front", pa.bool_()),
        ("mde_m", pa.float64()),
        ("distance_sum_m", pa.float64()),
        ("distance_count", pa.int64()),
        ("pred_pixels", pa.int64()),
        ("label_pixels", pa.int64()),
        # The scored (post-processed, box-cut) front as open polylines in
        # normalised (x, y), one per piece: the dataset's <model>_front.
        ("front_lines", pa.list_(pa.list_(pa.list_(pa.float64())))),
        *[(f"{m}_{c}", pa.float64()) for m in ev.METRICS for c in (*CLASSES, "mean")],
        # Zone confusion counts [label class][predicted class], row-major 4x4.
        ("zone_confusion", pa.list_(pa.int64())),
        ("fingerprint", pa.string()),
        ("evaluated_at_ns", pa.int64()),
    ]
)


# ---------------------------------------------------------------- one image


def fingerprint(prediction, front, zones, bbox) -> str:
    """What an image's scores depend on, short of reading the files."""
    return stat_fingerprint((prediction, front, zones, bbox), EVALUATION_VERSION)


def _read(path, what: str) -> np.ndarray:
    try:
        with Image.open(path) as image:
            if image.format != "PNG":
                raise ValueError(f"{what} is {image.format}, not PNG")
            return np.asarray(image)
    except FileNotFoundError:
        raise ValueError(f"{what} missing: {Path(path).name}") from None
    except (OSError, SyntaxError) as err:
        raise ValueError(f"{what} cannot be decoded: {Path(path).name} ({err})") from None


def _lines(front: np.ndarray) -> list:
    """The scored front mask -> normalised open polylines (caffe/fronts.py)."""
    if not front.any():
        return []
    height, width = front.shape
    window = crop_window(front, pad=0)
    crop = np.ascontiguousarray(front[window], dtype=np.uint8) * np.uint8(255)
    top, left = window[0].start, window[1].start
    lines = trace_fronts(crop.tobytes(), crop.shape[1], crop.shape[0])
    return [
        [[round((x + left) / width, 6), round((y + top) / height, 6)] for x, y in line]
        for line in lines
    ]


def _score(prediction, kind, label_front, corners, resolution, label_zones, postprocessed):
    """ev.evaluate_image, or for fronts the program has already post-processed
    (nnU-Net's <stem>_front.png) only the box cut, as its own evaluation does
    (evaluate_nnUNet.py: calculate_front_delineation_metric)."""
    if not postprocessed:
        return ev.evaluate_image(prediction, kind, label_front, corners, resolution, label_zones)
    reason = ev.validate_prediction(prediction, label_front.shape, kind)
    if reason is not None:
        return {"valid": False, "reason": reason, "front": None, "zones": None}
    front = ev.cut_to_box(prediction == 255, corners)
    return {
        "valid": True,
        "reason": None,
        "front": front,
        "zones": None,
        **ev.front_error(front, label_front, resolution),
    }


def evaluate_member(
    member: dict,
    model: str,
    kind: str,
    postprocessed: bool = False,
    masks_dir: str | os.PathLike | None = None,
) -> dict:
    """One image's row; ``member`` = {split, stem, prediction, front, zones,
    bbox} and, for an image without label files, its ``image``.
    ``postprocessed``: fronts the program that wrote them has post-processed.
    ``masks_dir``: where a zone prediction that is not a gray file of the
    labels' values (RGB, palette, class indices) gets the gray copy FiftyOne
    shows as its mask."""
    row = {
        "stem": member["stem"],
        "split": member["split"],
        "model": model,
        "kind": kind,
        "prediction_path": member["prediction"],
        "fingerprint": fingerprint(
            member["prediction"], member["front"], member["zones"], member["bbox"]
        ),
        "evaluated_at_ns": time.time_ns(),
        "valid": False,
        "labelled": has_labels(member["zones"], member["front"], member["bbox"]),
    }
    if not row["labelled"]:
        return _unlabelled(row, member, kind, postprocessed, masks_dir)
    try:
        keys, prediction = _read_prediction(row, member, kind, masks_dir)
        label_front = _read(member["front"], "label front") == 255
        label_zones = _read(member["zones"], "label zones") if kind == "zones" else None
        corners = read_corners(member["bbox"])
    except (ValueError, OSError) as err:
        row["reason"] = str(err).splitlines()[0]
        return row
    row["height"], row["width"] = label_front.shape
    if label_zones is not None and label_zones.shape != label_front.shape:
        row["reason"] = "label zones and label front differ in size"
        return row
    try:
        result = _score(
            prediction, kind, label_front, corners, keys["resolution"], label_zones, postprocessed
        )
    except ValueError as err:  # e.g. label zones with values outside the set
        row["reason"] = str(err).splitlines()[0]
        return row
    if not result["valid"]:
        row["reason"] = result["reason"]
        return row
    row["valid"] = True
    for name in ("has_front", "mde_m", "distance_sum_m", "distance_count"):
        row[name] = result[name]
    row["pred_pixels"], row["label_pixels"] = result["pred_pixels"], result["label_pixels"]
    row["front_lines"] = _lines(result["front"])
    if result["zones"] is not None:
        for m in ev.METRICS:
            for c, v in result["zones"][m].items():
                row[f"{m}_{c}"] = v
        row["zone_confusion"] = [int(v) for v in result["zones"]["confusion"].ravel()]
    return row


def _read_prediction(row: dict, member: dict, kind: str, masks_dir) -> tuple[dict, np.ndarray]:
    """The image's breakdown keys and its prediction, both also put in `row`;
    ValueError or OSError when the name or the file cannot be read."""
    keys = ev.image_keys(member["stem"])
    row.update(keys)
    row["date_taken"] = parse_stem(member["stem"]).date_taken
    prediction, row["prediction_encoding"] = read_prediction(member["prediction"], kind)
    if kind == "zones":
        row["mask_path"] = _mask_path(member, prediction, row["prediction_encoding"], masks_dir)
    return keys, prediction


def _unlabelled(row: dict, member: dict, kind: str, postprocessed: bool, masks_dir) -> dict:
    """The row of a prediction of an image without labels: checked against
    the image's size, its front post-processed (no box to cut it to)."""
    try:
        if not member.get("image"):
            raise ValueError("the image has no labels and its SAR file is not known")
        with Image.open(member["image"]) as image:
            row["width"], row["height"] = image.size
        keys, prediction = _read_prediction(row, member, kind, masks_dir)
    except (ValueError, OSError) as err:
        row["reason"] = str(err).splitlines()[0]
        return row
    reason = ev.validate_prediction(prediction, (row["height"], row["width"]), kind)
    if reason is not None:
        row["reason"] = reason
        return row
    front = (
        prediction == 255
        if postprocessed
        else ev.predicted_front(prediction, kind, keys["resolution"])
    )
    row["valid"] = True
    row["has_front"] = bool(front.any())
    row["pred_pixels"] = int(front.sum())
    row["front_lines"] = _lines(front)
    return row


def _mask_path(member: dict, prediction: np.ndarray, encoding: str, masks_dir) -> str:
    if encoding == "gray" or masks_dir is None:
        return member["prediction"]
    path = Path(masks_dir, f"{member['stem']}.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda f: Image.fromarray(prediction).save(f, format="PNG"))
    return str(path)


# ---------------------------------------------------------------- batch job


def rows_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=ROW_SCHEMA)


def _message(row: dict) -> list[str]:
    if row["valid"]:
        return []
    return [f"{row['prediction_path']}: invalid prediction: {row['reason']}\n"]


def run_batch(
    members: list[dict],
    model: str,
    kind: str,
    rows_path: str | os.PathLike,
    workers: int = 1,
    postprocessed: bool = False,
) -> dict:
    """Bring one (model, batch) file of rows up to date; {"evaluated", "kept"}.

    ``members``: the batch's images that have a prediction, each {split,
    stem, prediction, front, zones, bbox}. Rows whose fingerprint is unchanged
    are kept as they are (the file is an update() output).
    """
    rows_path = Path(rows_path)
    # Beside the model's batches/: evaluation/<model>/masks/<stem>.png.
    masks = rows_path.parent.parent / "masks"
    old = {}
    if rows_path.exists():
        try:
            previous = pq.read_table(rows_path)
            if previous.schema.equals(ROW_SCHEMA):
                old = {r["stem"]: r for r in previous.to_pylist()}
        except (OSError, pa.ArrowException) as err:
            print(f"not reusing {rows_path} ({err})", file=sys.stderr)
    todo, rows = [], {}
    for m in members:
        row = old.get(m["stem"])
        stamp = fingerprint(m["prediction"], m["front"], m["zones"], m["bbox"])
        if (
            row is None
            or row["fingerprint"] != stamp
            or row["prediction_path"] != m["prediction"]
            or row["kind"] != kind
        ):
            todo.append(m)
        else:
            rows[m["stem"]] = row
            sys.stderr.writelines(_message(row))
    last = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:
        for done, (m, row) in enumerate(
            zip(
                todo,
                pool.map(lambda m: evaluate_member(m, model, kind, postprocessed, masks), todo),
            ),
            1,
        ):
            rows[m["stem"]] = row
            sys.stderr.writelines(_message(row))
            # Progress in the job's log, at most every PROGRESS_EVERY_S seconds.
            if time.monotonic() - last >= PROGRESS_EVERY_S and done < len(todo):
                print(f"{done} of {len(todo)} images evaluated", file=sys.stderr)
                last = time.monotonic()
    table = rows_table([rows[stem] for stem in sorted(rows)])
    write_atomically(rows_path, lambda f: pq.write_table(table, f))
    return {"evaluated": len(todo), "kept": len(members) - len(todo)}


# ---------------------------------------------------------------- merge


def summary_records(rows: list[dict]) -> list[dict]:
    """Rows as :func:`caffe_workflow.caffe.evaluation.summarize` records."""
    records = []
    for r in rows:
        record = dict(r)
        if r.get("zone_confusion"):
            record["zones"] = {
                m: {c: r[f"{m}_{c}"] for c in (*CLASSES, "mean")} for m in ev.METRICS
            }
        else:
            record.pop("zones", None)
        records.append(record)
    return records


def ignored_files(ignored, source: dict | None) -> list[dict]:
    """Every file of the folder that was not scored and why: predictions of
    stems that are no image of the catalog, and files of no known name."""
    out = [
        {"file": stem, "reason": "no image of the catalog has this stem"}
        for stem in sorted(ignored)
    ]
    out += [{"file": f, "reason": why} for f, why in (source or {}).get("ignored") or []]
    return out


def metrics(rows: list[dict], model: str, kind: str, test_stems, ignored, source=None) -> dict:
    """metrics.json: summarize() over the valid test-split rows, and the rest.

    ``source``: what was read of the folder (predictions.Predictions.source()).
    """
    test_stems = sorted(test_stems)
    # Predictions of images without labels are shown, not scored.
    labelled = [r for r in rows if r.get("labelled") is not False]
    test = [r for r in labelled if r["split"] == "test"]
    valid = [r for r in test if r["valid"]]
    out = {"model": model, "kind": kind, "split": "test"}
    out |= ev.summarize(summary_records(valid))
    predicted = {r["stem"] for r in rows}
    missing = [s for s in test_stems if s not in predicted]
    out["images_missing"] = {"count": len(missing), "stems": missing}
    out["invalid_predictions"] = {
        r["stem"]: r["reason"] for r in sorted(rows, key=lambda r: r["stem"]) if not r["valid"]
    }
    out["ignored_stems"] = sorted(ignored)
    files = ignored_files(ignored, source)
    out["ignored_files"] = {"count": len(files), "files": files}
    out["other_split_images_evaluated"] = sum(1 for r in labelled if r["split"] != "test")
    out["unlabelled_images_predicted"] = sum(
        1 for r in rows if r.get("labelled") is False and r["valid"]
    )
    if source:
        out["source"] = {k: source[k] for k in ("folder", "layout", "postprocessed", "other_kind")}
    return out


def merge(
    batch_files: list[str],
    model: str,
    kind: str,
    test_stems,
    ignored,
    per_image: str | os.PathLike,
    metrics_path: str | os.PathLike,
    source: dict | None = None,
) -> dict:
    tables = [pq.read_table(p) for p in batch_files]
    table = pa.concat_tables(tables) if tables else rows_table([])
    table = table.sort_by("stem") if table.num_rows else table
    write_atomically(per_image, lambda f: pq.write_table(table, f))
    summary = metrics(table.to_pylist(), model, kind, test_stems, ignored, source)
    text = json.dumps(summary, indent=2, default=str) + "\n"
    write_atomically(metrics_path, lambda f: f.write(text.encode()))
    return summary
