"""The scored models in the FiftyOne dataset: part of the ingest (the only writer).

For each model of the config key ``predictions`` (stage evaluate), every
sample with a prediction gets

- ``<model>_front``: ``Polylines`` of the post-processed front that was scored
  (on an image without labels: the post-processed front, not cut to a box);
- ``<model>_mde_m``: its mean distance error in metres (None when left out);
- ``<model>_status``: "scored", "no_front" (left out of the MDE), "unlabelled"
  (predicted, nothing to score it against) or "invalid", and
  ``<model>_problem``: why a prediction is invalid;
- zone models: ``<model>_zones`` (``Segmentation``, ``mask_path`` to the
  prediction), ``<model>_zone_iou`` (CaFFe's per-image zone IoU) and
  ``<model>_accuracy|precision|recall``, FiftyOne's own per-sample figures of
  its evaluation run ``eval_key=<model>``.

The evaluation run is registered from the confusion counts the evaluate stage
already made (no second pass over the masks), on the test split without its
images that have no labels, with CaFFe's pooled MDE and mean zone IoU as the custom metrics
of the plugin ``@caffe/metrics`` (workflow/plugins/caffe-metrics), so the
App's Model Evaluation panel lists and compares the models. The run holds what
``evaluate_segmentations`` with that plugin gives on the test split
(tests/workflow/test_evaluate.py checks it): the same confusion matrix,
custom metrics and per-sample fields (``<model>_mde_m`` and
``<model>_zone_iou`` are the plugin's fields for ``eval_key=<model>``).
FiftyOne's precision/recall treat class 0 (NA) as background, unlike CaFFe's
zone metrics: they differ by definition.

What the ingest manages per model is recorded in ``dataset.info["caffe_models"]``
(kind, fields, views), so that a model removed from the config loses exactly
those fields, its run and its views, and nothing of the user's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from caffe_workflow.fiftyone_internals import save_segmentation_run
from caffe_workflow.ingest.fields import declare_fields, polylines
from caffe_workflow.ingest.views import save_changed_views

MANAGED_KEY = "caffe_models"
CLASSES = ("NA", "rock", "glacier", "ocean")
VALUES = (0, 64, 127, 254)
# The plugin workflow/plugins/caffe-metrics: its metrics' URIs and what they
# store, repeated here so that the ingest does not run plugin code.
PLUGINS_DIR = Path(__file__).resolve().parents[2] / "plugins"
PLUGIN = "@caffe/metrics"
MDE_URI = f"{PLUGIN}/mde"
IOU_URI = f"{PLUGIN}/zone_iou"
CUSTOM = {
    MDE_URI: {"key": "caffe_mde_m", "label": "CaFFe MDE (m, pooled)", "lower_is_better": True},
    IOU_URI: {
        "key": "caffe_zone_iou",
        "label": "CaFFe zone IoU (mean over images)",
        "lower_is_better": False,
    },
}
# Bump when model_values() gives a sample new or other fields from the same
# rows: it is part of every evaluation in the row hash, so the samples with a
# prediction are written once more (2: <model>_zone_iou).
FIELDS_VERSION = 2
WORST = 20
# Row columns that do not change what a sample shows (not in its hash).
_VOLATILE = ("evaluated_at_ns", "fingerprint")


def load_evaluations(evaluations: dict) -> dict:
    """{model: {"kind", "per_image", "metrics", "rows"}} of the scored
    models, "rows" their per-image rows by (split, stem)."""
    import pyarrow.parquet as pq

    models = {}
    for model, spec in sorted(evaluations.items()):
        # Absolute: the dataset records the paths for the command line's ingest.
        per_image = Path(spec["per_image"]).resolve()
        rows = {}
        for e in pq.ParquetFile(per_image).read().to_pylist():
            for key in _VOLATILE:
                e.pop(key, None)
            e["fields_version"] = FIELDS_VERSION
            rows[(e["split"], e["stem"])] = e
        models[model] = {
            "kind": spec["kind"],
            "per_image": str(per_image),
            "metrics": str(
                Path(spec.get("metrics") or per_image.parent / "metrics.json").resolve()
            ),
            "rows": rows,
        }
    return models


class RecordError(ValueError):
    """The dataset's record of its scored models cannot be followed."""


def recorded_evaluations(dataset_name: str, info: dict) -> dict:
    """{model: {"kind", "per_image", "metrics"}} as the dataset's last ingest
    recorded them; RecordError (one line) when a results file is gone."""
    out = {}
    for model, record in sorted(info.get(MANAGED_KEY, {}).items()):
        paths = [record.get("per_image"), record.get("metrics")]
        missing = [p for p in paths if not p or not Path(p).is_file()]
        if missing:
            where = missing[0] or "not recorded"
            raise RecordError(
                f"dataset {dataset_name}: the results of its scored model {model!r} "
                f"({where}) are not there; run snakemake to update this dataset"
            )
        out[model] = {"kind": record["kind"], "per_image": paths[0], "metrics": paths[1]}
    return out


def attach_evaluations(rows: list[dict], models: dict) -> None:
    """Put each model's per-image row into the catalog row of its image
    (``row["evaluation"][model]``, part of the row hash, so a sample is
    rewritten exactly when its evaluation changed)."""
    for row in rows:
        for model, spec in models.items():
            e = spec["rows"].get((row.get("split"), row.get("stem")))
            if e is not None:
                row.setdefault("evaluation", {})[model] = e


def _fields(model: str, kind: str) -> dict:
    """name -> (kind, description) of one model's sample fields."""
    fields = {
        f"{model}_front": (
            "polylines",
            f"{model}: the post-processed front (scored, cut to the box, where labels exist)",
        ),
        f"{model}_mde_m": ("float", f"{model}: mean distance error (m); None when left out"),
        f"{model}_status": (
            "str",
            f"{model}: scored, no_front (left out), unlabelled (not scored) or invalid",
        ),
        f"{model}_problem": ("str", f"{model}: why the prediction is invalid"),
    }
    if kind == "zones":
        fields[f"{model}_zones"] = ("zones", f"{model}: zone prediction on disk")
        fields[f"{model}_zone_iou"] = (
            "float",
            f"{model}: CaFFe zone IoU (mean over the classes present); None when invalid",
        )
        for m in ("accuracy", "precision", "recall"):
            fields[f"{model}_{m}"] = (
                "float",
                f"{model}: FiftyOne's pixel {m} (class NA as background, micro average)",
            )
    return fields


def _fo_confusion_figures(confusion) -> tuple:
    """FiftyOne's per-sample accuracy, precision, recall of a 4x4 confusion,
    as evaluate_segmentations computes them (NA, value 0, is its background):
    its results object made from the sample's confusion matrix."""
    from fiftyone.utils.eval.segmentation import SegmentationResults

    matrix = np.asarray(confusion, dtype=int).reshape(4, 4)
    metrics = SegmentationResults(None, None, None, matrix, list(VALUES), missing=0).metrics(
        average="micro"
    )
    if metrics["support"] == 0:
        return None, None, None
    return metrics["accuracy"], metrics["precision"], metrics["recall"]


def model_values(fo, row: dict, models: dict) -> dict:
    """The model fields of one sample (None where it has no prediction)."""
    out = {}
    evaluations = row.get("evaluation") or {}
    for model, spec in models.items():
        e = evaluations.get(model)
        valid = bool(e and e["valid"])
        lines = (e or {}).get("front_lines") if valid else None
        out[f"{model}_front"] = polylines(fo, lines, model)
        out[f"{model}_mde_m"] = e["mde_m"] if valid else None
        out[f"{model}_status"] = (
            None
            if e is None
            else "invalid"
            if not valid
            else "unlabelled"
            if e.get("labelled") is False
            else "scored"
            if e["has_front"]
            else "no_front"
        )
        out[f"{model}_problem"] = None if valid or e is None else e["reason"]
        if spec["kind"] == "zones":
            out[f"{model}_zones"] = (
                fo.Segmentation(mask_path=e.get("mask_path") or e["prediction_path"]) if e else None
            )
            out[f"{model}_zone_iou"] = e.get("iou_mean") if valid else None
            figures = (
                _fo_confusion_figures(e["zone_confusion"])
                if valid and e.get("zone_confusion")
                else (None, None, None)
            )
            for m, v in zip(("accuracy", "precision", "recall"), figures):
                out[f"{model}_{m}"] = None if v is None else float(v)
    return out


def _remove_model(dataset, model: str, record: dict) -> None:
    if dataset.has_evaluation(model):
        dataset.delete_evaluation(model)  # its accuracy/precision/recall fields too
    schema = dataset.get_field_schema()
    gone = [f for f in record.get("fields", []) if f in schema]
    if gone:
        dataset.delete_sample_fields(gone)
    for view in record.get("views", []):
        if dataset.has_saved_view(view):
            dataset.delete_saved_view(view)
    info = dataset.info
    info.get(MANAGED_KEY, {}).pop(model, None)
    info.get("evaluations", {}).pop(model, None)
    dataset.info = info
    dataset.save()


def declare_model_fields(fo, dataset, models: dict) -> set[str]:
    """Remove what the ingest made for models no longer given (or of another
    kind now), then declare the fields of the current ones.

    Returns the models whose samples must be written again although their
    rows did not change: a field the ingest wrote is gone (deleting or
    renaming a run, in the App too, takes its fields with it).
    """
    managed = dict(dataset.info.get(MANAGED_KEY, {}))
    if managed or models:
        find_plugin(fo)
    for model, record in managed.items():
        if model not in models or models[model]["kind"] != record.get("kind"):
            _remove_model(dataset, model, record)
    schema = dataset.get_field_schema()
    stale = {
        model
        for model, record in managed.items()
        if model in models and any(f not in schema for f in record.get("fields", []))
    }
    for model, spec in models.items():
        declare_fields(fo, dataset, _fields(model, spec["kind"]))
    return stale


def _views(dataset, model: str) -> dict:
    from fiftyone import ViewField as F

    mde = f"{model}_mde_m"
    return {
        f"{model}-worst-mde": (
            dataset.exists(mde).sort_by(mde, reverse=True).limit(WORST),
            f"{model}: its {WORST} images of largest mean distance error",
        ),
        f"{model}-no-front": (
            dataset.match(F(f"{model}_status") == "no_front"),
            f"{model}: images left out of the MDE (no predicted front after post-processing)",
        ),
    }


def _digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:32]


def _register_run(dataset, model: str, rows: list[dict], metrics: dict) -> None:
    """The evaluation run ``eval_key=model`` on the labelled test split, from the
    stage's confusion counts and metrics.json (the benchmark scores the test
    split, and so does metrics.json)."""
    confusion = np.zeros((4, 4), dtype=int)
    for e in rows:
        if e["valid"] and e["split"] == "test" and e.get("zone_confusion"):
            confusion += np.asarray(e["zone_confusion"], dtype=int).reshape(4, 4)
    values = {
        MDE_URI: metrics.get("mde_m"),
        IOU_URI: (metrics.get("zones") or {}).get("iou", {}).get("mean"),
    }
    # As compute_custom_metrics stores them: a metric without a value is left out.
    custom = {
        uri: CUSTOM[uri] | ({"value": v} if v is not None else {}) for uri, v in values.items()
    }
    # The scored samples: the test split without the images that have no labels.
    scored = dataset.match_tags("test").match_tags("unlabelled", bool=False)
    save_segmentation_run(scored, model, f"{model}_zones", "zones", confusion, CLASSES, custom)


def find_plugin(fo) -> None:
    """Let this process find the plugin @caffe/metrics: the run's fields
    (cleanup, sidebar group) come from its operators. fo.config.plugins_dir is
    set for this process only when the configured one does not hold it."""
    import fiftyone.plugins as fop

    if any(p.name == PLUGIN for p in fop.list_plugins(enabled="all")):
        return
    if PLUGINS_DIR.is_dir():
        fo.config.plugins_dir = str(PLUGINS_DIR)


def _info_figures(metrics: dict) -> dict:
    out = {k: v for k, v in metrics.items() if not k.startswith("by_glacier_")}
    missing = metrics.get("images_missing") or {}
    out["images_missing"] = missing.get("count", 0)
    out["invalid_predictions"] = len(metrics.get("invalid_predictions") or {})
    out["ignored_stems"] = len(metrics.get("ignored_stems") or [])
    return out


def refresh_models(fo, dataset, models: dict) -> None:
    """Evaluation runs, saved views and dataset.info of the current models;
    the run is registered again only when the model's results changed."""
    import pyarrow.parquet as pq

    info = dataset.info
    managed = dict(info.get(MANAGED_KEY, {}))
    figures = dict(info.get("evaluations", {}))
    changed = False
    for model, spec in sorted(models.items()):
        digest = _digest(spec["per_image"]) + _digest(spec["metrics"])
        record = managed.get(model, {})
        views = _views(dataset, model)
        save_changed_views(dataset, views)
        fields = sorted(_fields(model, spec["kind"]))
        run_ok = spec["kind"] != "zones" or dataset.has_evaluation(model)
        paths = {"per_image": spec["per_image"], "metrics": spec["metrics"]}
        if record.get("digest") == digest and run_ok and record.get("fields") == fields:
            if {k: record.get(k) for k in paths} != paths:
                managed[model] = record | paths
                changed = True
            continue
        metrics = json.loads(Path(spec["metrics"]).read_text())
        if spec["kind"] == "zones":
            rows = pq.ParquetFile(spec["per_image"]).read().to_pylist()
            _register_run(dataset, model, rows, metrics)
        managed[model] = {
            "kind": spec["kind"],
            "digest": digest,
            "fields": fields,
            "views": sorted(views),
            "eval_key": model if spec["kind"] == "zones" else None,
        } | paths
        figures[model] = _info_figures(metrics)
        changed = True
    if changed or (MANAGED_KEY not in info and models):
        info = dataset.info
        info[MANAGED_KEY] = managed
        info["evaluations"] = figures
        dataset.info = info
        dataset.save()
