"""Prediction folders as the programs that score CaFFe models write them
(caffe_workflow.predictions, caffe_workflow.prediction_pixels).

Each fixture holds known predictions (the synthetic zone model of
caffe_dev.sample_data, zones moved 3 px; a front model, label fronts moved
2 px and thickened) in one program's folder structure, file names and PNG
mode, written the way that program writes them (the file and line are named
at each writer). Each must score exactly as the same pixels in this
project's plain layout.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from caffe_dev.sample_data import generate, write_line_predictions, write_shifted_predictions
from caffe_workflow.caffe import evaluation as ev
from caffe_workflow.caffe.bounding_box import cut_to_box, read_corners
from caffe_workflow.caffe.layout import label_paths
from caffe_workflow.prediction_pixels import kind_of, read_gray
from caffe_workflow.predictions import PredictionsError, find_predictions, parse_config
from caffe_workflow.stages.evaluate import evaluate_member

SCORES = ("valid", "reason", "mde_m", "distance_sum_m", "distance_count", "pred_pixels")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("layouts")
    data_dir = root / "data_raw"
    generate(data_dir, count=9, seed=11, size="medium")
    zones = write_shifted_predictions(data_dir, root / "plain_zones")
    fronts = write_line_predictions(data_dir, root / "plain_fronts")
    assert zones == fronts and len(zones) >= 2
    return {"root": root, "data_dir": data_dir, "stems": zones}


def gray(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def scores(data, folder, kind=None, encoding="gray") -> dict:
    """stem -> the scored figures of every prediction found in `folder`,
    each file read as `encoding`."""
    found = find_predictions("m", folder, kind)
    out = {}
    for stem, path in found.files.items():
        member = {"split": "test", "stem": stem, "prediction": path}
        member |= {k: str(v) for k, v in label_paths(data["data_dir"], "test", stem).items()}
        row = evaluate_member(member, "m", found.kind, found.postprocessed)
        assert row["prediction_encoding"] == encoding, path
        out[stem] = {k: row.get(k) for k in SCORES} | {"iou": row.get("iou_mean")}
    return found, out


@pytest.fixture(scope="module")
def plain(data):
    _, z = scores(data, data["root"] / "plain_zones")
    _, f = scores(data, data["root"] / "plain_fronts")
    assert all(r["valid"] and r["mde_m"] is not None for r in z.values())
    return {"zones": z, "front": f}


def zone_pixels(data, stem):
    return gray(data["root"] / "plain_zones" / f"{stem}_zones.png")


def front_pixels(data, stem):
    return gray(data["root"] / "plain_fronts" / f"{stem}_front.png")


def test_official_code_zones_and_fronts(data, plain):
    """validate_or_test.py:669-672 and data_postprocessing.py:131-142:
    test_results/<zones|fronts>/run_<n>/complete_images/<stem>.png, written with
    cv2.imwrite (one 8-bit channel: 0/64/127/254, 0/255); the kind is in the path
    (a zone prediction of only NA and glacier, say, would not tell it)."""
    for target, kind, pixels in (
        ("zones", "zones", zone_pixels),
        ("fronts", "front", front_pixels),
    ):
        run = data["root"] / "official" / "test_results" / target / "run_0"
        folder = run / "complete_images"
        folder.mkdir(parents=True)
        (run / "complete_postprocessed_images").mkdir()
        (run / "visualizations").mkdir()
        for stem in data["stems"]:
            cv2.imwrite(str(folder / f"{stem}.png"), pixels(data, stem))
        found, got = scores(data, folder)
        assert (found.kind, found.layout) == (kind, "official")
        assert got == plain[kind]


def test_tyrion(data, plain):
    """TYRION Evaluation.py: <ckpt folder>/output_images/complete_images/<stem>.png;
    evaluate_model.py:341-351 pastes mode-L patches (0/64/127/254) and saves with
    PIL. Zones only; the kind comes from the values."""
    out = data["root"] / "tyrion" / "output_images"
    folder = out / "complete_images"
    folder.mkdir(parents=True)
    (out / "complete_postprocessed_images").mkdir()
    for stem in data["stems"]:
        Image.fromarray(zone_pixels(data, stem), mode="L").save(folder / f"{stem}.png")
    found, got = scores(data, folder)
    assert (found.kind, found.layout) == ("zones", "tyrion")
    assert got == plain["zones"]


def test_amd_hooknet_and_hookformer(data, plain):
    """AMD-HookNet eval_whole.py:142-171 and HookFormer eval_complete.py:94-123:
    whole_save/<stem>.png, an RGB image (patches written with the gray value in
    all three channels, eval_whole.py:81-84) saved by torchvision's save_image.
    Read as cv2.imread(..., IMREAD_GRAYSCALE) reads it: its gray value."""
    folder = data["root"] / "hooknet" / "whole_save"
    folder.mkdir(parents=True)
    for stem in data["stems"]:
        Image.fromarray(zone_pixels(data, stem), mode="L").convert("RGB").save(
            folder / f"{stem}.png"
        )
    assert Image.open(folder / f"{data['stems'][0]}.png").mode == "RGB"
    found, got = scores(data, folder, encoding="RGB")
    assert (found.kind, found.layout) == ("zones", "hooknet")
    assert got == plain["zones"]


def nnunet_folder(data) -> Path:
    """Task500_Glacier_reverse.py:28-47: <RESULTS>/pngs/<stem>_zone.png
    (0/64/127/254) and <stem>_front.png (a front extracted from the zones),
    both with cv2.imwrite, in one folder; evaluate_nnUNet.py then writes
    postprocessed/ and visualization/ inside it. The front here is the label
    front itself, so that a second post-processing would show."""
    folder = data["root"] / "nnunet" / "pngs"
    if folder.exists():
        return folder
    (folder / "postprocessed").mkdir(parents=True)
    (folder / "visualization").mkdir()
    for stem in data["stems"]:
        cv2.imwrite(str(folder / f"{stem}_zone.png"), zone_pixels(data, stem))
        label = gray(data["data_dir"] / "fronts" / "test" / f"{stem}_front.png")
        cv2.imwrite(str(folder / f"{stem}_front.png"), label)
        cv2.imwrite(str(folder / "postprocessed" / f"{stem}.png"), label)
    return folder


def test_nnunet_both_kinds_need_the_kind(data, plain):
    folder = nnunet_folder(data)
    with pytest.raises(PredictionsError) as err:
        find_predictions("nn", folder)
    message = str(err.value)
    assert "\n" not in message
    assert "both zone predictions" in message and "front predictions" in message
    assert "kind: zones" in message and "kind: fronts" in message and "predictions: nn" in message

    found, got = scores(data, folder, "zones")
    assert (found.kind, found.layout, found.postprocessed) == ("zones", "nnunet", False)
    assert found.other_kind == len(data["stems"])
    assert got == plain["zones"]
    # evaluate_nnUNet.py's own output folders are listed as ignored, never read.
    assert sum("postprocessed" in f for f, _ in found.ignored) == len(data["stems"])


def test_nnunet_fronts_are_not_post_processed_again(data):
    """evaluate_nnUNet.py scores <stem>_front.png cut to the box only
    (calculate_front_delineation_metric): a label front scores exactly 0 m
    with every pixel inside the box kept (a second post-processing would drop
    the skeleton's end pixels and the short pieces)."""
    found, got = scores(data, nnunet_folder(data), "fronts")
    assert (found.kind, found.postprocessed) == ("front", True)
    for stem, row in got.items():
        label = gray(data["data_dir"] / "fronts" / "test" / f"{stem}_front.png") == 255
        box = label_paths(data["data_dir"], "test", stem)["bbox"]
        inside = cut_to_box(label, read_corners(box))
        assert row["pred_pixels"] == int(inside.sum())
        if inside.any():
            assert row["mde_m"] == 0.0


def test_class_indices_palette_and_rgba(data, plain):
    """Zones as class indices 0-3 in a palette PNG, fronts as 0/1 in an RGBA
    PNG: each is its gray value as cv2 reads it, then the labels' values."""
    zones, fronts = data["root"] / "indices" / "zones", data["root"] / "indices" / "fronts"
    zones.mkdir(parents=True)
    fronts.mkdir()
    for stem in data["stems"]:
        index = np.searchsorted(np.array(ev.ZONE_VALUES), zone_pixels(data, stem)).astype(np.uint8)
        image = Image.fromarray(index, mode="P")
        image.putpalette([v for i in range(256) for v in (i, i, i)])
        image.save(zones / f"{stem}_zones.png")
        one = (front_pixels(data, stem) == 255).astype(np.uint8)
        Image.fromarray(one, mode="L").convert("RGBA").save(fronts / f"{stem}_front.png")
    assert Image.open(zones / f"{data['stems'][0]}_zones.png").mode == "P"
    assert scores(data, zones, encoding="class indices")[1] == plain["zones"]
    assert scores(data, fronts, encoding="class indices")[1] == plain["front"]


def test_kind_from_values():
    assert kind_of({0, 64, 127, 254}) == "zones" and kind_of({0, 2, 3}) == "zones"
    assert kind_of({0, 255}) == "front"
    assert kind_of({0}) is None and kind_of({0, 1}) is None and kind_of({0, 7}) is None


def test_no_kind_told_asks_for_kind(tmp_path):
    """<stem>.png files of only 0/1 values: a 0/1 front or zones of NA and
    rock only. One line asking for the kind; with it, they are read."""
    folder = tmp_path / "ambiguous"
    folder.mkdir()
    Image.fromarray(np.eye(4, dtype=np.uint8)).save(folder / "A_2000-01-01_TSX_7_1_001.png")
    with pytest.raises(PredictionsError, match=r"kind: zones\} \(or kind: fronts\)$"):
        find_predictions("m", folder)
    assert find_predictions("m", folder, "fronts").kind == "front"
    got = parse_config({"m": {"path": str(folder), "kind": "zones"}})
    assert got["m"].kind == "zones"
    with pytest.raises(PredictionsError, match="kind 'lines' is not zones or fronts"):
        parse_config({"m": {"path": str(folder), "kind": "lines"}})
    with pytest.raises(PredictionsError, match="unknown key 'kinds'"):
        parse_config({"m": {"path": str(folder), "kinds": "zones"}})


@pytest.mark.parametrize(
    "where,says",
    [
        ("test_results/zones/run_0", "is a run folder"),
        ("test_results", "give one run's complete_images folder"),
        ("test_results/zones/run_0/complete_postprocessed_images", "already post-processed"),
        ("test_results/zones/run_0/visualizations", "visualisations, not predictions"),
        ("pngs/postprocessed", "evaluate_nnUNet.py has already post-processed"),
    ],
)
def test_wrong_folder_says_which_to_give(tmp_path, where, says):
    run = tmp_path / "test_results" / "zones" / "run_0"
    for sub in ("complete_images", "complete_postprocessed_images", "visualizations"):
        (run / sub).mkdir(parents=True)
        Image.new("L", (4, 4)).save(run / sub / "A_2000-01-01_TSX_7_1_001.png")
    (tmp_path / "pngs" / "postprocessed").mkdir(parents=True)
    Image.new("L", (4, 4)).save(tmp_path / "pngs" / "A_2000-01-01_TSX_7_1_001_zone.png")
    with pytest.raises(PredictionsError) as err:
        find_predictions("m", tmp_path / where)
    message = str(err.value)
    assert says in message and "\n" not in message
    if "complete_images" in message:
        assert str(run / "complete_images") in message


def test_misnamed_files_are_listed(tmp_path, data):
    folder = tmp_path / "mixed"
    shutil.copytree(data["root"] / "plain_zones", folder)
    (folder / "notes.txt").write_text("x")
    (folder / f"{data['stems'][0]}_zones.PNG").write_bytes(b"")
    found = find_predictions("m", folder)
    assert sorted(found.files) == data["stems"]
    assert sorted(Path(f).name for f, _ in found.ignored) == [
        f"{data['stems'][0]}_zones.PNG",
        "notes.txt",
    ]


def test_read_gray_is_cv2s(tmp_path):
    rgb = np.zeros((3, 3, 3), dtype=np.uint8)
    rgb[0, 0] = (127, 127, 127)
    rgb[1, 1] = (10, 200, 30)
    Image.fromarray(rgb).save(tmp_path / "x.png")
    assert np.array_equal(
        read_gray(tmp_path / "x.png"), cv2.imread(str(tmp_path / "x.png"), cv2.IMREAD_GRAYSCALE)
    )
    assert read_gray(tmp_path / "x.png")[0, 0] == 127
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot be decoded"):
        read_gray(tmp_path / "bad.png")


def test_model_line():
    from caffe_workflow.model_summary import model_line

    m = {
        "model": "unet",
        "kind": "zones",
        "mde_m": 753.04,
        "images_evaluated": 120,
        "images_without_front": 2,
        "images_missing": {"count": 2},
        "invalid_predictions": {"a": "x"},
        "ignored_files": {"count": 7, "files": [{"file": f"/p/f{i}.png"} for i in range(7)]},
    }
    assert model_line(m) == (
        "unet (zones): MDE 753.0 m over 120 test images scored, 2 without a front, "
        "2 missing, 1 invalid, 7 files ignored (f0.png, f1.png, f2.png, f3.png, f4.png "
        "and 2 more)"
    )
    m |= {"mde_m": None, "ignored_files": {"count": 1, "files": [{"file": "/p/x.txt"}]}}
    assert model_line(m).startswith("unet (zones): no front to score over 120")
    assert model_line(m).endswith("1 file ignored (x.txt)")
    m["source"] = {"other_kind": 3}
    assert model_line(m).endswith("; 3 files of the other kind not read (as `kind` says)")


def test_a_zone_prediction_that_is_not_gray_gets_a_gray_mask(data, tmp_path):
    """FiftyOne reads an RGB mask as colours, not as the labels' values: the
    App's mask of an RGB (or palette, or class-index) prediction is a gray
    copy of the pixels that were scored; a gray file is its own mask."""
    stem = data["stems"][0]
    pixels = zone_pixels(data, stem)
    rgb = tmp_path / "whole_save" / f"{stem}.png"
    rgb.parent.mkdir()
    Image.fromarray(pixels, mode="L").convert("RGB").save(rgb)
    member = {"split": "test", "stem": stem, "prediction": str(rgb)}
    member |= {k: str(v) for k, v in label_paths(data["data_dir"], "test", stem).items()}
    row = evaluate_member(member, "m", "zones", masks_dir=tmp_path / "masks")
    assert row["mask_path"] == str(tmp_path / "masks" / f"{stem}.png")
    shown = Image.open(row["mask_path"])
    assert shown.mode == "L" and np.array_equal(np.asarray(shown), pixels)

    gray = tmp_path / f"{stem}_zones.png"
    Image.fromarray(pixels, mode="L").save(gray)
    member["prediction"] = str(gray)
    row = evaluate_member(member, "m", "zones", masks_dir=tmp_path / "masks2")
    assert row["mask_path"] == str(gray) and not (tmp_path / "masks2").exists()


def test_the_evaluate_job_logs_its_progress(data, tmp_path, monkeypatch, capsys):
    from caffe_workflow.stages import evaluate

    monkeypatch.setattr(evaluate, "PROGRESS_EVERY_S", 0.0)
    folder = tmp_path / "plain"
    folder.mkdir()
    members = []
    for stem in data["stems"]:
        path = folder / f"{stem}_zones.png"
        Image.fromarray(zone_pixels(data, stem), mode="L").save(path)
        members.append({"split": "test", "stem": stem, "prediction": str(path)})
        members[-1] |= {k: str(v) for k, v in label_paths(data["data_dir"], "test", stem).items()}
    rows = tmp_path / "m" / "batches" / "b0000.parquet"
    rows.parent.mkdir(parents=True)
    assert evaluate.run_batch(members, "m", "zones", rows)["evaluated"] == len(members)
    logged = [line for line in capsys.readouterr().err.splitlines() if "images evaluated" in line]
    n = len(members)
    assert logged == [f"{i} of {n} images evaluated" for i in range(1, n)]
