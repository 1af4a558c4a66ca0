"""The official CaFFe scoring protocol, fast and exact (numpy/scipy/scikit-image).

Everything here follows the official evaluation code, github
``Nora-Go/Calving_Fronts_and_Where_to_Find_Them`` (cited below as
``validate_or_test.py`` and ``data_postprocessing.py`` =
``data_processing/data_postprocessing.py``), re-implemented without its
per-pixel costs:

- zone metrics from one confusion count (``np.bincount``) instead of four
  scikit-learn calls over every pixel;
- component sizes from ``np.bincount`` of one labelling instead of one
  ``labels == k`` pass over the image per component;
- nearest distances with a KD-tree instead of an all-pairs ``cdist`` matrix
  (5,000 x 5,000 front pixels would be 200 MB).

The one step not taken verbatim is ``fil_finder.FilFinder2D`` (front models):
its longest-path analysis is ported in :mod:`caffe_workflow.caffe.longest_path`.
The bounding-box cut is :mod:`caffe_workflow.caffe.bounding_box`. The module
imports neither fiftyone nor scikit-learn; :mod:`caffe_dev.official_evaluation`
is the slow reference written from the same description.

Arrays are 2-D ``uint8`` images as read from the PNGs (row, column);
fronts returned here are boolean masks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
from scipy.spatial import cKDTree
from skimage.morphology import skeletonize

from caffe_workflow.caffe.bounding_box import Corners, cut_to_box
from caffe_workflow.caffe.labels import FRONT, GLACIER, NO_FRONT, OCEAN, ZONE_CLASSES
from caffe_workflow.caffe.longest_path import longest_paths
from caffe_workflow.caffe.masks import crop_window, label8
from caffe_workflow.caffe.names import GLACIERS, parse_stem, season_of

ZONE_VALUES = tuple(ZONE_CLASSES)
ZONE_NAMES = tuple(ZONE_CLASSES.values())
FRONT_VALUES = (NO_FRONT, FRONT)
FRONT_LENGTH_THRESHOLD_M = 750  # validate_or_test.py: post_processing, meter_threshold
METRICS = ("precision", "recall", "f1", "iou")

_ZONE_INDEX = np.full(256, 255, dtype=np.uint8)
_ZONE_INDEX[list(ZONE_VALUES)] = np.arange(4, dtype=np.uint8)


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def validate_prediction(
    prediction: np.ndarray, label_shape: tuple[int, int], kind: str
) -> str | None:
    """One-line reason why a prediction cannot be scored, or None if it can.

    ``kind`` is "zones" (values {0, 64, 127, 254}) or "front" ({0, 255}).
    The official code asserts the same value sets when it writes predictions
    (data_postprocessing.py: reconstruct_from_patches_and_binarize); a file
    from elsewhere is checked here so that one bad image does not stop the run.
    """
    allowed = _allowed_values(kind)
    if prediction.ndim != 2:
        return f"not a single-channel image (array shape {prediction.shape})"
    if prediction.shape != tuple(label_shape):
        (h, w), (lh, lw) = prediction.shape, label_shape
        return f"size {w}x{h} differs from the label's {lw}x{lh}"
    if prediction.dtype != np.uint8:
        return f"pixel type {prediction.dtype}, expected 8-bit"
    counts = np.bincount(prediction.ravel(), minlength=256)
    counts[list(allowed)] = 0
    bad = np.flatnonzero(counts)
    if bad.size:
        shown = ", ".join(str(v) for v in bad[:5]) + (", ..." if bad.size > 5 else "")
        return f"values outside {{{', '.join(map(str, allowed))}}}: {shown}"
    return None


def _allowed_values(kind: str) -> tuple[int, ...]:
    if kind == "zones":
        return ZONE_VALUES
    if kind == "front":
        return FRONT_VALUES
    raise ValueError(f"kind must be 'zones' or 'front', not {kind!r}")


# --------------------------------------------------------------------------
# Zone metrics
# --------------------------------------------------------------------------


def zone_confusion(prediction: np.ndarray, label: np.ndarray, chunk: int = 1 << 22) -> np.ndarray:
    """4x4 confusion counts [label class, predicted class], classes NA, rock, glacier, ocean.

    Counted in chunks so that peak memory stays a few MB above the images.
    Both arrays must hold only zone values (see :func:`validate_prediction`).
    """
    if prediction.shape != label.shape:
        raise ValueError(f"shapes differ: {prediction.shape} vs {label.shape}")
    p = _ZONE_INDEX[prediction.ravel()]
    t = _ZONE_INDEX[label.ravel()]
    if (p == 255).any() or (t == 255).any():
        raise ValueError("zone masks must hold only the values 0, 64, 127, 254")
    counts = np.zeros(16, dtype=np.int64)
    for start in range(0, p.size, chunk):
        code = t[start : start + chunk] * np.uint8(4) + p[start : start + chunk]
        counts += np.bincount(code, minlength=16)
    return counts.reshape(4, 4)


def zone_metrics(prediction: np.ndarray, label: np.ndarray) -> dict:
    """Per-class precision, recall, F1, IoU of one image, their mean, and the raw counts.

    Follows validate_or_test.py: calculate_segmentation_metrics /
    multi_class_metric (scikit-learn ``average=None`` on the raw prediction,
    before any post-processing), with these definitions made explicit:

    - a class absent from both prediction and label has no value (None) and
      is left out of the mean (the official code would fail to unpack three
      values there; its means over images skip NaN, print_zone_metrics);
    - 0/0 for a class present on one side only is 0.0, scikit-learn's
      ``zero_division`` default;
    - F1 = 2 tp / (2 tp + fp + fn), IoU = tp / (tp + fp + fn);
    - "mean" is the unweighted mean over the classes that have a value.

    Returns ``{"precision"|"recall"|"f1"|"iou": {"NA", "rock", "glacier",
    "ocean", "mean"}, "tp"|"fp"|"fn": {class: int}, "confusion": 4x4 array}``;
    the counts let pooled figures be computed later.
    """
    confusion = zone_confusion(prediction, label)
    tp = np.diag(confusion)
    fp = confusion.sum(axis=0) - tp
    fn = confusion.sum(axis=1) - tp
    out: dict = {name: {} for name in METRICS}
    for i, cls in enumerate(ZONE_NAMES):
        values = _class_metrics(int(tp[i]), int(fp[i]), int(fn[i]))
        for name in METRICS:
            out[name][cls] = values[name]
    for name in METRICS:
        present = [v for v in out[name].values() if v is not None]
        out[name]["mean"] = sum(present) / len(present) if present else None
    for key, arr in (("tp", tp), ("fp", fp), ("fn", fn)):
        out[key] = {cls: int(arr[i]) for i, cls in enumerate(ZONE_NAMES)}
    out["confusion"] = confusion
    return out


def _class_metrics(tp: int, fp: int, fn: int) -> dict:
    if tp + fp + fn == 0:
        return dict.fromkeys(METRICS)
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn),
        "iou": tp / (tp + fp + fn),
    }


def mean_zone_metrics(per_image: Iterable[Mapping]) -> dict:
    """Mean over images of each class's metric, skipping images where it has no value.

    validate_or_test.py: print_zone_metrics (means over images, NaN left out).
    Input: :func:`zone_metrics` results. A class with no value anywhere is None.
    """
    sums: dict = {m: {} for m in METRICS}
    for metrics in per_image:
        for m in METRICS:
            for cls, v in metrics[m].items():
                if v is not None and not (isinstance(v, float) and math.isnan(v)):
                    s, n = sums[m].get(cls, (0.0, 0))
                    sums[m][cls] = (s + v, n + 1)
    keys = [*ZONE_NAMES, "mean"]
    return {
        m: {k: (sums[m][k][0] / sums[m][k][1] if k in sums[m] else None) for k in keys}
        for m in METRICS
    }


# --------------------------------------------------------------------------
# Post-processing: prediction -> front
# --------------------------------------------------------------------------


def front_length_threshold(resolution: float) -> float:
    """Front pieces of at most this many pixels are removed: 750 m / resolution.

    validate_or_test.py: post_processing (``pixel_threshold = meter_threshold /
    resolution``, a float; pieces with ``size <= threshold`` go).
    """
    return FRONT_LENGTH_THRESHOLD_M / resolution


def _largest(labels: np.ndarray, n: int) -> int:
    """Label of the largest component; ties go to the lowest label, as np.argmax
    over cluster sizes in data_postprocessing.py: postprocess_zone_segmenation."""
    # In chunks: bincount copies the labels to int64, 2-4 times their
    # memory at once (the largest part of an evaluation job's peak).
    flat, sizes = labels.ravel(), np.zeros(n + 1, dtype=np.int64)
    for start in range(0, flat.size, 1 << 22):
        sizes += np.bincount(flat[start : start + (1 << 22)], minlength=n + 1)
    sizes[0] = 0
    return int(np.argmax(sizes))


def remove_short_fronts(front: np.ndarray, threshold: float) -> np.ndarray:
    """Drop 8-connected pieces of at most ``threshold`` pixels.

    data_postprocessing.py: extract_front_from_zones / postprocess_front_segmenation
    (``cluster_size <= front_length_threshold`` -> 0).
    """
    out = np.zeros(front.shape, dtype=bool)
    if not front.any():
        return out
    # A front is a thin line: labelling its bounding box only is the same
    # and far less work than the whole image.
    window = crop_window(front, pad=0)
    labels, n = label8(front[window], compact=True)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    keep = sizes > threshold
    keep[0] = False
    out[window] = keep[labels]
    return out


def postprocess_zones(zones: np.ndarray) -> np.ndarray:
    """One ocean: data_postprocessing.py: postprocess_zone_segmenation, on a copy.

    (1) Non-ocean means NA, rock and glacier together (the official code
    labels ``mask != 254``); of its 8-connected components all but the largest
    become ocean (islands, icebergs). (2) Of the 8-connected ocean components
    the largest stays ocean; every other ocean pixel becomes glacier (lakes,
    holes). Ties of "largest": the component met first in raster order.
    """
    out = zones.copy()
    labels, n = label8(out != OCEAN, compact=True)
    if n > 1:
        out[_others(labels, n)] = OCEAN
    del labels  # not two label images at once
    labels, n = label8(out == OCEAN, compact=True)
    if n == 0:
        return out
    out[_others(labels, n)] = GLACIER
    return out


def _others(labels: np.ndarray, n: int) -> np.ndarray:
    """Pixels of every component but the largest (one mask, built in place)."""
    mask = labels != 0
    mask &= labels != _largest(labels, n)
    return mask


def front_from_zones(zones: np.ndarray, threshold: float) -> np.ndarray:
    """Zone prediction -> front mask (bool), as the official zone pipeline.

    validate_or_test.py: post_processing calls postprocess_zone_segmenation,
    then extract_front_from_zones: the front is every ocean pixel with a
    4-neighbour glacier pixel (the image is padded with 0 = NA, so the
    outside is never glacier); then pieces of at most ``threshold`` pixels go.
    """
    z = postprocess_zones(zones)
    glacier = np.pad(z == GLACIER, 1)
    touches = glacier[:-2, 1:-1] | glacier[2:, 1:-1] | glacier[1:-1, :-2] | glacier[1:-1, 2:]
    return remove_short_fronts((z == OCEAN) & touches, threshold)


def front_from_front_prediction(prediction: np.ndarray, threshold: float) -> np.ndarray:
    """Front prediction (0/255) -> front mask (bool), as the official front pipeline.

    data_postprocessing.py: postprocess_front_segmenation. A single-valued
    image is returned as it is (all 0: no front; all 255: every pixel is
    front, not thresholded). Otherwise skeletonize, keep each skeleton's
    longest path (FilFinder2D, see :mod:`~caffe_workflow.caffe.longest_path`), and drop pieces of
    at most ``threshold`` pixels.
    """
    foreground = prediction != 0
    if foreground.all() or not foreground.any():
        return foreground
    window = crop_window(foreground, pad=2)
    skeleton = np.zeros_like(foreground)
    skeleton[window] = longest_paths(skeletonize(foreground[window]))
    return remove_short_fronts(skeleton, threshold)


# --------------------------------------------------------------------------
# Distances and the mean distance error
# --------------------------------------------------------------------------


def _pixel_coordinates(mask: np.ndarray) -> np.ndarray:
    """(row, column) of the True pixels, in raster order: np.argwhere, without
    its 2-D nonzero, which is far slower on a sparse full-size mask."""
    flat = np.flatnonzero(mask)
    return np.column_stack(np.divmod(flat, mask.shape[1]))


def front_distances(
    pred_front: np.ndarray, label_front: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Nearest distances in pixels: each predicted pixel to the label, and
    each label pixel to the prediction.

    validate_or_test.py: front_error, with a KD-tree instead of the all-pairs
    ``cdist`` (same values: exact Euclidean nearest distances). None when
    either mask has no front pixel (the image is then left out).
    """
    pred, label = _pixel_coordinates(pred_front), _pixel_coordinates(label_front)
    if len(pred) == 0 or len(label) == 0:
        return None
    to_label = cKDTree(label).query(pred, k=1)[0]
    to_pred = cKDTree(pred).query(label, k=1)[0]
    return to_label, to_pred


def front_error(pred_front: np.ndarray, label_front: np.ndarray, resolution: float) -> dict:
    """Per-image distance figures in metres, what the pooled MDE needs.

    Returns ``{"distance_sum_m", "distance_count", "mde_m", "pred_pixels",
    "label_pixels", "has_front"}``; without a front pixel on either side
    ``has_front`` is False, the sum and count are 0 and ``mde_m`` is None
    (validate_or_test.py: calculate_front_delineation_metric counts such an
    image as "no predicted front" and leaves it out of the mean).
    """
    record = {
        "pred_pixels": int(np.count_nonzero(pred_front)),
        "label_pixels": int(np.count_nonzero(label_front)),
    }
    distances = front_distances(pred_front, label_front)
    if distances is None:
        return {
            **record,
            "has_front": False,
            "distance_sum_m": 0.0,
            "distance_count": 0,
            "mde_m": None,
        }
    total = float(distances[0].sum() + distances[1].sum()) * resolution
    count = int(distances[0].size + distances[1].size)
    return {
        **record,
        "has_front": True,
        "distance_sum_m": total,
        "distance_count": count,
        "mde_m": total / count,
    }


def predicted_front(prediction: np.ndarray, kind: str, resolution: float) -> np.ndarray:
    """The predicted front after the official post-processing, before the box
    cut (validate_or_test.py: post_processing; zones:
    postprocess_zone_segmenation + extract_front_from_zones; fronts:
    postprocess_front_segmenation). An image without labels has no box: its
    front is this."""
    threshold = front_length_threshold(resolution)
    if kind == "zones":
        return front_from_zones(prediction, threshold)
    if kind == "front":
        return front_from_front_prediction(prediction, threshold)
    raise ValueError(f"kind must be 'zones' or 'front', not {kind!r}")


def postprocessed_front(
    prediction: np.ndarray, kind: str, resolution: float, corners: Corners
) -> np.ndarray:
    """The predicted front that is scored: post-processing, then the box cut
    (validate_or_test.py: post_processing, mask_prediction_with_bounding_box)."""
    return cut_to_box(predicted_front(prediction, kind, resolution), corners)


def evaluate_image(
    prediction: np.ndarray,
    kind: str,
    label_front: np.ndarray,
    corners: Corners,
    resolution: float,
    label_zones: np.ndarray | None = None,
) -> dict:
    """Everything the protocol computes for one image, as one record.

    ``{"valid", "reason", "front" (bool mask that was scored, or None),
    distance fields of :func:`front_error`, "zones" (:func:`zone_metrics`,
    zone models with ``label_zones`` only)}``. An invalid prediction
    (:func:`validate_prediction`) has ``valid`` False and a one-line reason.
    """
    reason = validate_prediction(prediction, label_front.shape, kind)
    if reason is not None:
        return {"valid": False, "reason": reason, "front": None, "zones": None}
    zones = (
        zone_metrics(prediction, label_zones)
        if kind == "zones" and label_zones is not None
        else None
    )
    front = postprocessed_front(prediction, kind, resolution, corners)
    return {
        "valid": True,
        "reason": None,
        "front": front,
        "zones": zones,
        **front_error(front, label_front, resolution),
    }


# --------------------------------------------------------------------------
# Pooling and breakdowns
# --------------------------------------------------------------------------


def season(glacier: str, month: int) -> str:
    """ "winter" or "summer" of the glacier's hemisphere.

    validate_or_test.py: check_whether_winter_half_year: COL and JAC are
    northern, winter = months 1-3 and 9-12; every other glacier, an unknown
    one too, is southern with the halves swapped.
    """
    hemisphere = GLACIERS.get(glacier, (None, "south"))[1]
    return season_of(hemisphere, month)


def sensor_group(satellite: str) -> str:
    """TSX and TDX count as one sensor, "TSX/TDX"
    (validate_or_test.py: front_delineation_metric)."""
    return "TSX/TDX" if satellite in ("TSX", "TDX") else satellite


def image_keys(stem: str) -> dict:
    """Breakdown keys of an image from its name
    ``<glacier>_<date>_<satellite>_<resolution>_...``."""
    name = parse_stem(stem)
    if name.problems:
        raise ValueError(f"not a CaFFe image name: {stem!r} ({'; '.join(name.problems)})")
    return {
        "glacier": name.glacier,
        "season": season(name.glacier, name.date_taken.month),
        "sensor": sensor_group(name.satellite),
        "resolution": name.spatial_resolution,
    }


def _rows(records) -> list[Mapping]:
    """Accept a list of mappings or a pandas DataFrame (without importing pandas)."""
    if hasattr(records, "to_dict") and hasattr(records, "columns"):
        return records.to_dict("records")
    return list(records)


def pooled_mde(records) -> float | None:
    """Sum of all distances / number of all distances (metres), or None.

    The official MDE is the mean of every image's distances concatenated
    (validate_or_test.py: calculate_front_delineation_metric), not a mean of
    per-image means. Records need "distance_sum_m" and "distance_count".
    """
    total = count = 0
    for row in _rows(records):
        n = row["distance_count"]
        if n:
            total += row["distance_sum_m"]
            count += n
    return total / count if count else None


def mde_by(records, *keys: str) -> dict:
    """Pooled MDE per value of ``keys``: ``{key: {"mde_m", "images", "images_without_front"}}``.

    One key gives e.g. ``{"COL": ...}``; several give tuple keys, e.g.
    ``mde_by(records, "glacier", "season")`` -> ``{("COL", "winter"): ...}``.
    "images" counts every valid image of the group (the official "Number of
    images"), "images_without_front" those left out of its mean. Groups are
    sorted by key.
    """
    if not keys:
        raise ValueError("give at least one key column")
    groups: dict = {}
    for row in _rows(records):
        key = row[keys[0]] if len(keys) == 1 else tuple(row[k] for k in keys)
        groups.setdefault(key, []).append(row)
    out = {}
    for key in sorted(groups, key=lambda k: tuple(map(str, k)) if isinstance(k, tuple) else str(k)):
        rows = groups[key]
        without = sum(1 for r in rows if not r["distance_count"])
        out[key] = {"mde_m": pooled_mde(rows), "images": len(rows), "images_without_front": without}
    return out


BREAKDOWNS = ("glacier", "season", "sensor", "resolution")


def summarize(records) -> dict:
    """Model-level figures from per-image records (valid images only).

    Records carry the :func:`image_keys` columns and the :func:`front_error`
    fields, and optionally "zones" (:func:`zone_metrics`). Returns
    ``mde_m``, ``images_evaluated``, ``images_without_front``, ``by_<key>``
    for each of glacier, season, sensor, resolution, ``by_glacier_<key>`` for
    glacier x each other key (keys "COL/winter"), and ``zones`` when present.
    """
    rows = _rows(records)
    summary = {
        "mde_m": pooled_mde(rows),
        "images_evaluated": len(rows),
        "images_without_front": sum(1 for r in rows if not r["distance_count"]),
    }
    for key in BREAKDOWNS:
        summary[f"by_{key}"] = {str(k): v for k, v in mde_by(rows, key).items()}
    for key in BREAKDOWNS[1:]:
        summary[f"by_glacier_{key}"] = {
            f"{g}/{k}": v for (g, k), v in mde_by(rows, "glacier", key).items()
        }
    zones = [r["zones"] for r in rows if r.get("zones")]
    if zones:
        summary["zones"] = mean_zone_metrics(zones)
    return summary
