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
from caffe_dev.sample_data import generate, write_line_predictions, write_shifted_predictions
from caffe_workflow.caffe.evaluation import summarize
from caffe_workflow.caffe.splits import val_stems
from caffe_workflow.ingest.models import IOU_URI, MDE_URI, PLUGINS_DIR
from caffe_workflow.stages.evaluate import summary_records

pytestmark = [pytest.mark.slow, pytest.mark.mongod]

DATASET = "caffe-evaluate-test"
PLUGIN_DATASET = "caffe-evaluate-plugin"
LAYOUTS_DATASET = "caffe-evaluate-layouts"
UNKNOWN = "COL_1999-01-01_TSX_7_1_001"


def write_config(path: Path, models: dict) -> Path:
    """models: name -> folder, or {path, kind}."""
    lines = ["predictions:"]
    for m, value in models.items():
        if isinstance(value, dict):
            lines += [f"  {m}:"] + [f"    {k}: {v}" for k, v in value.items()]
        else:
            lines.append(f"  {m}: {value}")
    path.write_text("\n".join(lines) + "\n")
    return path


def per_image(workdir: Path, model: str) -> dict:
    table = pq.read_table(
        runner.results(workdir, DATASET) / "evaluation" / model / "per_image.parquet"
    )
    return {r["stem"]: r for r in table.to_pylist()}


def metrics(workdir: Path, model: str, dataset: str = DATASET) -> dict:
    path = runner.results(workdir, dataset) / "evaluation" / model / "metrics.json"
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


def test_plugin_metrics_equal_the_workflow(tmp_path, fiftyone_env, monkeypatch):
    """The plugin @caffe/metrics in evaluate_segmentations, run as a user would
    on the test split, gives the workflow's metrics.json figures and the same
    per-sample fields, custom metrics and confusion matrix as the run the
    ingest registered; its fields follow the run (delete, rename), and an
    ingest restores what a deleted run took with it."""
    import fiftyone as fo
    from fiftyone import ViewField as F

    data_dir, workdir = tmp_path / "data_raw", tmp_path / "work"
    generate(data_dir, count=20, seed=5, size="medium")
    test = sorted(p.name[: -len("_zones.png")] for p in (data_dir / "zones" / "test").glob("*.png"))
    assert len(test) >= 4
    zm, fr = tmp_path / "zm", tmp_path / "fr"
    write_shifted_predictions(data_dir, zm)
    write_shifted_predictions(data_dir, zm, shift=5, split="train")  # not in the run
    write_line_predictions(data_dir, fr)
    invalid, no_front = test[:2]
    bad = np.asarray(Image.open(zm / f"{invalid}_zones.png")).copy()
    bad[0, 0] = 7
    Image.fromarray(bad).save(zm / f"{invalid}_zones.png")
    shape = np.asarray(Image.open(zm / f"{no_front}_zones.png")).shape
    glacier_only = np.full(shape, 127, dtype=np.uint8)  # no ocean: no front, left out
    Image.fromarray(glacier_only).save(zm / f"{no_front}_zones.png")
    cfg = write_config(tmp_path / "models.yaml", {"zm": zm, "fr": fr})
    runner.run(workdir, data_dir, PLUGIN_DATASET, fiftyone_env, "--configfile", str(cfg))
    m, f = metrics(workdir, "zm", PLUGIN_DATASET), metrics(workdir, "fr", PLUGIN_DATASET)
    assert m["images_without_front"] == 1 and list(m["invalid_predictions"]) == [invalid]
    assert m["other_split_images_evaluated"] > 0

    # The App and users find the plugin through FIFTYONE_PLUGINS_DIR (README).
    monkeypatch.setattr(fo.config, "plugins_dir", str(PLUGINS_DIR))
    ds = fo.load_dataset(PLUGIN_DATASET)
    view = ds.load_saved_view("test")
    res = view.evaluate_segmentations(
        "zm_zones",
        gt_field="zones",
        eval_key="mine",
        mask_targets=ds.mask_targets["zones"],
        custom_metrics=[MDE_URI, IOU_URI],
    )
    figures = res.metrics()
    assert figures["caffe_mde_m"] == pytest.approx(m["mde_m"], rel=1e-9)
    assert figures["caffe_zone_iou"] == pytest.approx(m["zones"]["iou"]["mean"], rel=1e-9)
    assert m["mde_m"] > 5 and 0.5 < m["zones"]["iou"]["mean"] < 1

    # The ingest's run: what the plugin gives, with the same labels.
    ingest = ds.load_evaluation_results("zm")
    # The ingest found the plugin (its fiftyone config names another plugins
    # folder): the plugin's fields are in the run's sidebar group.
    (group,) = [g for g in ds.app_config.sidebar_groups if g.name == "zm"]
    assert {"zm_mde_m", "zm_zone_iou", "zm_accuracy"} <= set(group.paths)
    assert ingest.config.custom_metrics == [MDE_URI, IOU_URI]
    assert set(ingest.custom_metrics) == set(res.custom_metrics) == {MDE_URI, IOU_URI}
    for uri, mine in res.custom_metrics.items():
        theirs = ingest.custom_metrics[uri]
        assert theirs["value"] == pytest.approx(mine["value"], rel=1e-9)
        assert {k: theirs[k] for k in ("key", "label", "lower_is_better")} == {
            k: mine[k] for k in ("key", "label", "lower_is_better")
        }
    assert ingest.custom_metrics[IOU_URI]["lower_is_better"] is False
    assert ingest.metrics()["caffe_mde_m"] == pytest.approx(m["mde_m"], rel=1e-9)
    # FiftyOne's own pixel counts on the valid predictions (FiftyOne would
    # count the invalid one too: it drops the pixels of unknown values).
    valid = view.match(F("zm_status") != "invalid").evaluate_segmentations(
        "zm_zones", gt_field="zones", mask_targets=ds.mask_targets["zones"]
    )
    assert np.array_equal(ingest.pixel_confusion_matrix, valid.pixel_confusion_matrix)
    assert ds.load_evaluation_view("zm").count() == len(test)  # the test split

    # Per sample: the plugin's fields equal the ingest's <model>_... fields.
    stems, mine_mde, zm_mde, mine_iou, zm_iou = view.values(
        ["stem", "mine_mde_m", "zm_mde_m", "mine_zone_iou", "zm_zone_iou"]
    )
    assert mine_mde == pytest.approx(zm_mde) and mine_iou == pytest.approx(zm_iou)
    by_stem = dict(zip(stems, zip(mine_mde, mine_iou)))
    assert by_stem[invalid] == (None, None)
    assert by_stem[no_front][0] is None and by_stem[no_front][1] is not None
    assert sum(v is not None for v in mine_mde) == len(test) - 2
    assert ds.count("mine_mde_m") == len(test) - 2  # train samples untouched

    # A front model, by the same metric: gt_field "front" means front predictions.
    ds.set_values(
        "fr_mask",
        {s: fo.Segmentation(mask_path=str(fr / f"{s}_front.png")) for s in test},
        key_field="stem",
    )
    fres = view.evaluate_segmentations(
        "fr_mask", gt_field="front", eval_key="fr_mine", custom_metrics=[MDE_URI]
    )
    assert fres.metrics()["caffe_mde_m"] == pytest.approx(f["mde_m"], rel=1e-9)
    assert view.values("fr_mine_mde_m") == pytest.approx(view.values("fr_mde_m"))

    # The metrics' fields follow their run.
    info = ds.get_evaluation_info("mine").config
    assert {"mine_mde_m", "mine_zone_iou"} <= set(info.build().get_fields(ds, "mine"))
    ds.rename_evaluation("mine", "mine2")
    assert ds.has_field("mine2_mde_m") and not ds.has_field("mine_mde_m")
    ds.delete_evaluation("mine2")
    assert not ds.has_field("mine2_mde_m") and not ds.has_field("mine2_zone_iou")

    # Deleting the ingest's run (e.g. in the App) deletes its fields; the next
    # ingest registers the run again and writes them back.
    before = dict(zip(*ds.values(["stem", "zm_mde_m"])))
    ds.delete_evaluation("zm")
    assert not ds.has_field("zm_mde_m") and not ds.has_field("zm_accuracy")
    runner.run(
        workdir,
        data_dir,
        PLUGIN_DATASET,
        fiftyone_env,
        "--configfile",
        str(cfg),
        "--forcerun",
        "ingest",
    )
    ds.reload()
    assert ds.has_evaluation("zm")
    assert dict(zip(*ds.values(["stem", "zm_mde_m"]))) == before
    assert ds.count("zm_accuracy") > 0


def rename_image(data_dir: Path, split: str, old: str, new: str) -> None:
    """Give one image (SAR image, labels and box) another stem."""
    parts = (("sar_images", ".png"), ("zones", "_zones.png"), ("fronts", "_front.png"))
    for folder, suffix in parts:
        (data_dir / folder / split / f"{old}{suffix}").rename(
            data_dir / folder / split / f"{new}{suffix}"
        )
    boxes = data_dir / "bounding_boxes"
    (boxes / f"{old}_front_extent_coord.txt").rename(boxes / f"{new}_front_extent_coord.txt")


def test_program_layouts_scored_as_written(tmp_path, fiftyone_env):
    """The same zone predictions in the folders the official code, the nnU-Net
    and HookFormer write (their names and PNG modes) score exactly as in the
    plain layout; files of no catalog stem or no known name are listed; the
    end of the run prints one line per model; the catalog has official_split."""
    import cv2

    data_dir, workdir = tmp_path / "data_raw", tmp_path / "work"
    stems = generate(data_dir, count=14, seed=7, size="medium")
    train = sorted(p.stem for p in (data_dir / "sar_images" / "train").glob("*.png"))
    old = next(s for s in train if s.startswith("JAC_"))
    val = sorted(s for s in val_stems() if s.startswith("JAC_"))[0]
    rename_image(data_dir, "train", old, val)

    plain = tmp_path / "plain"
    test = write_shifted_predictions(data_dir, plain)
    official = tmp_path / "unet" / "test_results" / "zones" / "run_0" / "complete_images"
    official.mkdir(parents=True)
    (official.parent / "complete_postprocessed_images").mkdir()
    whole = tmp_path / "hookformer" / "whole_save"
    whole.mkdir(parents=True)
    pngs = tmp_path / "nnunet" / "pngs"
    pngs.mkdir(parents=True)
    for stem in test:
        zones = np.asarray(Image.open(plain / f"{stem}_zones.png"))
        cv2.imwrite(str(official / f"{stem}.png"), zones)  # validate_or_test.py
        Image.fromarray(zones).convert("RGB").save(whole / f"{stem}.png")  # save_image: RGB
        cv2.imwrite(str(pngs / f"{stem}_zone.png"), zones)  # Task500_Glacier_reverse.py
        cv2.imwrite(str(pngs / f"{stem}_front.png"), (zones == 254).astype(np.uint8) * 255)
    cv2.imwrite(str(official / f"{UNKNOWN}.png"), zones)
    (official / "notes.txt").write_text("not a prediction")

    cfg = write_config(
        tmp_path / "models.yaml",
        {
            "plain": plain,
            "unet": official,
            "hookformer": whole,
            "nnunet": {"path": pngs, "kind": "zones"},
        },
    )
    log = runner.run(workdir, data_dir, LAYOUTS_DATASET, fiftyone_env, "--configfile", str(cfg)).log

    want = metrics(workdir, "plain", LAYOUTS_DATASET)
    assert want["images_evaluated"] == len(test) and want["mde_m"] > 5
    same = ("mde_m", "images_evaluated", "images_without_front", "zones", "by_glacier")
    for model in ("unet", "hookformer", "nnunet"):
        got = metrics(workdir, model, LAYOUTS_DATASET)
        assert {k: got[k] for k in same} == {k: want[k] for k in same}, model
    unet = metrics(workdir, "unet", LAYOUTS_DATASET)
    assert unet["source"]["layout"] == "official" and unet["kind"] == "zones"
    assert unet["ignored_stems"] == [UNKNOWN]
    assert [Path(f["file"]).name for f in unet["ignored_files"]["files"]] == [
        UNKNOWN,
        "notes.txt",
    ]
    assert metrics(workdir, "nnunet", LAYOUTS_DATASET)["source"]["other_kind"] == len(test)

    # The end of the run: one line per model.
    lines = [line.strip() for line in log.splitlines()]
    start = lines.index(
        "Models scored (test split; metrics.json beside each model's per_image.parquet):"
    )
    shown = {line.split(" ")[0]: line for line in lines[start + 1 : start + 5]}
    assert set(shown) == {"plain", "unet", "hookformer", "nnunet"}
    assert shown["unet"] == (
        f"unet (zones): MDE {want['mde_m']:.1f} m over {len(test)} test images scored, "
        f"0 without a front, 0 missing, 0 invalid, 2 files ignored ({UNKNOWN}, notes.txt)"
    )

    # The report's table: the computed rows, then the published ones.
    report = (runner.results(workdir, LAYOUTS_DATASET) / "report" / "models.html").read_text()
    assert "hookformer" in report and "Published (reference rows" in report
    assert report.index("<td>unet</td>") < report.index("Published (reference rows")

    # Every catalog row has its official split.
    results = runner.results(workdir, LAYOUTS_DATASET)
    catalog = pq.read_table(results / "catalog.parquet").to_pylist()
    split = {r["stem"]: r["official_split"] for r in catalog}
    assert split[val] == "val"
    assert {split[s] for s in test} == {"test"}
    assert {split[s] for s in stems if s not in test and s != old} == {"train"}


@pytest.mark.parametrize(
    "case,message",
    [
        ("name", "Error: model name '1bad' in predictions is not a valid field name"),
        ("missing", "Error: predictions folder of model m does not exist"),
        ("run", "is a run folder"),
        ("kind", "kind 'lines' is not zones or fronts"),
        ("both", "holds both zone predictions (1 file such as A_zones.png) and front predictions"),
    ],
)
def test_bad_predictions_config(tmp_path, case, message):
    data_dir = tmp_path / "data_raw"
    generate(data_dir, count=3, seed=3)
    folder = tmp_path / "preds"
    (folder / "sub").mkdir(parents=True)
    Image.new("L", (4, 4)).save(folder / "A_zones.png")
    Image.new("L", (4, 4)).save(folder / "sub" / "B_front.png")
    (tmp_path / "run_0" / "complete_images").mkdir(parents=True)
    models = {
        "name": {"1bad": tmp_path},
        "missing": {"m": tmp_path / "nope"},
        "both": {"m": folder},
        "run": {"m": tmp_path / "run_0"},
        "kind": {"m": {"path": folder, "kind": "lines"}},
    }[case]
    cfg = write_config(tmp_path / "bad.yaml", models)
    done = runner.run(tmp_path / "work", data_dir, DATASET, {}, "--configfile", str(cfg), ok=False)
    errors = [line for line in done.log.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and message in errors[0], done.log
    assert not (tmp_path / "work" / "results").exists()
