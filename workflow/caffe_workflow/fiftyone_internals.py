"""Where the workflow relies on FiftyOne beyond its documented use: the one place.

Every private FiftyOne name (one starting with "_") the workflow needs would
live here, each with the reason no public way exists; today none is needed
(PRIVATE_NAMES is empty). tests/unit/test_architecture.py fails on a private
FiftyOne name anywhere else in workflow/ or tests/.

What is here uses public names in a way FiftyOne's documentation does not
describe; tests/unit/test_fiftyone_internals.py fails, naming the FiftyOne
attribute, when an upgrade changes one of them.
"""

from __future__ import annotations

# (module, attribute) of each private FiftyOne name used here, and why.
PRIVATE_NAMES: dict[tuple[str, str], str] = {}

# The steps of evaluate_segmentations() this module runs, as
# (module, class, method or None for the constructor, keyword arguments used).
EVALUATION_STEPS = (
    (
        "fiftyone.utils.eval.segmentation",
        "SimpleEvaluationConfig",
        None,
        ("pred_field", "gt_field", "custom_metrics"),
    ),
    ("fiftyone.utils.eval.segmentation", "SimpleEvaluationConfig", "build", ()),
    (
        "fiftyone.core.evaluation",
        "EvaluationMethod",
        "register_run",
        ("samples", "key", "overwrite", "cleanup"),
    ),
    (
        "fiftyone.utils.eval.segmentation",
        "SegmentationResults",
        None,
        (
            "samples",
            "config",
            "eval_key",
            "pixel_confusion_matrix",
            "classes",
            "missing",
            "custom_metrics",
            "backend",
        ),
    ),
    (
        "fiftyone.core.evaluation",
        "EvaluationMethod",
        "save_run_results",
        ("samples", "key", "run_results", "overwrite"),
    ),
    (
        "fiftyone.utils.eval.base",
        "BaseEvaluationMethod",
        "add_fields_to_sidebar_group",
        ("samples", "eval_key", "omit_fields"),
    ),
)


def save_segmentation_run(
    samples,
    eval_key: str,
    pred_field: str,
    gt_field: str,
    confusion,
    classes: list[str],
    custom_metrics: dict,
) -> None:
    """Store the evaluation run `eval_key` on `samples` as
    evaluate_segmentations(pred_field, gt_field, eval_key=...,
    custom_metrics=list(custom_metrics)) would, from a pixel confusion matrix
    (rows: ground truth, in the order of `classes`, the first the background)
    and the custom metrics' values ({uri: {"key", "label", "lower_is_better",
    "value"}}) computed elsewhere.

    Why not evaluate_segmentations(): it reads every mask pair again and its
    custom metrics recompute what the evaluate stage already computed; no
    public call stores a run from counts. So this runs the same public steps
    (EVALUATION_STEPS) without the mask pass. tests/workflow/test_evaluate.py
    checks that the run equals the one evaluate_segmentations() gives.
    """
    from fiftyone.utils.eval.segmentation import SegmentationResults, SimpleEvaluationConfig

    # The config lists the metrics, so that the run's fields include the
    # plugin's (cleanup, rename, sidebar group) as for evaluate_segmentations.
    config = SimpleEvaluationConfig(pred_field, gt_field, custom_metrics=list(custom_metrics))
    method = config.build()
    method.register_run(samples, eval_key, overwrite=True, cleanup=False)
    results = SegmentationResults(
        samples,
        config,
        eval_key,
        confusion,
        list(classes),
        missing=classes[0],
        custom_metrics={uri: dict(m) for uri, m in custom_metrics.items() if "value" in m},
        backend=method,
    )
    method.save_run_results(samples, eval_key, results, overwrite=True)
    method.add_fields_to_sidebar_group(samples, eval_key, omit_fields=(pred_field, gt_field))
