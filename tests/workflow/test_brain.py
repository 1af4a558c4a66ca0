"""Issue 15 on real Snakemake runs and a real mongod: per-image features,
the brain runs on them (PCA visualization, sklearn similarity index), exact
duplicates from the file hash, incremental reruns, users' brain runs, and the
optional zoo model (offline: a test manifest, tests/caffe_dev/offline_zoo.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import runner
from caffe_dev.mongod import free_port
from caffe_dev.sample_data import generate
from caffe_workflow.caffe.layout import image_paths
from caffe_workflow.ingest import brain as ingest_brain

pytestmark = [pytest.mark.slow, pytest.mark.mongod]

DATASET = "caffe-brain-test"
ZOO_DATASET = "caffe-brain-zoo-test"
VIZ, SIM = ingest_brain.keys("features")


def copy_image(data_dir: Path, stem: str, date: str, noise: int = 0) -> str:
    """Copy an image and its labels under the same name with another date;
    with `noise`, its valid pixels get +-noise (a near duplicate)."""
    (split,) = [p.parent.name for p in (data_dir / "sar_images").glob(f"*/{stem}.png")]
    parts = stem.split("_")
    parts[1] = date
    new = "_".join(parts)
    src, dst = image_paths(data_dir, split, stem), image_paths(data_dir, split, new)
    for kind in src:
        dst[kind].write_bytes(src[kind].read_bytes())
    if noise:
        a = np.asarray(Image.open(src["sar"]), dtype=np.int16)
        rng = np.random.default_rng(0)
        noisy = np.clip(a + rng.integers(-noise, noise + 1, size=a.shape), 1, 255) * (a > 0)
        Image.fromarray(noisy.astype(np.uint8), mode="L").save(dst["sar"])
    return new


def remove_image(data_dir: Path, stem: str) -> None:
    (split,) = [p.parent.name for p in (data_dir / "sar_images").glob(f"*/{stem}.png")]
    for path in image_paths(data_dir, split, stem).values():
        path.unlink()


def by_stem(dataset, field: str) -> dict:
    return dict(zip(*dataset.values(["stem", field])))


def brain_state(dataset, key: str) -> dict:
    """stem -> point (visualization) or the set of stems (similarity), fresh
    from the database (the in-process cache would hide the ingest's work)."""
    results = dataset.load_brain_results(key, cache=False)
    stems = dict(zip(*dataset.values(["id", "stem"])))
    if hasattr(results, "points"):
        return {stems[i]: tuple(p) for i, p in zip(results.sample_ids, results.points)}
    return set(stems[i] for i in results.sample_ids)


def nearest(dataset, stem: str, key: str = SIM, k: int = 3) -> list[str]:
    from fiftyone import ViewField as F

    query = dataset.match(F("stem") == stem).first().id
    # Loaded afresh, as the App does (the in-process cache would hide the
    # ingest's work).
    index = dataset.load_brain_results(key, cache=False)
    return index.sort_by_similarity(query, k=k).values("stem")


def duplicate_groups(dataset) -> list[set]:
    view = dataset.load_saved_view("exact-duplicates")
    return sorted((set(g.values("stem")) for g in view.iter_dynamic_groups()), key=sorted)


def run_times(dataset) -> dict:
    return {k: dataset.get_brain_info(k).timestamp for k in dataset.list_brain_runs()}


def test_features_brain_runs_duplicates_and_incremental_reruns(tmp_path, fiftyone_env):
    import fiftyone as fo
    import fiftyone.brain as fob

    data_dir, workdir = tmp_path / "data_raw", tmp_path / "work"
    stems = generate(data_dir, count=21, seed=8)
    a, b, c = stems[2], stems[5], stems[9]
    a_copy = copy_image(data_dir, a, "2020-12-30")
    b_near = copy_image(data_dir, b, "2020-12-31", noise=3)
    runner.run(workdir, data_dir, DATASET, fiftyone_env)
    dataset = fo.load_dataset(DATASET)
    count = len(dataset)
    assert count == 23

    # Every image has its vector in the catalog and the dataset, the same.
    rows = {r["stem"]: r for r in runner.catalog(workdir, DATASET)}
    features = by_stem(dataset, "features")
    assert all(len(v) == 272 and v.dtype == np.float32 for v in features.values())
    assert all(np.allclose(features[s], rows[s]["features"]) for s in rows)

    # Brain runs of the ingest, over every sample.
    assert set(dataset.list_brain_runs()) == {VIZ, SIM}
    assert dataset.info["_caffe_brain_runs"] == sorted([VIZ, SIM])
    assert dataset.get_brain_info(VIZ).config.method == "pca"
    assert dataset.get_brain_info(SIM).config.method == "sklearn"
    assert len(brain_state(dataset, VIZ)) == len(brain_state(dataset, SIM)) == count

    # Sort by similarity: the query first, then its near duplicate.
    assert nearest(dataset, b)[:2] == [b, b_near]
    assert nearest(dataset, b_near)[:2] == [b_near, b]
    # The exact copy: same hash, one group of the managed view.
    assert rows[a]["image_sha256"] == rows[a_copy]["image_sha256"]
    assert set(nearest(dataset, a)[:2]) == {a, a_copy}
    assert duplicate_groups(dataset) == [{a, a_copy}]

    # A user's brain run; then the ingest again on unchanged data: no run is
    # written again (same timestamps).
    fob.compute_similarity(dataset, embeddings="features", backend="sklearn", brain_key="my_sim")
    dataset.reload()  # the timestamps as stored (ms), not as made (us)
    times = run_times(dataset)
    points = brain_state(dataset, VIZ)
    log = runner.run(workdir, data_dir, DATASET, fiftyone_env, "--forcerun", "ingest").log
    assert runner.job_counts(log).get("ingest") == 1
    dataset.reload()
    assert run_times(dataset) == times
    assert "brain runs: unchanged" in (workdir / "logs" / DATASET / "ingest.log").read_text()

    # +1: the new image joins both indexes; no other vector or point moves.
    (new,) = generate(data_dir, count=1, seed=8, first_index=21)
    runner.run(workdir, data_dir, DATASET, fiftyone_env)
    dataset.reload()
    assert len(dataset) == count + 1
    after = by_stem(dataset, "features")
    assert all(np.array_equal(after[s], features[s]) for s in features)
    moved = brain_state(dataset, VIZ)
    assert set(moved) == set(points) | {new}
    assert {s: moved[s] for s in points} == points
    assert brain_state(dataset, SIM) == set(after)
    assert nearest(dataset, new)[0] == new
    assert dataset.get_brain_info("my_sim").timestamp == times["my_sim"]
    assert "'features_viz': 'added 1'" in (workdir / "logs" / DATASET / "ingest.log").read_text()

    # A copy removed and a near duplicate replaced by a copy of another image:
    # both leave the indexes or change there, the PCA is fitted again, and
    # the duplicates follow the hashes.
    remove_image(data_dir, a_copy)
    (split,) = [p.parent.name for p in (data_dir / "sar_images").glob(f"*/{b_near}.png")]
    c_split = next((data_dir / "sar_images").glob(f"*/{c}.png")).parent.name
    image_paths(data_dir, split, b_near)["sar"].write_bytes(
        image_paths(data_dir, c_split, c)["sar"].read_bytes()
    )
    runner.run(workdir, data_dir, DATASET, fiftyone_env)
    dataset.reload()
    assert len(dataset) == count
    assert (
        set(brain_state(dataset, VIZ))
        == set(brain_state(dataset, SIM))
        == set(dataset.values("stem"))
    )
    assert a_copy not in brain_state(dataset, SIM)
    assert set(nearest(dataset, c)[:2]) == {c, b_near}
    assert duplicate_groups(dataset) == [{b_near, c}]
    assert "_caffe_brain_stale" not in dataset.info
    assert "features_viz': 'fitted on" in (workdir / "logs" / DATASET / "ingest.log").read_text()
    assert dataset.has_brain_run("my_sim") and sorted(dataset.list_brain_runs()) == sorted(
        [VIZ, SIM, "my_sim"]
    )


def zoo_env(env: dict, root: Path) -> dict:
    from caffe_dev.offline_zoo import write_manifest

    manifest = write_manifest(root / "zoo-manifest.json", free_port())
    return dict(
        env,
        FIFTYONE_MODEL_ZOO_MANIFEST_PATHS=str(manifest),
        FIFTYONE_MODEL_ZOO_DIR=str(root / "models"),
    )


def test_zoo_model_is_optional_and_says_in_one_line_when_it_cannot_load(tmp_path, fiftyone_env):
    import fiftyone as fo

    from caffe_dev.offline_zoo import GRID_MODEL, UNREACHABLE_MODEL

    data_dir, workdir = tmp_path / "data_raw", tmp_path / "work"
    generate(data_dir, count=8, seed=9)
    env = zoo_env(fiftyone_env, tmp_path)

    # A model that cannot be downloaded: the run stops before any job.
    done = runner.run(
        workdir,
        data_dir,
        ZOO_DATASET,
        env,
        config=[f"embeddings_model={UNREACHABLE_MODEL}"],
        ok=False,
    )
    # Our one line; Snakemake's own block of the failed job ("Error in rule
    # check:") follows it.
    errors = [line for line in done.log.splitlines() if line.startswith("Error:")]
    assert errors == [
        f"Error: embeddings_model '{UNREACHABLE_MODEL}' cannot be loaded: its download from "
        f"127.0.0.1 failed (no internet access?). Download it where there is internet "
        f"(`fiftyone zoo models download {UNREACHABLE_MODEL}`, same FIFTYONE_MODEL_ZOO_DIR), "
        "or set embeddings_model: null (the built-in features need no model)"
    ], done.log
    assert "Traceback" not in done.log
    assert not (runner.results(workdir, ZOO_DATASET) / "batches").exists()
    assert not fo.dataset_exists(ZOO_DATASET)

    # A model that loads: its embeddings and brain runs, besides the features'.
    runner.run(workdir, data_dir, ZOO_DATASET, env, config=[f"embeddings_model={GRID_MODEL}"])
    dataset = fo.load_dataset(ZOO_DATASET)
    zoo_viz, zoo_sim = ingest_brain.keys(ingest_brain.ZOO_FIELD)
    assert set(dataset.list_brain_runs()) == {VIZ, SIM, zoo_viz, zoo_sim}
    embeddings = by_stem(dataset, ingest_brain.ZOO_FIELD)
    assert len(embeddings) == 8 and all(len(v) == 64 for v in embeddings.values())
    stem = sorted(embeddings)[3]
    assert nearest(dataset, stem, zoo_sim)[0] == stem
    assert len(brain_state(dataset, zoo_viz)) == 8

    # +1: only the new image is embedded.
    (new,) = generate(data_dir, count=1, seed=9, first_index=8)
    runner.run(workdir, data_dir, ZOO_DATASET, env, config=[f"embeddings_model={GRID_MODEL}"])
    dataset.reload()
    after = by_stem(dataset, ingest_brain.ZOO_FIELD)
    assert (
        all(np.array_equal(after[s], embeddings[s]) for s in embeddings) and len(after[new]) == 64
    )
    log = (workdir / "logs" / ZOO_DATASET / "ingest.log").read_text()
    assert f"zoo embeddings of {GRID_MODEL}: 1 samples computed" in log

    # Off again: the zoo field and runs go, the features' stay.
    runner.run(workdir, data_dir, ZOO_DATASET, env)
    dataset.reload()
    assert set(dataset.list_brain_runs()) == {VIZ, SIM}
    assert ingest_brain.ZOO_FIELD not in dataset.get_field_schema()
    summary = json.loads((runner.results(workdir, ZOO_DATASET) / "ingest_summary.json").read_text())
    assert summary["total"] == 9

    # The ingest itself, if the model fails there (the start's check passed,
    # then the model went): one line, exit status 2, everything else written.
    catalog = runner.results(workdir, ZOO_DATASET) / "catalog.parquet"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "caffe_workflow.stages.ingest",
            "--catalog",
            str(catalog),
            "--dataset",
            ZOO_DATASET,
            "--summary",
            str(tmp_path / "summary.json"),
            "--embeddings-model",
            "no-such-model",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=runner.RUN_TIMEOUT,
    )
    assert done.returncode == 2, done.stderr
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("ERROR: embeddings_model 'no-such-model': the FiftyOne model zoo has no model")
    ), done.stderr
    dataset.reload()
    assert len(dataset) == 9 and {VIZ, SIM} <= set(dataset.list_brain_runs())
