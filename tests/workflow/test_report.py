"""`snakemake --report` after a real run on generated data with one scored
model: the self-contained HTML holds the catalog's figures and the validation
table (rule plots), the front positions (figure and table, rule
front_position), the model's fronts over time (rule model_fronts) and the
models' side by side (rule evaluation_report), their captions and the
workflow description."""

import base64
import io
import json
import os
import re
from pathlib import Path

import pytest
from PIL import Image

import runner
from caffe_dev.sample_data import generate, write_shifted_predictions
from caffe_workflow.stages.plots import MODEL_FRONTS_DIR, OUTPUTS

DATASET = "caffe-report-test"
MODEL = "shifted"
MODEL_FRONTS = f"{MODEL_FRONTS_DIR}/{MODEL}.png"
FRONT_POSITION = {"front_position.png": "front_position", "front_position.csv": "front_position"}
EVALUATION_REPORT = ["models.html", "models_mde.png", "models_errors.png", "models_over_time.png"]

pytestmark = [pytest.mark.slow, pytest.mark.mongod]


def snakemake(workdir: Path, data_dir: Path, env: dict, *extra: str) -> str:
    return runner.run(workdir, data_dir, DATASET, env, *extra).log


def test_report_holds_figures_table_and_captions(tmp_path, fiftyone_env):
    data_dir, workdir = tmp_path / "data_raw", tmp_path / "work"
    # Medium: the model's post-processed fronts of small images are all too short.
    stems = generate(data_dir, count=14, seed=5, size="medium")
    # One invalid image: its front mask is missing.
    broken = stems[3]
    (front,) = data_dir.glob(f"fronts/*/{broken}_front.png")
    front.unlink()

    # data_dir spelled with `..`: the report names the folder it resolves to.
    (tmp_path / "elsewhere").mkdir()
    spelled = tmp_path / "elsewhere" / ".." / "data_raw"
    # One zone model: its test-split zones moved 3 px.
    predicted = write_shifted_predictions(data_dir, tmp_path / MODEL)
    config = tmp_path / "models.yaml"
    config.write_text(f"predictions:\n  {MODEL}: {tmp_path / MODEL}\n")
    snakemake(workdir, spelled, fiftyone_env, "--configfile", str(config))
    out = runner.results(workdir, DATASET) / "report"
    made = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    expected = {*OUTPUTS.values(), *FRONT_POSITION, MODEL_FRONTS, *EVALUATION_REPORT}
    assert made == expected
    for name in (
        "images_over_time.png",
        "quality_resolution.png",
        "front_length.png",
        "fronts_over_time.png",
        "front_position.png",
        MODEL_FRONTS,
    ):
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.width >= 800
    table = (out / "validation.html").read_text()
    assert f"<td>{broken}</td>" in table and "front mask missing" in table
    assert "<b>14</b> images: <b>13</b> valid, <b>1</b> invalid" in table
    assert f"Images from <code>{data_dir}</code>." in table

    # The model's positions beside the labelled ones, on every image it scored.
    positions = (out / "front_position.csv").read_text().splitlines()
    assert (
        positions[0]
        == "stem,glacier,date,source,satellite,resolution_m,position_m,coverage,labelled"
    )
    by_source = {}
    for line in positions[1:]:
        by_source.setdefault(line.split(",")[3], set()).add(line.split(",")[0])
    assert set(by_source) == {"label", MODEL}
    assert by_source[MODEL] == set(predicted) and by_source["label"] == set(stems) - {broken}
    log = (workdir / "logs" / DATASET / "model_fronts" / f"{MODEL}.log").read_text()
    assert all(f"{glacier}: " in log for glacier in {p.split("_")[0] for p in predicted})

    report = tmp_path / "report.html"
    snakemake(workdir, spelled, fiftyone_env, "--configfile", str(config), "--report", str(report))
    html = report.read_text()
    # Results are embedded as a JSON object: path -> name, caption, data URI.
    match = re.search(r"var results = (\{.*?\});\n", html)
    assert match, "no results object in the report"
    # Keyed by the path from the results folder: report/<name>.
    results = {k.split("/report/", 1)[1]: v for k, v in json.loads(match.group(1)).items()}
    assert set(results) == expected
    captions = {name: r["caption"] for name, r in results.items()}
    assert "Images per glacier over time, by sensor" in captions["images_over_time.png"]
    assert "quality-factor and resolution mix" in captions["quality_resolution.png"]
    assert "Calving-front length over time" in captions["front_length.png"]
    assert "Calving fronts over time, one panel per glacier" in captions["fronts_over_time.png"]
    assert "front position over time" in captions["fronts_over_time.png"]
    assert "Calving-front position through time" in captions["front_position.png"]
    assert "one row per front" in captions["front_position.csv"]
    assert f"Calving fronts over time of model {MODEL}" in re.sub(
        r"<[^>]+>", "", captions[MODEL_FRONTS]
    )
    assert "Validation table" in captions["validation.html"]
    assert f"results/{DATASET}/validation_report.md" in captions["validation.html"]
    rules = {name: "plots" for name in OUTPUTS.values()} | FRONT_POSITION
    rules |= {MODEL_FRONTS: "model_fronts"} | {n: "evaluation_report" for n in EVALUATION_REPORT}
    assert results[MODEL_FRONTS]["labels"] == {
        "figure": "fronts over time per glacier",
        "model": MODEL,
    }
    for name, r in results.items():
        assert r["job_properties"]["rule"] == rules[name]
        header, data = r["data_uri"].split(",", 1)
        assert header.startswith("data:"), header[:40]
        embedded = base64.b64decode(data)
        assert embedded == (out / name).read_bytes()
    with Image.open(
        io.BytesIO(base64.b64decode(results["front_length.png"]["data_uri"].split(",", 1)[1]))
    ) as image:
        assert image.format == "PNG"
    # The workflow description (workflow/report/workflow.rst), with the config.
    assert "CaFFe workflow" in html and os.fspath(spelled) in html
    assert f"results/{DATASET}/catalog.parquet" in html
    text = re.sub(r"<[^>]+>", "", html)  # docutils marks up the literal's parts
    assert f"make app DATASET={DATASET} (served until Ctrl-C)" in text
