"""@caffe/metrics: CaFFe's benchmark metrics as FiftyOne custom metrics.

Two ``EvaluationMetric`` operators for ``evaluate_segmentations``::

    ds = fo.load_dataset("caffe")
    ds.load_saved_view("test").evaluate_segmentations(
        "my_zones", gt_field="zones", eval_key="mine",
        mask_targets=ds.mask_targets["zones"],
        custom_metrics=["@caffe/metrics/mde", "@caffe/metrics/zone_iou"],
    )

- ``@caffe/metrics/mde``: the mean distance error (m) of the calving front as
  the benchmark defines it (caffe_workflow.caffe.evaluation: post-processing
  with the 750 m threshold, the cut to the image's bounding box, distances
  both ways), pooled over the front pixels of all evaluated images; per
  sample ``<eval_key>_mde_m`` (None when the image is left out: no front
  after post-processing, an invalid prediction, no prediction).
- ``@caffe/metrics/zone_iou``: CaFFe's zone IoU, per sample
  ``<eval_key>_zone_iou`` (the mean over NA, rock, glacier and ocean of the
  classes present in prediction or label), and the mean over images.

These are the fields and figures the workflow's ingest gives each zone model's
run ``eval_key=<model>`` (caffe_workflow.ingest.models). Kind of
prediction: a zone model when ``gt_field`` is not the front field, a front
model (0/255, skeletonized first) when it is, e.g. ``gt_field="front"``;
``custom_metrics={"@caffe/metrics/mde": {"kind": ..., "front_field": ...}}``
overrides both. The bounding box is read from the CaFFe tree the sample's
image is in (``<data_dir>/bounding_boxes/<stem>_front_extent_coord.txt``) and
the resolution from the image's name, as the benchmark does.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import weakref
from pathlib import Path

import fiftyone.operators as foo
import numpy as np
from PIL import Image

from caffe_workflow.caffe import evaluation as ev
from caffe_workflow.caffe.bounding_box import Corners, read_corners
from caffe_workflow.caffe.labels import FRONT
from caffe_workflow.caffe.layout import image_paths

logger = logging.getLogger(__name__)

MDE_URI = "@caffe/metrics/mde"
IOU_URI = "@caffe/metrics/zone_iou"
FRONT_FIELD = "front"
WORKERS = min(4, os.cpu_count() or 1)
# results object -> its scores, so that both metrics of one evaluation share
# one pass over the images (and the cache goes with the results object).
_SCORES = weakref.WeakKeyDictionary()


def mde_field(eval_key: str) -> str:
    return f"{eval_key}_mde_m"


def iou_field(eval_key: str) -> str:
    return f"{eval_key}_zone_iou"


def _mask(segmentation) -> np.ndarray | None:
    """A Segmentation's mask; files read with Pillow as the workflow's evaluate
    stage reads them (FiftyOne's own reader, OpenCV, would turn a palette PNG
    into colours)."""
    if segmentation is None:
        return None
    if segmentation.mask_path:
        with Image.open(segmentation.mask_path) as image:
            return np.asarray(image)
    return segmentation.mask


def _box_corners(filepath: str, stem: str) -> Corners:
    """The corners of the image's bounding box, from the CaFFe tree the image
    is in: <data_dir>/sar_images/<split>/<stem>.png."""
    image = Path(filepath)
    box = image_paths(image.parents[2], image.parent.name, stem)["bbox"]
    return read_corners(box)


def score_sample(job: dict, kind: str, front: bool, zones: bool) -> dict:
    """One image: {"mde_m", "distance_sum_m", "distance_count", "zone_iou",
    "problem"}; what cannot be computed is None, with the reason in "problem"."""
    out = {"mde_m": None, "distance_sum_m": 0.0, "distance_count": 0, "zone_iou": None}
    out["problem"] = problem = None
    try:
        prediction = _mask(job["prediction"])
        if prediction is None:
            return out | {"problem": "no prediction"}
        label_zones = _mask(job["zones"]) if kind == "zones" else None
        label_front = _mask(job["front"])
        if label_front is None:
            return out | {"problem": "no label front"}
        label_front = label_front == FRONT
        problem = ev.validate_prediction(prediction, label_front.shape, kind)
        if problem:
            return out | {"problem": problem}
        if zones and label_zones is not None:
            if label_zones.shape != label_front.shape:
                return out | {"problem": "label zones and label front differ in size"}
            out["zone_iou"] = ev.zone_metrics(prediction, label_zones)["iou"]["mean"]
        if front:
            resolution = ev.image_keys(job["stem"])["resolution"]
            corners = _box_corners(job["filepath"], job["stem"])
            scored = ev.postprocessed_front(prediction, kind, resolution, corners)
            error = ev.front_error(scored, label_front, resolution)
            for name in ("mde_m", "distance_sum_m", "distance_count"):
                out[name] = error[name]
            if not error["has_front"]:
                out["problem"] = "no front"
    except (OSError, ValueError) as err:
        out["problem"] = str(err).splitlines()[0] if str(err) else type(err).__name__
    return out


def _options(results, kwargs: dict) -> tuple[str, str]:
    front_field = kwargs.get("front_field") or FRONT_FIELD
    kind = kwargs.get("kind") or ("front" if results.config.gt_field == front_field else "zones")
    if kind not in ("zones", "front"):
        raise ValueError(f"kind must be 'zones' or 'front', not {kind!r}")
    return kind, front_field


def _requested(results) -> set[str]:
    metrics = results.config.custom_metrics or []
    return set(metrics if isinstance(metrics, list) else metrics.keys())


def scores(samples, results, kind: str, front_field: str) -> dict:
    """{sample id: score_sample(...)} over the evaluated samples, computed once
    per evaluation for both metrics."""
    pred_field, gt_field = results.config.pred_field, results.config.gt_field
    if samples.media_type != "image":
        raise ValueError(f"CaFFe metrics need an image collection, not {samples.media_type}")
    cache = _SCORES.setdefault(results, {})
    key = (pred_field, gt_field, front_field, kind)
    if key in cache:
        return cache[key]
    requested = _requested(results)
    front = MDE_URI in requested or not requested
    zones = kind == "zones" and (IOU_URI in requested or not requested)
    fields = ["id", "filepath", pred_field, gt_field, front_field]
    has_stem = samples.has_field("stem")
    ids, paths, preds, gts, fronts = samples.values(fields)
    stems = samples.values("stem") if has_stem else [None] * len(ids)
    jobs = [
        {
            "filepath": path,
            "stem": stem or Path(path).stem,
            "prediction": pred,
            "zones": gt,
            "front": gt if kind == "front" else label_front,
        }
        for path, stem, pred, gt, label_front in zip(paths, stems, preds, gts, fronts)
    ]
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        done = list(pool.map(lambda job: score_sample(job, kind, front, zones), jobs))
    cache[key] = dict(zip(ids, done))
    problems = {}
    for score in done:
        if score["problem"] not in (None, "no prediction"):
            problems[score["problem"]] = problems.get(score["problem"], 0) + 1
    for problem, count in sorted(problems.items()):
        logger.info("CaFFe metrics of %s: %d image(s) left out: %s", pred_field, count, problem)
    return cache[key]


def _write(samples, field: str, values: dict, description: str) -> None:
    """One float per evaluated sample (None where it has no value)."""
    import fiftyone as fo

    # A view's dataset, by public means: a Dataset is its own, a view names it.
    dataset = samples if isinstance(samples, fo.Dataset) else fo.load_dataset(samples.dataset_name)
    if not dataset.has_sample_field(field):
        dataset.add_sample_field(field, fo.FloatField, description=description)
    samples.set_values(field, values, key_field="id")


class MeanDistanceError(foo.EvaluationMetric):
    @property
    def config(self):
        return foo.EvaluationMetricConfig(
            name="mde",
            label="CaFFe MDE (m, pooled)",
            description="Mean distance error of the calving front (m), pooled "
            "over the front pixels of all images, as the CaFFe benchmark",
            eval_types=["segmentation"],
            aggregate_key="caffe_mde_m",
            lower_is_better=True,
            unlisted=True,
        )

    def compute(self, samples, results, **kwargs):
        kind, front_field = _options(results, kwargs)
        per_sample = scores(samples, results, kind, front_field)
        if results.key is not None:
            values = {sid: s["mde_m"] for sid, s in per_sample.items()}
            _write(
                samples,
                mde_field(results.key),
                values,
                f"{results.key}: CaFFe mean distance error (m); None when left out",
            )
        return ev.pooled_mde(per_sample.values())

    def get_fields(self, samples, config, eval_key):
        return [mde_field(eval_key)]


class ZoneIoU(foo.EvaluationMetric):
    @property
    def config(self):
        config = foo.EvaluationMetricConfig(
            name="zone_iou",
            label="CaFFe zone IoU (mean over images)",
            description="CaFFe's zone IoU: per image the mean over NA, rock, "
            "glacier and ocean; the mean over images",
            eval_types=["segmentation"],
            aggregate_key="caffe_zone_iou",
            lower_is_better=False,
            unlisted=True,
        )
        # FiftyOne 1.22.1 stores lower_is_better from config.kwargs, not from
        # the config's own attribute (fiftyone/utils/eval/base.py).
        config.kwargs["lower_is_better"] = False
        return config

    def compute(self, samples, results, **kwargs):
        kind, front_field = _options(results, kwargs)
        if kind != "zones":
            raise ValueError("zone IoU needs zone predictions (gt_field: the zone labels)")
        per_sample = scores(samples, results, kind, front_field)
        values = {sid: s["zone_iou"] for sid, s in per_sample.items()}
        if results.key is not None:
            _write(
                samples,
                iou_field(results.key),
                values,
                f"{results.key}: CaFFe zone IoU (mean over the classes present)",
            )
        present = [v for v in values.values() if v is not None]
        return sum(present) / len(present) if present else None

    def get_fields(self, samples, config, eval_key):
        return [iou_field(eval_key)]


def register(plugin):
    plugin.register(MeanDistanceError)
    plugin.register(ZoneIoU)
