"""Scoring models (issue 13) on real Snakemake runs and the session's mongod.

Models: `exact` (a front model predicting the label fronts: about 0 m;
not exactly 0, as the protocol keeps the longest skeleton path, which can
drop a pixel, and removes fronts of at most 750 m), `shifted` (the synthetic demo
model, zones moved 3 px) and `fronts` (a front model holding a copy of a
label front, a prediction of the wrong size, one with wrong values and one
of an image that is not in the catalog).
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

import runner
from caffe_dev.sample_data import generate, write_shifted_predictions
from caffe_workflow.caffe.evaluation import summarize
from caffe_workflow.stages.evaluate import summary_records

pytestmark = [pytest.mark.slow, pytest.mark.mongod]

DATASET = "caffe-evaluate-test"
UNKNOWN = "COL_1999-01-01_TSX_7_1_001"


def write_config(path: Path, models: dict) -> Path:
    lines = ["predictions:"] + [f"  {m}: {folder}" for m, folder in models.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def per_image(workdir: Path, model: str) -> dict:
    table = pq.read_table(
        runner.results(workdir, DATASET) / "evaluation" / model / "per_image.parquet"
    )
    return {r["stem"]: r for r in table.to_pylist()}


def metrics(workdir: Path, model: str) -> dict:
    path = runner.results(workdir, DATASET) / "evaluation" / model / "metrics.json"
    return json.loads(path.read_text())


def test_models_scored_incrementally(tmp_path, fiftyone_env):
    import fiftyone as fo
    from fiftyone import ViewField as F

    data_dir, workdir = tmp_path / "data_raw", tmp_path / "work"
    stems = generate(data_dir, count=14, seed=7, size="medium")
    test = sorted(p.name[: -len("_zones.png")] for p in (data_dir / "zones" / "test").glob("*.png"))
    assert len(test) >= 3

    exact = tmp_path / "exact" / "nested"
    exact.mkdir(parents=True)
    for stem in test:
        shutil.copy(data_dir / "fronts" / "test" / f"{stem}_front.png", exact)
    shifted = tmp_path / "shifted"
    write_shifted_predictions(data_dir, shifted)
    fronts = tmp_path / "fronts"
    fronts.mkdir()
    good, small, wrong = test[:3]
    shutil.copy(data_dir / "fronts" / "test" / f"{good}_front.png", fronts)
    Image.new("L", (5, 5)).save(fronts / f"{small}_front.png")
    label = np.asarray(Image.open(data_dir / "fronts" / "test" / f"{wrong}_front.png")).copy()
    label[0, 0] = 7
    Image.fromarray(label).save(fronts / f"{wrong}_front.png")
    Image.new("L", (5, 5)).save(fronts / f"{UNKNOWN}_front.png")

    cfg = write_config(
        tmp_path / "models.yaml", {"exact": exact, "shifted": shifted, "fronts": fronts}
    )
    log = runner.run(workdir, data_dir, DATASET, fiftyone_env, "--configfile", str(cfg)).log
    assert runner.job_counts(log)["evaluate_merge"] == 3

    # A prediction equal to the label: ~0 m; metrics = summarize(rows).
    m = metrics(workdir, "exact")
    assert m["mde_m"] < 0.1 and m["images_evaluated"] == len(test)
    assert m["images_missing"] == {"count": 0, "stems": []}
    assert all(v["mde_m"] < 0.1 for v in m["by_glacier"].values() if v["mde_m"] is not None)
    rows = [r for r in per_image(workdir, "exact").values() if r["valid"] and r["split"] == "test"]
    want = summarize(summary_records(rows))
    assert {k: m[k] for k in want} == json.loads(json.dumps(want))

    s = metrics(workdir, "shifted")
    assert s["mde_m"] > 5 and s["images_evaluated"] == len(test)
    assert s["zones"]["iou"]["mean"] > 0.8

    f = metrics(workdir, "fronts")
    assert f["kind"] == "front" and f["ignored_stems"] == [UNKNOWN]
    assert set(f["invalid_predictions"]) == {small, wrong}
    assert "differs from the label" in f["invalid_predictions"][small]
    assert "values outside" in f["invalid_predictions"][wrong]
    assert f["images_missing"]["count"] == len(test) - 3
    assert f["images_evaluated"] == 1

    dataset = fo.load_dataset(DATASET)
    assert set(dataset.list_evaluations()) == {"shifted"}
    results = dataset.load_evaluation_results("shifted")
    assert results.custom_metrics["@caffe/metrics/mde"]["value"] == pytest.approx(s["mde_m"])
    assert {"shifted-worst-mde", "shifted-no-front", "fronts-worst-mde"} <= set(
        dataset.list_saved_views()
    )
    assert dataset.info["caffe_models"]["fronts"]["kind"] == "front"
    assert dataset.info["evaluations"]["shifted"]["mde_m"] == pytest.approx(s["mde_m"])
    sample = dataset.one(F("stem") == good)
    assert sample["exact_mde_m"] < 0.1 and sample["shifted_zones"].mask_path
    assert sample["fronts_status"] == "scored" and sample["fronts_front"].polylines
    assert dataset.one(F("stem") == small)["fronts_problem"].startswith("size")
    other = next(stem for stem in stems if stem not in test)  # no prediction
    assert dataset.one(F("stem") == other)["fronts_status"] is None

    # One changed prediction: only that image is evaluated again.
    before = {k: r["evaluated_at_ns"] for k, r in per_image(workdir, "shifted").items()}
    old_mde = dataset.one(F("stem") == good)["shifted_mde_m"]
    zones = np.asarray(Image.open(data_dir / "zones" / "test" / f"{good}_zones.png"))
    moved = np.concatenate([np.repeat(zones[:, :1], 9, axis=1), zones[:, :-9]], axis=1)
    Image.fromarray(moved).save(shifted / f"{good}_zones.png")
    runner.run(workdir, data_dir, DATASET, fiftyone_env, "--configfile", str(cfg))
    after = {k: r["evaluated_at_ns"] for k, r in per_image(workdir, "shifted").items()}
    assert {k for k in after if after[k] != before[k]} == {good}
    dataset.reload()
    assert dataset.one(F("stem") == good)["shifted_mde_m"] > old_mde

    # Nothing changed: nothing runs.
    log = runner.run(workdir, data_dir, DATASET, fiftyone_env, "--configfile", str(cfg)).log
    assert "Nothing to be done" in log

    # The user's work; then the model `shifted` leaves the config.
    sample = dataset.one(F("stem") == good)
    sample.tags.append("my-tag")
    sample["my_note"] = "looked at"
    sample.save()
    cfg = write_config(tmp_path / "models.yaml", {"exact": exact, "fronts": fronts})
    runner.run(workdir, data_dir, DATASET, fiftyone_env, "--configfile", str(cfg))
    dataset.reload()
    assert dataset.list_evaluations() == []
    assert not [f for f in dataset.get_field_schema() if f.startswith("shifted_")]
    assert not [v for v in dataset.list_saved_views() if v.startswith("shifted-")]
    assert "shifted" not in dataset.info["caffe_models"]
    assert "shifted" not in dataset.info["evaluations"]
    mine = dataset.one(F("stem") == good)
    assert "my-tag" in mine.tags and mine["my_note"] == "looked at"
    assert mine["exact_mde_m"] < 0.1
    assert sorted(dataset.distinct("stem")) == sorted(stems)


@pytest.mark.parametrize(
    "case,message",
    [
        ("name", "Error: model name '1bad' in predictions is not a valid field name"),
        ("missing", "Error: predictions folder of model m does not exist"),
        ("both", "holds both <stem>_zones.png and <stem>_front.png files"),
    ],
)
def test_bad_predictions_config(tmp_path, case, message):
    data_dir = tmp_path / "data_raw"
    generate(data_dir, count=3, seed=3)
    folder = tmp_path / "preds"
    (folder / "sub").mkdir(parents=True)
    Image.new("L", (4, 4)).save(folder / "A_zones.png")
    Image.new("L", (4, 4)).save(folder / "sub" / "B_front.png")
    models = {
        "name": {"1bad": tmp_path},
        "missing": {"m": tmp_path / "nope"},
        "both": {"m": folder},
    }[case]
    cfg = write_config(tmp_path / "bad.yaml", models)
    done = runner.run(tmp_path / "work", data_dir, DATASET, {}, "--configfile", str(cfg), ok=False)
    errors = [line for line in done.log.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and message in errors[0], done.log
    assert not (tmp_path / "work" / "results").exists()
