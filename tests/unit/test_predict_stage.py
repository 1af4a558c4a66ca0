"""Tests for caffe_workflow.stages.predict: the incremental prediction job on
a real ONNX network (caffe_dev.onnx_nets) and real command models, the
start's check, and the end-of-run lines."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from caffe_dev.onnx_nets import ZONE_BIASES, ZONE_WEIGHTS, conv_net, zones_net
from caffe_workflow.inference.predict import predict_onnx
from caffe_workflow.inference.spec import parse_model
from caffe_workflow.predictions import Predictions
from caffe_workflow.stages import predict as stage


def images(folder, count, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        path = folder / f"COL_2011-0{i + 1}-01_TSX_7_2_00{i}.png"
        Image.fromarray(rng.integers(0, 256, (40 + i, 60), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def job(tmp_path, entry, paths, retry="r1", model="net"):
    return stage.run_batch(
        model,
        entry,
        paths,
        tmp_path / "out",
        tmp_path / "out" / "manifest_b0000.json",
        retry=retry,
        threads=1,
    )


def test_only_what_changed_is_predicted(tmp_path):
    net = zones_net(tmp_path / "net.onnx")
    entry = {"onnx": net, "kind": "zones"}
    paths = images(tmp_path / "sar", 3)

    first = job(tmp_path, entry, paths)
    assert first["predicted"] == sorted(os.path.basename(p)[:-4] for p in paths)
    assert first["error"] is None and first["retry_token"] == "r1"
    want = predict_onnx(parse_model("net", entry), paths, tmp_path / "want")
    for stem, file in first["written"].items():
        assert np.array_equal(
            np.asarray(Image.open(file)), np.asarray(Image.open(want.written[stem]))
        )

    assert job(tmp_path, entry, paths)["predicted"] == []
    new = images(tmp_path / "sar2", 4, seed=1)[3]
    assert job(tmp_path, entry, [*paths, new])["predicted"] == [os.path.basename(new)[:-4]]
    # A replaced image (its size changes) is predicted again.
    Image.new("L", (60, 30)).save(paths[0])
    assert job(tmp_path, entry, [*paths, new])["predicted"] == [os.path.basename(paths[0])[:-4]]
    # A changed model file: every image.
    conv_net(net, ZONE_WEIGHTS, ZONE_BIASES + np.float32(0.5))
    assert len(job(tmp_path, entry, [*paths, new])["predicted"]) == 4
    # An image gone from the batch: its prediction goes too.
    gone = job(tmp_path, entry, paths)["images"]
    assert len(gone) == 3
    assert not (tmp_path / "out" / (os.path.basename(new)[:-4] + "_zones.png")).exists()


def test_a_failing_command_keeps_what_is_valid_and_runs_again(tmp_path, capsys):
    paths = images(tmp_path / "sar", 2)
    writes = (
        'for f in {input_dir}/*.png; do cp "$f" {output_dir}/$(basename "$f" .png)_front.png; done'
    )
    good = {"command": writes, "kind": "fronts"}
    first = job(tmp_path, good, paths)
    assert len(first["written"]) == 2 and first["provider"] == "command"
    failing = {"command": f"{writes}; echo no GPU here >&2; exit 4", "kind": "fronts"}
    failed = job(tmp_path, failing, paths, retry="r2")
    assert failed["error"] == "model net: command exited with code 4: no GPU here"
    assert "model net: command exited with code 4: no GPU here" in capsys.readouterr().err
    # Another command: the predictions of the first one are not its own.
    assert failed["written"] == {}
    # The job wrote back another token than it was given: the next start reruns it.
    token = stage.retry_token(tmp_path / "out" / "manifest_b0000.json")
    assert token != "r2"
    again = job(tmp_path, good, paths, retry=token)
    assert again["error"] is None and len(again["predicted"]) == 2
    assert stage.retry_token(tmp_path / "out" / "manifest_b0000.json") == token


def test_plan_checks_once_and_leaves_out_unusable_models(tmp_path, capsys):
    results = tmp_path / "results"
    net = zones_net(tmp_path / "net.onnx")
    wide = conv_net(tmp_path / "wide.onnx", ZONE_WEIGHTS, ZONE_BIASES, in_channels=3)
    models = {
        "net": {"onnx": net, "kind": "zones"},
        "wide": {"onnx": wide, "kind": "zones"},
        "gone": {"onnx": str(tmp_path / "gone.onnx"), "kind": "zones"},
        "cmd": {"command": "true {input_dir} {output_dir}", "kind": "fronts"},
        "flat": str(net),
        "odd": {"onnx": net, "kind": "edges"},
    }
    runs = stage.plan(models, str(results))
    assert set(runs.specs) == {"net", "cmd"}
    assert runs.checked == {"net": "CPUExecutionProvider"}
    assert "has shape" in runs.problems["wide"]
    assert "ONNX file does not exist" in runs.problems["gone"]
    assert "must be a mapping" in runs.problems["flat"]
    assert "kind must be zones or fronts" in runs.problems["odd"]
    err = capsys.readouterr().err.splitlines()
    assert len([line for line in err if "model gone:" in line]) == 1
    assert not results.exists()  # the start writes nothing
    # A prediction job that ran the model with this fingerprint is the
    # record: the next start does not load it again.
    out = results / "models" / "net"
    paths = images(tmp_path / "sar", 1)
    stage.run_batch("net", models["net"], paths, out, out / "manifest_b0000.json", retry="")
    assert stage.plan(models, str(results)).checked == {}
    conv_net(net, ZONE_WEIGHTS, ZONE_BIASES + np.float32(1))
    assert stage.plan(models, str(results)).checked == {"net": "CPUExecutionProvider"}

    found = {}
    runs.add_to(found, lambda: ["A", "B"])
    assert isinstance(found["net"], Predictions) and found["cmd"].kind == "front"
    assert dict(found["net"].files) == {
        s: os.path.join(os.path.abspath(results / "models" / "net"), f"{s}_zones.png")
        for s in ("A", "B")
    }
    with pytest.raises(SystemExit, match="in both predictions and models"):
        runs.add_to(found, lambda: [])


def test_end_lines_name_each_problem(tmp_path):
    runs = stage.ModelRuns(results=str(tmp_path), problems={"gone": "model gone: no file"})
    manifest = tmp_path / "net" / "manifest_b0000.json"
    manifest.parent.mkdir()
    manifest.write_text(
        json.dumps({"written": {"A": "a"}, "predicted": ["A"], "provider": "CPUExecutionProvider"})
    )
    started = manifest.stat().st_mtime_ns
    lines, errors = stage.end_lines(runs.problem_lines(), [str(manifest)], started)
    assert lines == [
        "  model net: 1 images predicted in this run on CPUExecutionProvider, 1 with a "
        f"prediction ({manifest.parent})"
    ]
    assert errors == ["model gone: no file; it gets no prediction in this run"]
    # A manifest from an earlier run: nothing predicted in this one.
    lines, errors = stage.end_lines({}, [str(manifest)], started + 1)
    assert "model net: 0 images predicted in this run, 1 with a" in lines[0] and errors == []
    # A failed command's line, once however many batches say it.
    manifest.write_text(json.dumps({"written": {}, "error": "model net: command exited"}))
    twice = [str(manifest), str(manifest)]
    assert stage.end_lines({}, twice, 0)[1] == ["model net: command exited"]


def test_evaluate_members_follow_the_manifest(tmp_path):
    manifest = tmp_path / "manifest_b0000.json"
    manifest.write_text(json.dumps({"written": {"A": "a"}, "problems": [], "error": None}))
    members = [{"stem": "A"}, {"stem": "B"}]
    assert stage.predicted_members(members, [str(manifest)]) == [{"stem": "A"}]
    assert stage.predicted_members(members, ["x_zones.png"]) == members


def test_a_model_that_breaks_keeps_its_earlier_predictions(tmp_path, capsys):
    results = tmp_path / "results"
    net = zones_net(tmp_path / "net.onnx")
    entry = {"onnx": net, "kind": "zones"}
    paths = images(tmp_path / "sar", 2)
    out = results / "models" / "net"
    stage.run_batch("net", entry, paths, out, out / "manifest_b0000.json", retry="")
    stems = {os.path.basename(p)[:-4] for p in paths}

    with open(net, "wb") as f:
        f.write(b"not a model")
    runs = stage.plan({"net": entry}, str(results))
    assert runs.specs == {} and "cannot load" in runs.problems["net"]
    assert runs.kept == {"net": ("zones", stems)}
    err = capsys.readouterr().err
    assert "its 2 earlier predictions stay scored and in the dataset" in err
    found = {}
    runs.add_to(found, lambda: [*stems, "OTHER"])
    assert set(found["net"].files) == stems and found["net"].kind == "zones"
    assert all(os.path.isfile(f) for f in found["net"].files.values())
