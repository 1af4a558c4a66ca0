"""`snakemake --report` after a real run on generated data: the self-contained
HTML holds the five report items (four figures, the validation table), their
captions and the workflow description."""

import base64
import io
import json
import os
import re
from pathlib import Path

import pytest
from PIL import Image

import runner
from caffe_dev.sample_data import generate
from caffe_workflow.stages.plots import OUTPUTS

DATASET = "caffe-report-test"

pytestmark = [pytest.mark.slow, pytest.mark.mongod]


def snakemake(workdir: Path, data_dir: Path, env: dict, *extra: str) -> str:
    return runner.run(workdir, data_dir, DATASET, env, *extra).log


def test_report_holds_figures_table_and_captions(tmp_path, fiftyone_env):
    data_dir, workdir = tmp_path / "data_raw", tmp_path / "work"
    stems = generate(data_dir, count=14, seed=5)
    # One invalid image: its front mask is missing.
    broken = stems[3]
    (front,) = data_dir.glob(f"fronts/*/{broken}_front.png")
    front.unlink()

    # data_dir spelled with `..`: the report names the folder it resolves to.
    (tmp_path / "elsewhere").mkdir()
    spelled = tmp_path / "elsewhere" / ".." / "data_raw"
    snakemake(workdir, spelled, fiftyone_env)
    out = runner.results(workdir, DATASET) / "report"
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS.values())
    for name in (
        "images_over_time.png",
        "quality_resolution.png",
        "front_length.png",
        "fronts_over_time.png",
    ):
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.width >= 800
    table = (out / "validation.html").read_text()
    assert f"<td>{broken}</td>" in table and "front mask missing" in table
    assert "<b>14</b> images: <b>13</b> valid, <b>1</b> invalid" in table
    assert f"Images from <code>{data_dir}</code>." in table

    report = tmp_path / "report.html"
    snakemake(workdir, spelled, fiftyone_env, "--report", str(report))
    html = report.read_text()
    # Results are embedded as a JSON object: path -> name, caption, data URI.
    match = re.search(r"var results = (\{.*?\});\n", html)
    assert match, "no results object in the report"
    results = {Path(k).name: v for k, v in json.loads(match.group(1)).items()}
    assert set(results) == set(OUTPUTS.values())
    captions = {name: r["caption"] for name, r in results.items()}
    assert "Images per glacier over time, by sensor" in captions["images_over_time.png"]
    assert "quality-factor and resolution mix" in captions["quality_resolution.png"]
    assert "Calving-front length over time" in captions["front_length.png"]
    assert "Calving fronts over time, one panel per glacier" in captions["fronts_over_time.png"]
    assert "flow direction is not in CaFFe" in captions["fronts_over_time.png"]
    assert "Validation table" in captions["validation.html"]
    assert f"results/{DATASET}/validation_report.md" in captions["validation.html"]
    for name, r in results.items():
        assert r["job_properties"]["rule"] == "plots"
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
