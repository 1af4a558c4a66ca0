"""The ingest's command line, run by hand on a dataset the workflow scored:
it does what the rule did (the scored model's fields, run and views stay), and
refuses in one line when the model's results are gone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import runner
from caffe_dev.sample_data import generate, write_shifted_predictions

pytestmark = [pytest.mark.slow, pytest.mark.mongod]

DATASET = "caffe-ingest-cli"
MODEL = "shifted"


def model_state(name: str) -> dict:
    """What the ingest made for the scored model, read back through FiftyOne."""
    import fiftyone as fo

    dataset = fo.load_dataset(name)
    dataset.reload()
    results = dataset.load_evaluation_results(MODEL)
    return {
        "evaluations": dataset.list_evaluations(),
        "confusion": results.pixel_confusion_matrix.tolist(),
        "custom": results.custom_metrics,
        "fields": sorted(f for f in dataset.get_field_schema() if f.startswith(MODEL)),
        "views": sorted(v for v in dataset.list_saved_views() if v.startswith(MODEL)),
        "values": {
            stem: values
            for stem, *values in zip(*dataset.values(["stem", f"{MODEL}_status", f"{MODEL}_mde_m"]))
        },
        "record": dataset.info["caffe_models"][MODEL],
    }


def ingest_by_hand(workdir: Path, env: dict, summary: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "caffe_workflow.stages.ingest",
            "--catalog",
            str(runner.results(workdir, DATASET) / "catalog.parquet"),
            "--dataset",
            DATASET,
            "--summary",
            str(summary),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=runner.RUN_TIMEOUT,
    )


def test_the_command_line_keeps_the_scored_model(tmp_path, fiftyone_env):
    data_dir, workdir = tmp_path / "data_raw", tmp_path / "work"
    generate(data_dir, count=8, seed=5, size="medium")
    predictions = tmp_path / "predictions"
    write_shifted_predictions(data_dir, predictions)
    config = tmp_path / "models.yaml"
    config.write_text(f"predictions:\n  {MODEL}: {predictions}\n")
    runner.run(workdir, data_dir, DATASET, fiftyone_env, "--configfile", str(config))
    before = model_state(DATASET)
    assert before["evaluations"] == [MODEL]
    assert any(mde is not None for _, mde in before["values"].values())
    snapshot = runner.dataset_snapshot(DATASET, workdir)

    done = ingest_by_hand(workdir, fiftyone_env, tmp_path / "summary.json")
    assert done.returncode == 0, done.stderr
    assert model_state(DATASET) == before
    assert runner.dataset_snapshot(DATASET, workdir) == snapshot

    # Without the model's results the command cannot do what the rule did.
    per_image = Path(before["record"]["per_image"])
    per_image.rename(per_image.with_suffix(".moved"))
    done = ingest_by_hand(workdir, fiftyone_env, tmp_path / "summary2.json")
    assert done.returncode == 2
    # One line, the last (FiftyOne may warn about the MongoDB version first).
    lines = done.stderr.strip().splitlines()
    assert [x for x in lines if x.startswith("ERROR")] == lines[-1:], done.stderr
    line = lines[-1]
    assert line.startswith(f"ERROR: dataset {DATASET}: the results of its scored model 'shifted'")
    assert str(per_image) in line and line.endswith("run snakemake to update this dataset")
    assert not (tmp_path / "summary2.json").exists()
    assert model_state(DATASET) == before
