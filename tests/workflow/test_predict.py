"""Models run by the workflow (config key `models`, issue 24 section 2) on
real Snakemake runs and the session's mongod: a real ONNX network
(caffe_dev.onnx_nets) on generated images, incremental per image, and a
missing file, a wrong shape and a failing command each one line while the
data stages still complete."""

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import runner
from caffe_dev.onnx_nets import ZONE_BIASES, ZONE_WEIGHTS, conv_net, zones_net
from caffe_dev.sample_data import generate
from caffe_workflow.inference.predict import predict
from caffe_workflow.inference.spec import parse_model

pytestmark = [pytest.mark.slow, pytest.mark.mongod]

DATASET = "caffe-predict-test"
SEED, SIZE, COUNT = 11, "medium", 4
# A command model that "predicts" each image's label zones (it follows the
# link to the SAR image to find them): its MDE is the protocol's on exact zones.
ORACLE = (
    "for f in {input_dir}/*.png; do "
    "z=$(readlink -f \"$f\" | sed 's#/sar_images/\\(.*\\)[.]png$#/zones/\\1_zones.png#'); "
    'cp "$z" {output_dir}/; done'
)


def write_config(path, models: dict) -> str:
    path.write_text(json.dumps({"models": models}))  # YAML reads JSON
    return str(path)


def predictions(workdir, model="net") -> dict:
    folder = runner.results(workdir, DATASET) / "models" / model
    return {p.name[: -len("_zones.png")]: p for p in folder.glob("*_zones.png")}


def manifests(workdir, model="net") -> list[dict]:
    folder = runner.results(workdir, DATASET) / "models" / model
    return [json.loads(p.read_text()) for p in sorted(folder.glob("manifest_*.json"))]


def predicted(workdir, model="net") -> set:
    return {stem for m in manifests(workdir, model) for stem in m["predicted"]}


def assert_as_inference(workdir, data_dir, entry, tmp):
    """Every prediction equals, pixel for pixel, what inference gives."""
    images = sorted(data_dir.glob("sar_images/*/*.png"))
    run = predict(parse_model("net", entry), images, tmp)
    got = predictions(workdir)
    assert set(got) == set(run.written) and len(got) == len(images)
    for stem, path in got.items():
        want = np.asarray(Image.open(run.written[stem]))
        assert np.array_equal(np.asarray(Image.open(path)), want), stem


def test_models_predicted_incrementally(tmp_path, fiftyone_env):
    import fiftyone as fo
    from fiftyone import ViewField as F

    data_dir, workdir = tmp_path / "data_raw", tmp_path / "work"
    stems = generate(data_dir, count=COUNT, seed=SEED, size=SIZE)
    net = zones_net(tmp_path / "net.onnx")
    entry = {"onnx": net, "kind": "zones"}
    oracle = {"command": ORACLE, "kind": "zones"}
    cfg = write_config(tmp_path / "models.json", {"net": entry, "oracle": oracle})
    figures = {}

    def run(name, ok=True):
        start = time.monotonic()
        done = runner.run(workdir, data_dir, DATASET, fiftyone_env, "--configfile", cfg, ok=ok)
        figures[name] = round(time.monotonic() - start, 1)
        return done

    # 1. Every image predicted, as inference.predict gives it; scored; ingested.
    log = run("first").log
    assert runner.job_counts(log)["predict"] == 2
    assert predicted(workdir) == set(stems) == predicted(workdir, "oracle")
    assert "model net: 4 images predicted in this run on CPUExecutionProvider" in log
    assert_as_inference(workdir, data_dir, entry, tmp_path / "want1")
    metrics = json.loads(
        (runner.results(workdir, DATASET) / "evaluation" / "net" / "metrics.json").read_text()
    )
    assert metrics["kind"] == "zones" and "mde_m" in metrics
    assert metrics["images_evaluated"] >= 1 and metrics["images_missing"]["count"] == 0
    dataset = fo.load_dataset(DATASET)
    assert len(dataset) == COUNT
    for sample in dataset:
        assert sample["net_zones"].mask_path == str(predictions(workdir)[sample["stem"]].resolve())
        assert sample["net_status"] in ("scored", "no_front")
    assert "net" in dataset.list_evaluations()
    exact = json.loads(
        (runner.results(workdir, DATASET) / "evaluation" / "oracle" / "metrics.json").read_text()
    )
    assert exact["zones"]["iou"]["mean"] == 1.0
    assert exact["mde_m"] is not None and exact["mde_m"] < 100, exact
    figures["oracle MDE (m)"] = round(exact["mde_m"], 1)
    assert all(s["oracle_zones"] is not None for s in dataset)
    assert "model oracle: 4 images predicted in this run on command" in log

    summary = (runner.results(workdir, DATASET) / "summary.txt").read_text()
    assert "model net: 4 images predicted in this run on CPUExecutionProvider" in summary

    # 2. Nothing changed: nothing runs.
    log = run("again").log
    assert "Nothing to be done" in log and runner.job_counts(log) == {}

    # 3. A new image: only it is predicted; the others' files are untouched.
    before = {stem: p.stat().st_mtime_ns for stem, p in predictions(workdir).items()}
    (new,) = generate(data_dir, count=1, seed=SEED, size=SIZE, first_index=COUNT)
    log = run("new image").log
    assert runner.job_counts(log)["predict"] == 2
    assert predicted(workdir) == {new} == predicted(workdir, "oracle")
    assert {s: p.stat().st_mtime_ns for s, p in predictions(workdir).items() if s != new} == before
    assert_as_inference(workdir, data_dir, entry, tmp_path / "want2")
    assert fo.load_dataset(DATASET).one(F("stem") == new)["net_zones"] is not None

    # 4. A changed model file: every image predicted again.
    conv_net(net, ZONE_WEIGHTS, ZONE_BIASES + np.float32(0.2))
    # A dry run sees it (the check at the start loads the new file) and
    # writes nothing into results/.
    results = runner.results(workdir, DATASET)
    sums = runner.tree_checksums(results)
    dry = runner.run(workdir, data_dir, DATASET, fiftyone_env, "--configfile", cfg, "-n").log
    assert runner.job_counts(dry)["predict"] == 1
    assert runner.tree_checksums(results) == sums
    log = run("changed model").log
    assert runner.job_counts(log)["predict"] == 1  # only net's
    assert predicted(workdir) == set(stems) | {new}
    assert predicted(workdir, "oracle") == {new}  # its manifest is from run 3
    assert_as_inference(workdir, data_dir, entry, tmp_path / "want3")

    # 5. A missing file, a wrong input shape and a failing command: one line
    # each; the data stages (a new image) and the good model still complete.
    wide = conv_net(tmp_path / "wide.onnx", ZONE_WEIGHTS, ZONE_BIASES, in_channels=3)
    bad = {
        "net": entry,
        "oracle": oracle,
        "gone": {"onnx": str(tmp_path / "gone.onnx"), "kind": "zones"},
        "wide": {"onnx": wide, "kind": "zones"},
        "broken": {
            "command": "echo cannot find the weights >&2; exit 3 # {input_dir} {output_dir}",
            "kind": "fronts",
        },
    }
    cfg = write_config(tmp_path / "models.json", bad)
    (newer,) = generate(data_dir, count=1, seed=SEED, size=SIZE, first_index=COUNT + 1)
    done = run("bad models", ok=False)
    # The summary job names every problem and fails: no summary.txt, so the
    # next run's summary reports them again.
    assert done.returncode == 1
    assert not (results / "summary.txt").exists()
    assert "Error in rule summary" in done.log
    lines = done.stderr.splitlines()
    gone = [line for line in lines if "model gone:" in line]
    assert len(gone) == 2 and "ONNX file does not exist" in gone[0], gone  # start and end
    wide_lines = [line for line in lines if "model wide:" in line]
    assert len(wide_lines) == 2 and "has shape" in wide_lines[0], wide_lines
    broken = [line for line in lines if "model broken:" in line and "Error" in line]
    assert broken == ["Error: model broken: command exited with code 3: cannot find the weights"]
    assert predicted(workdir) == {newer}
    counts = runner.job_counts(done.log)
    assert counts["ingest"] == 1 and counts["predict"] == 3  # net, oracle and broken
    dataset = fo.load_dataset(DATASET)
    assert len(dataset) == COUNT + 2
    assert dataset.one(F("stem") == newer)["net_zones"] is not None
    assert not dataset.has_field("gone_zones") and not dataset.has_field("wide_zones")

    # 6. The failed command is tried again at the next run. A model file that
    # breaks: no prediction job, its earlier predictions stay in the dataset.
    Path(net).write_bytes(b"not an ONNX model")
    done = run("retry", ok=False)
    assert done.returncode == 1 and not (results / "summary.txt").exists()
    assert runner.job_counts(done.log)["predict"] == 1  # broken's
    assert [m["error"] for m in manifests(workdir, "broken")] == [broken[0][len("Error: ") :]]
    net_lines = [line for line in done.stderr.splitlines() if "model net:" in line]
    assert len(net_lines) == 2 and "cannot load" in net_lines[0], net_lines
    assert f"its {COUNT + 2} earlier predictions stay scored" in net_lines[0]
    dataset = fo.load_dataset(DATASET)
    assert all(s["net_zones"] is not None for s in dataset)
    assert "net" in dataset.list_evaluations()
    print("run times (s) and the oracle's MDE:", figures)
