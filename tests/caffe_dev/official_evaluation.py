"""The official CaFFe evaluation approach, as the benchmark's baseline (not the workflow).

Re-implemented from the description of the official code
(``Nora-Go/Calving_Fronts_and_Where_to_Find_Them``: validate_or_test.py and
data_processing/data_postprocessing.py), deliberately with its costs:

- a plain per-image loop reading the PNGs;
- zone metrics with scikit-learn on every pixel (precision_recall_fscore_support
  and jaccard_score, ``average=None``);
- component sizes with one ``labels == k`` pass over the image per component;
- distances from the all-pairs matrix ``scipy.spatial.distance.cdist``;
- the MDE as the mean of every distance of every image concatenated;
- front models: the real ``fil_finder.FilFinder2D`` called as the official
  code calls it (:func:`filfinder_longest_paths`), not the workflow's port.

It answers "the same MDE?" and "how much faster?" for ``make bench``::

    python -m caffe_dev.official_evaluation --predictions DIR \
        --data-raw DATA_RAW --kind zones|front [--split test] [--out summary.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
import skimage.measure
from PIL import Image
from scipy.spatial import distance
from skimage.morphology import skeletonize
from sklearn.metrics import jaccard_score, precision_recall_fscore_support

ZONE_NAMES = ("NA", "rock", "glacier", "ocean")

# The seed of the medial-axis tie-break, the same as caffe/longest_path.py's.
MEDIAL_AXIS_SEED = 0


def import_fil_finder():
    """``fil_finder`` (dev extra), importable on NumPy >= 2.4.

    Test-only shim: fil_finder 1.8 calls ``np.in1d``, which NumPy 2.4 removed;
    its only uses (pixel_ident.py) sum the result, for which ``np.isin`` is the
    same. Raises ImportError when fil_finder is not installed.
    """
    if not hasattr(np, "in1d"):
        np.in1d = np.isin
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy's deprecation notices on import
        import fil_finder
    return fil_finder


def filfinder_longest_paths(skeleton: np.ndarray, seed: int | None = MEDIAL_AXIS_SEED):
    """The union of each skeleton piece's longest path, by the real FilFinder2D.

    data_postprocessing.py: postprocess_front_segmenation, call for call, except
    the seed: the official ``medskel`` leaves medial_axis's tie-break unseeded,
    so its output varies from run to run where ties occur; ``seed`` fixes it
    (None: unseeded, as the official code).
    """
    import astropy.units as u

    FilFinder2D = import_fil_finder().FilFinder2D
    skeleton = np.asarray(skeleton, dtype=bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fil_finder warns about the missing distance
        fil = FilFinder2D(skeleton, distance=None, mask=skeleton)
        fil.preprocess_image(skip_flatten=True)
        fil.create_mask(use_existing_mask=True)
        fil.medskel(verbose=False, rng=seed)
        fil.analyze_skeletons(skel_thresh=5 * u.pix)
        return np.asarray(fil.skeleton_longpath, dtype=bool)


def read_gray(path: str) -> np.ndarray:
    return np.array(Image.open(path))


def zone_metrics_sklearn(prediction: np.ndarray, label: np.ndarray) -> dict:
    """Per-class precision/recall/F1/IoU via scikit-learn; absent classes NaN,
    mean over the rest."""
    classes = {0: 0, 64: 1, 127: 2, 254: 3}
    y_pred = _to_classes(prediction, classes)
    y_true = _to_classes(label, classes)
    labels = [0, 1, 2, 3]
    p, r, f, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    iou = jaccard_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    present = np.isin(labels, np.union1d(np.unique(y_true), np.unique(y_pred)))
    out = {}
    for name, values in (("precision", p), ("recall", r), ("f1", f), ("iou", iou)):
        per = {
            cls: (float(v) if ok else float("nan"))
            for cls, v, ok in zip(ZONE_NAMES, values, present)
        }
        kept = [v for v in per.values() if not np.isnan(v)]
        per["mean"] = sum(kept) / len(kept) if kept else float("nan")
        out[name] = per
    return out


def _to_classes(mask: np.ndarray, classes: dict) -> np.ndarray:
    out = np.copy(mask).ravel()
    for value, index in classes.items():
        out[mask.ravel() == value] = index
    return out


def postprocess_zones(mask: np.ndarray) -> np.ndarray:
    """One non-ocean piece (the rest becomes ocean), then one ocean piece (the rest glacier)."""
    mask = mask.copy()
    labeled, num = skimage.measure.label(mask != 254, connectivity=2, return_num=True)
    sizes = np.zeros(num + 1)
    for k in range(1, num + 1):
        sizes[k] = (labeled == k).sum()
    largest = sizes.argmax()
    gaps = (labeled >= 1) & (labeled != largest)
    mask[gaps] = 254
    labeled, num = skimage.measure.label(mask >= 254, connectivity=2, return_num=True)
    if num == 0:
        return mask
    sizes = np.zeros(num + 1)
    for k in range(1, num + 1):
        sizes[k] = (labeled == k).sum()
    final = labeled == sizes.argmax()
    mask[mask == 254] = 127
    mask[final] = 254
    return mask


def drop_short(front: np.ndarray, threshold: float) -> np.ndarray:
    labeled, num = skimage.measure.label(front, connectivity=2, return_num=True)
    front = front.astype(float)
    for k in range(1, num + 1):
        piece = labeled == k
        front[piece] = 0 if piece.sum() <= threshold else 1
    return front


def front_from_zones(mask: np.ndarray, threshold: float) -> np.ndarray:
    z = postprocess_zones(mask)
    padded = np.pad(z, 1, mode="constant")
    glacier_next = (
        (padded[:-2, 1:-1] == 127)
        | (padded[2:, 1:-1] == 127)
        | (padded[1:-1, :-2] == 127)
        | (padded[1:-1, 2:] == 127)
    )
    return drop_short((z == 254) & glacier_next, threshold)


def front_from_front_prediction(mask: np.ndarray, threshold: float) -> np.ndarray:
    classes = (mask == 255).astype(np.uint8)
    if len(np.unique(classes)) == 1:
        return classes.astype(float)
    return drop_short(filfinder_longest_paths(skeletonize(classes)), threshold)


def cut_to_box(front: np.ndarray, box_path: str) -> np.ndarray:
    with open(box_path) as f:
        lines = f.readlines()
    lux, luy = (round(float(v)) for v in lines[1].split(","))
    rlx, rly = (round(float(v)) for v in lines[3].split(","))
    height, width = front.shape
    lux = max(lux, 0)
    rly = max(rly, 0)
    if rlx > width:
        rlx = width - 1
    if luy > height:
        luy = height - 1
    front = front.copy()
    front[:rly, :] = 0
    front[luy:, :] = 0
    front[:, :lux] = 0
    front[:, rlx:] = 0
    return front


def front_distances(prediction: np.ndarray, label: np.ndarray):
    pred = np.array(list(zip(*np.nonzero(prediction))))
    lab = np.array(list(zip(*np.nonzero(label))))
    if pred.shape[0] == 0 or lab.shape[0] == 0:
        return None
    return np.concatenate(
        (distance.cdist(pred, lab).min(axis=1), distance.cdist(lab, pred).min(axis=1))
    )


def winter(glacier: str, month: int) -> bool:
    north = glacier in ("COL", "JAC")
    return (month < 4 or month > 8) == north


def find_predictions(folder: str, kind: str) -> dict[str, str]:
    suffix = "_zones.png" if kind == "zones" else "_front.png"
    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            if name.endswith(suffix):
                found[name[: -len(suffix)]] = os.path.join(root, name)
    return found


def evaluate(predictions_dir: str, data_raw: str, kind: str, split: str = "test") -> dict:
    """The official approach over one model's prediction folder; a summary like
    :func:`caffe_workflow.caffe.evaluation.summarize` (``mde_m``, counts, ``by_*``, ``zones``)."""
    predictions = find_predictions(predictions_dir, kind)
    all_errors = []
    groups: dict[str, dict] = {"glacier": {}, "season": {}, "sensor": {}, "resolution": {}}
    without_front: dict[str, dict] = {key: {} for key in groups}
    zone_results = []
    evaluated = no_front = 0
    invalid = {}
    for stem in sorted(predictions):
        label_front_path = os.path.join(data_raw, "fronts", split, stem + "_front.png")
        if not os.path.exists(label_front_path):
            continue
        prediction = read_gray(predictions[stem])
        label_front = read_gray(label_front_path)
        allowed = (0, 64, 127, 254) if kind == "zones" else (0, 255)
        if prediction.shape != label_front.shape or not np.isin(prediction, allowed).all():
            invalid[stem] = "wrong size or values"
            continue
        parts = stem.split("_")
        glacier, satellite = parts[0], parts[2]
        month, resolution = int(parts[1].split("-")[1]), int(parts[3])
        threshold = 750 / resolution
        if kind == "zones":
            label_zones = read_gray(os.path.join(data_raw, "zones", split, stem + "_zones.png"))
            zone_results.append(zone_metrics_sklearn(prediction, label_zones))
            front = front_from_zones(prediction, threshold)
        else:
            front = front_from_front_prediction(prediction, threshold)
        box = os.path.join(data_raw, "bounding_boxes", stem + "_front_extent_coord.txt")
        front = cut_to_box(front, box)
        errors = front_distances(front, label_front)
        evaluated += 1
        keys = {
            "glacier": glacier,
            "season": "winter" if winter(glacier, month) else "summer",
            "sensor": "TSX/TDX" if satellite in ("TSX", "TDX") else satellite,
            "resolution": str(resolution),
        }
        if errors is None:
            no_front += 1
            for key, value in keys.items():
                groups[key].setdefault(value, [])
                without_front[key][value] = without_front[key].get(value, 0) + 1
            continue
        errors = errors * resolution
        all_errors.append(errors)
        for key, value in keys.items():
            groups[key].setdefault(value, []).append(errors)
    summary = {
        "mde_m": float(np.mean(np.concatenate(all_errors))) if all_errors else None,
        "images_evaluated": evaluated,
        "images_without_front": no_front,
        "images_invalid": invalid,
    }
    for key, by_value in groups.items():
        summary[f"by_{key}"] = {
            value: {
                "mde_m": float(np.mean(np.concatenate(errs))) if errs else None,
                "images": len(errs) + without_front[key].get(value, 0),
                "images_without_front": without_front[key].get(value, 0),
            }
            for value, errs in sorted(by_value.items())
        }
    if zone_results:
        summary["zones"] = {
            metric: {
                cls: _nanmean([z[metric][cls] for z in zone_results])
                for cls in (*ZONE_NAMES, "mean")
            }
            for metric in ("precision", "recall", "f1", "iou")
        }
    return summary


def _nanmean(values: list[float]) -> float | None:
    kept = [v for v in values if not np.isnan(v)]
    return sum(kept) / len(kept) if kept else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", required=True)
    parser.add_argument("--data-raw", required=True)
    parser.add_argument("--kind", choices=("zones", "front"), required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    summary = evaluate(args.predictions, args.data_raw, args.kind, args.split)
    summary["seconds"] = time.perf_counter() - start
    text = json.dumps(summary, indent=2)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
