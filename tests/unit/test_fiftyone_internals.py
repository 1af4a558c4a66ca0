"""The boundary caffe_workflow.fiftyone_internals still fits the installed FiftyOne.

Each check names the FiftyOne attribute that moved, so an upgrade that breaks
the boundary says where. The run it stores is checked through FiftyOne's
public reads (list_evaluations, get_evaluation_info, load_evaluation_results).
"""

from __future__ import annotations

import importlib
import inspect
import uuid

import numpy as np
import pytest

from caffe_workflow import fiftyone_internals as fi

pytestmark = pytest.mark.slow  # imports fiftyone


def test_each_private_name_is_still_there():
    gone = [
        f"{module}.{attribute} ({why})"
        for (module, attribute), why in sorted(fi.PRIVATE_NAMES.items())
        if not hasattr(importlib.import_module(module), attribute)
    ]
    assert not gone, f"FiftyOne no longer has what caffe_workflow.fiftyone_internals uses: {gone}"


@pytest.mark.parametrize("step", fi.EVALUATION_STEPS, ids=lambda s: f"{s[1]}.{s[2] or 'init'}")
def test_each_evaluation_step_still_takes_its_arguments(step):
    module, cls, method, arguments = step
    owner = getattr(importlib.import_module(module), cls, None)
    assert owner is not None, f"FiftyOne no longer has {module}.{cls}"
    function = owner.__init__ if method is None else getattr(owner, method, None)
    name = f"{module}.{cls}.{method or '__init__'}"
    assert callable(function), f"FiftyOne no longer has {name}"
    parameters = inspect.signature(function).parameters
    gone = [a for a in arguments if a not in parameters]
    assert not gone, f"{name} no longer takes {gone} (caffe_workflow.fiftyone_internals)"


@pytest.mark.mongod
def test_the_stored_run_reads_back_as_evaluate_segmentations_stores_one(mongod, tmp_path):
    import fiftyone as fo

    dataset = fo.Dataset(f"caffe-internals-{uuid.uuid4().hex[:8]}")
    try:
        masks = []
        for i, (pred, gt) in enumerate([([0, 64], [0, 64]), ([127, 254], [127, 127])]):
            sample = fo.Sample(filepath=str(tmp_path / f"{i}.png"), tags=["test"])
            sample["pred"] = fo.Segmentation(mask=np.array([pred], dtype=np.uint8))
            sample["gt"] = fo.Segmentation(mask=np.array([gt], dtype=np.uint8))
            masks.append(sample)
        dataset.add_samples(masks)
        classes = ["NA", "rock", "glacier", "ocean"]
        confusion = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 1], [0, 0, 0, 0]])
        custom = {
            "@caffe/metrics/mde": {
                "key": "caffe_mde_m",
                "label": "MDE",
                "lower_is_better": True,
                "value": 12.5,
            },
            "@caffe/metrics/zone_iou": {
                "key": "caffe_zone_iou",
                "label": "IoU",
                "lower_is_better": False,
            },
        }
        fi.save_segmentation_run(dataset, "m1", "pred", "gt", confusion, classes, custom)

        assert dataset.list_evaluations() == ["m1"]
        config = dataset.get_evaluation_info("m1").config
        assert (config.pred_field, config.gt_field, config.method) == ("pred", "gt", "simple")
        assert config.custom_metrics == list(custom)
        results = dataset.load_evaluation_results("m1")
        assert results.pixel_confusion_matrix.tolist() == confusion.tolist()
        # A metric without a value is left out, as compute_custom_metrics does.
        assert results.custom_metrics == {"@caffe/metrics/mde": custom["@caffe/metrics/mde"]}
        # The figures FiftyOne derives from the counts, NA (the background)
        # left out: of the 3 other ground-truth pixels 2 are found, and 2 of
        # the 3 pixels predicted as another class are right.
        metrics = results.metrics(average="micro")
        assert metrics["accuracy"] == pytest.approx(2 / 3)
        assert metrics["precision"] == pytest.approx(2 / 3)
        assert metrics["recall"] == pytest.approx(2 / 3)
    finally:
        dataset.delete()
