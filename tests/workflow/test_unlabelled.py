"""Images without labels among labelled ones (issue 24 section 1), on real
Snakemake runs and the session's mongod: an image with none of its three
label files is a valid sample tagged `unlabelled`; one with only some of them
stays invalid; models (a folder of predictions and an ONNX network the
workflow runs) predict the unlabelled images, their fronts reach the
dataset, and nothing of them is scored. Labels added later make the image
an ordinary, scored one."""

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

import runner
from caffe_dev.onnx_nets import zones_net
from caffe_dev.sample_data import generate, write_shifted_predictions
from caffe_workflow.caffe import evaluation as ev
from caffe_workflow.caffe.layout import image_paths, label_paths

pytestmark = [pytest.mark.slow, pytest.mark.mongod]

DATASET = "caffe-unlabelled-test"


def per_image(workdir, model) -> dict:
    path = runner.results(workdir, DATASET) / "evaluation" / model / "per_image.parquet"
    return {r["stem"]: r for r in pq.read_table(path).to_pylist()}


def metrics(workdir, model) -> dict:
    path = runner.results(workdir, DATASET) / "evaluation" / model / "metrics.json"
    return json.loads(path.read_text())


def test_unlabelled_images(tmp_path, fiftyone_env):
    import fiftyone as fo
    from fiftyone import ViewField as F

    data_dir, workdir = tmp_path / "data_raw", tmp_path / "work"
    generate(data_dir, count=8, seed=7, size="medium")
    split_of = {p.stem: p.parent.name for p in data_dir.glob("sar_images/*/*.png")}
    test = sorted(s for s, split in split_of.items() if split == "test")
    train = sorted(s for s, split in split_of.items() if split == "train")
    assert len(test) >= 2 and len(train) >= 2, split_of
    # A folder of predictions of every image, made while all labels exist.
    shifted = tmp_path / "shifted"
    write_shifted_predictions(data_dir, shifted)
    write_shifted_predictions(data_dir, shifted, split="train")
    # Two new acquisitions: no label file at all (one per split); and one
    # image that lost only its front mask.
    unlabelled = {test[0], train[0]}
    kept = tmp_path / "kept_labels"
    for stem in unlabelled:
        for path in label_paths(data_dir, split_of[stem], stem).values():
            (kept / path.relative_to(data_dir)).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, kept / path.relative_to(data_dir))
    partial = train[1]
    label_paths(data_dir, "train", partial)["front"].unlink()

    net = zones_net(tmp_path / "net.onnx")
    config = {
        "predictions": {"shifted": {"path": str(shifted), "kind": "zones"}},
        "models": {"net": {"onnx": net, "kind": "zones"}},
    }
    cfg = tmp_path / "models.json"
    cfg.write_text(json.dumps(config))  # YAML reads JSON
    done = runner.run(workdir, data_dir, DATASET, fiftyone_env, "--configfile", str(cfg))

    # The catalog and its report: valid, unlabelled, no problems.
    rows = {r["stem"]: r for r in runner.catalog(workdir, DATASET)}
    for stem in unlabelled:
        assert rows[stem]["valid"] and rows[stem]["labelled"] is False, rows[stem]
        assert rows[stem]["problems"] == [] and rows[stem]["thumbnail_path"]
        assert rows[stem]["zones_path"] is None and rows[stem]["front_lines"] is None
    assert not rows[partial]["valid"] and rows[partial]["labelled"]
    assert any("front mask missing" in p for p in rows[partial]["problems"])
    assert sum(r["labelled"] is False for r in rows.values()) == 2
    report = (runner.results(workdir, DATASET) / "validation_report.md").read_text()
    assert "8 images: 7 valid, 1 invalid, 2 unlabelled" in report, report
    assert "8 images: 7 valid, 1 invalid, 2 unlabelled" in done.log
    assert all(f"{stem}: invalid" not in done.log for stem in unlabelled)

    # The dataset: the tag and the saved view; the models' fronts on them.
    dataset = fo.load_dataset(DATASET)
    assert set(dataset.match_tags("unlabelled").values("stem")) == unlabelled
    assert set(dataset.match_tags("invalid").values("stem")) == {partial}
    assert set(dataset.load_saved_view("unlabelled").values("stem")) == unlabelled
    for model in ("shifted", "net"):
        rows_of = per_image(workdir, model)
        for stem in unlabelled:
            sample = dataset.one(F("stem") == stem)
            e = rows_of[stem]
            assert e["valid"] and e["labelled"] is False and e["mde_m"] is None, e
            assert sample[f"{model}_status"] == "unlabelled"
            assert sample[f"{model}_mde_m"] is None and sample[f"{model}_problem"] is None
            assert sample[f"{model}_zones"] is not None
            # The front is the benchmark's post-processing of the prediction,
            # not cut to a box (there is none).
            prediction = np.asarray(Image.open(e["mask_path"]))
            resolution = ev.image_keys(stem)["resolution"]
            front = ev.predicted_front(prediction, "zones", resolution)
            assert e["pred_pixels"] == int(front.sum())
            lines = sample[f"{model}_front"]
            assert bool(lines and lines.polylines) == bool(front.any())
    # The copied zones have fronts: the unlabelled images show them.
    for stem in unlabelled:
        assert dataset.one(F("stem") == stem)["shifted_front"].polylines

    # Scores leave them out: not scored, not missing, not invalid.
    m = metrics(workdir, "shifted")
    labelled_test = [s for s in test if s not in unlabelled]
    assert m["images_evaluated"] == len(labelled_test), m
    assert m["images_missing"]["count"] == 0 and m["unlabelled_images_predicted"] == 2
    # The evaluation run of the App's Model Evaluation panel: the scored samples.
    evaluated = dataset.load_evaluation_view("shifted").values("stem")
    assert sorted(evaluated) == sorted(labelled_test)
    # Only the partial image's prediction cannot be scored: no label front.
    assert list(m["invalid_predictions"]) == [partial]
    assert "label front missing" in m["invalid_predictions"][partial]
    assert metrics(workdir, "net")["unlabelled_images_predicted"] == 2
    assert "2 images without labels predicted (fronts shown, not scored)" in done.log

    # Its labels arrive: the test image becomes an ordinary, scored sample.
    stem = test[0]
    for path in label_paths(data_dir, "test", stem).values():
        shutil.move(kept / path.relative_to(data_dir), path)
    assert image_paths(data_dir, "test", stem)["sar"].exists()
    runner.run(workdir, data_dir, DATASET, fiftyone_env, "--configfile", str(cfg))
    # reload(): samples this process holds (`sample` above) are refreshed
    # from what the workflow wrote, as FiftyOne wants after another process's writes.
    dataset = fo.load_dataset(DATASET)
    dataset.reload()
    assert set(dataset.match_tags("unlabelled").values("stem")) == {train[0]}
    sample = dataset.one(F("stem") == stem)
    assert "unlabelled" not in sample.tags and sample["labelled"] is True
    assert sample["shifted_status"] in ("scored", "no_front")
    assert sample["zones"] is not None
    m = metrics(workdir, "shifted")
    assert m["images_evaluated"] == len(labelled_test) + 1
    assert m["unlabelled_images_predicted"] == 1
    assert stem in dataset.load_evaluation_view("shifted").values("stem")
