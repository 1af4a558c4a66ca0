"""The plugin @caffe/metrics (workflow/plugins/caffe-metrics) without a
database: FiftyOne finds it in the project's plugins folder, its operators
describe their figures as the ingest stores them, and one image's scores are
the values worked out by hand for masks made for it (and the evaluate
stage's, for the same masks). The plugin in
evaluate_segmentations on a real dataset: tests/workflow/test_evaluate.py."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from caffe_dev.sample_data import generate, write_shifted_predictions
from caffe_workflow.caffe.layout import image_paths, label_paths
from caffe_workflow.ingest.models import CUSTOM, IOU_URI, MDE_URI, PLUGIN, PLUGINS_DIR
from caffe_workflow.stages.evaluate import evaluate_member

pytestmark = pytest.mark.slow  # imports fiftyone


@pytest.fixture
def plugin(monkeypatch):
    import fiftyone as fo
    import fiftyone.operators as foo

    monkeypatch.setattr(fo.config, "plugins_dir", str(PLUGINS_DIR))
    mde, iou = foo.get_operator(MDE_URI), foo.get_operator(IOU_URI)
    return {"mde": mde, "iou": iou, "module": sys.modules[type(mde).__module__], "fo": fo}


def test_found_in_the_plugins_folder_with_the_ingest_labels(plugin):
    import fiftyone.plugins as fop

    (definition,) = [p for p in fop.list_plugins() if p.name == PLUGIN]
    assert sorted(definition.operators) == ["mde", "zone_iou"]
    for uri, op in ((MDE_URI, plugin["mde"]), (IOU_URI, plugin["iou"])):
        config = op.config
        assert op.uri == uri
        assert config.aggregate_key == CUSTOM[uri]["key"]
        assert config.label == CUSTOM[uri]["label"]
        # What compute_custom_metrics stores as lower_is_better (1.22.1 reads kwargs).
        assert config.kwargs.get("lower_is_better", True) is CUSTOM[uri]["lower_is_better"]
        assert op.get_fields(None, None, "run") == [
            {MDE_URI: "run_mde_m", IOU_URI: "run_zone_iou"}[uri]
        ]


# One 160 x 160 image at 7 m (the resolution in its name): a glacier above
# row 80, ocean below, the label front the horizontal line on row 80 over
# columns 10..149, and a bounding box over the whole image.
STEM = "COL_2011-01-05_TDX_7_1_083"
SIZE, ROW, COLUMNS, METRES = 160, 80, slice(10, 150), 7
SHIFT = 3  # rows by which the predictions below are moved down


def hand_made_image(data_dir) -> dict:
    """The image's files in a CaFFe tree; {name: path} with the predictions:
    "front" the label's line SHIFT rows lower, "zones" the glacier SHIFT rows
    longer."""
    paths = image_paths(data_dir, "test", STEM)
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (SIZE, SIZE), 100).save(paths["sar"])
    zones = np.full((SIZE, SIZE), 254, dtype=np.uint8)
    zones[:ROW] = 127
    Image.fromarray(zones).save(paths["zones"])
    front = np.zeros((SIZE, SIZE), dtype=np.uint8)
    front[ROW, COLUMNS] = 255
    Image.fromarray(front).save(paths["front"])
    # Header, then left upper, left lower, right lower, right upper as x,y.
    paths["bbox"].write_text(f"x,y\n0,{SIZE}\n0,0\n{SIZE},0\n{SIZE},{SIZE}\n")
    out = {k: str(v) for k, v in paths.items()}
    predicted_front = np.roll(front, SHIFT, axis=0)
    out["pred_front"] = str(data_dir / "pred_front.png")
    Image.fromarray(predicted_front).save(out["pred_front"])
    predicted_zones = zones.copy()
    predicted_zones[: ROW + SHIFT] = 127
    out["pred_zones"] = str(data_dir / "pred_zones.png")
    Image.fromarray(predicted_zones).save(out["pred_zones"])
    return out


def test_one_image_scores_are_the_values_worked_out_by_hand(plugin, tmp_path):
    fo, score_sample = plugin["fo"], plugin["module"].score_sample
    paths = hand_made_image(tmp_path / "data_raw")
    job = {
        "filepath": paths["sar"],
        "stem": STEM,
        "prediction": fo.Segmentation(mask_path=paths["pred_front"]),
        "zones": None,
        "front": fo.Segmentation(mask_path=paths["front"]),
    }
    # The predicted line is a skeleton already, longer than 750 m / 7 m, and
    # in the box: every pixel on either line is SHIFT rows from the other.
    length = COLUMNS.stop - COLUMNS.start
    got = score_sample(job, "front", front=True, zones=False)
    assert got["problem"] is None
    assert got["distance_count"] == 2 * length
    assert got["mde_m"] == pytest.approx(SHIFT * METRES, rel=1e-12)
    assert got["distance_sum_m"] == pytest.approx(2 * length * SHIFT * METRES, rel=1e-12)

    # Zones: glacier 80 rows in the label, 83 predicted, ocean 80 and 77;
    # NA and rock in neither, so the mean is over glacier and ocean.
    zones_job = job | {
        "prediction": fo.Segmentation(mask_path=paths["pred_zones"]),
        "zones": fo.Segmentation(mask_path=paths["zones"]),
    }
    iou = score_sample(zones_job, "zones", front=False, zones=True)["zone_iou"]
    assert iou == pytest.approx((80 / 83 + 77 / 80) / 2, rel=1e-12)

    # The evaluate stage gives the same figures for the same files.
    labels = {k: paths[k] for k in ("zones", "front", "bbox")}
    member = {"split": "test", "stem": STEM, **labels}
    row = evaluate_member(member | {"prediction": paths["pred_front"]}, "m", "front")
    assert row["valid"] and row["mde_m"] == pytest.approx(SHIFT * METRES, rel=1e-12)
    row = evaluate_member(member | {"prediction": paths["pred_zones"]}, "m", "zones")
    assert row["iou_mean"] == pytest.approx(iou, rel=1e-12)


def test_one_image_scores_equal_the_evaluate_stage(plugin, tmp_path):
    fo, score_sample = plugin["fo"], plugin["module"].score_sample
    data_dir = tmp_path / "data_raw"
    generate(data_dir, count=6, seed=5, size="medium")
    stems = write_shifted_predictions(data_dir, tmp_path / "pred")
    stem = stems[0]
    labels = {k: str(v) for k, v in label_paths(data_dir, "test", stem).items()}
    prediction = str(tmp_path / "pred" / f"{stem}_zones.png")
    row = evaluate_member(
        {"split": "test", "stem": stem, "prediction": prediction, **labels}, "m", "zones"
    )
    assert row["valid"] and row["mde_m"] > 5

    job = {
        "filepath": str(data_dir / "sar_images" / "test" / f"{stem}.png"),
        "stem": stem,
        "prediction": fo.Segmentation(mask_path=prediction),
        "zones": fo.Segmentation(mask_path=labels["zones"]),
        "front": fo.Segmentation(mask_path=labels["front"]),
    }
    got = score_sample(job, "zones", front=True, zones=True)
    assert got["problem"] is None
    assert got["mde_m"] == pytest.approx(row["mde_m"], rel=1e-12)
    assert got["distance_count"] == row["distance_count"]
    assert got["zone_iou"] == pytest.approx(row["iou_mean"], rel=1e-12)
    # An inline mask is scored like its file.
    inline = job | {"prediction": fo.Segmentation(mask=np.asarray(Image.open(prediction)))}
    assert score_sample(inline, "zones", True, True)["mde_m"] == got["mde_m"]
    # Only what is asked for is computed.
    assert score_sample(job, "zones", front=False, zones=True)["mde_m"] is None

    bad = np.asarray(Image.open(prediction)).copy()
    bad[0, 0] = 7
    invalid = score_sample(job | {"prediction": fo.Segmentation(mask=bad)}, "zones", True, True)
    assert invalid["mde_m"] is None and invalid["zone_iou"] is None
    assert invalid["problem"].startswith("values outside")
    assert score_sample(job | {"prediction": None}, "zones", True, True)["problem"] == (
        "no prediction"
    )
    no_box = job | {"filepath": str(tmp_path / "elsewhere" / "test" / f"{stem}.png")}
    assert "front_extent_coord.txt" in score_sample(no_box, "zones", True, False)["problem"]
