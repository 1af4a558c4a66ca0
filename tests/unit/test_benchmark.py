"""The benchmark harness end to end on a tiny generated dataset.

Runs `python -m caffe_dev.benchmark` for real (baseline, Snakemake builds
and reruns into private mongods, decode floor, a small scaling run, the
prediction benchmark on a tiny image) and checks
that the table has every row, that each ratio and verdict follows from the
recorded figures, and that the workflow's scores equal the official
approach's. Timings themselves are never asserted: on a shared machine they
mean nothing at this size.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
N = 6
# The prediction benchmark on a tiny image: 4 x 5 patches of 64 (overlap 32).
INFERENCE_ARGS = "--height 150 --width 170 --channels 4 --repeat 1 --patch-size 64 --overlap 32"
INFERENCE_METHODS = ["batched", "batch_1", "official_loop"]

PHASES = [
    "decode_floor",
    "baseline",
    "build",
    "noop",
    "add_one",
    "replace_one",
    "official_zones",
    "official_front",
    "evaluate",
    "evaluate_noop",
    "evaluate_change_one",
    "own_db_build",
    "own_db_add_one",
    "scale_12_build",
    "scale_12_noop",
    "scale_12_add_one",
    "inference",
]


def finish(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """proc's output once it ends; past `timeout`, Ctrl-C it (so that it stops
    its mongods and Snakemake runs) and fail."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
        pytest.fail(f"benchmark still running after {timeout} s:\n{stdout[-3000:]}{stderr[-3000:]}")


@pytest.mark.slow
@pytest.mark.timeout(1800)  # 8 phases, each Snakemake runs and mongods (about 2 min here)
def test_benchmark_on_tiny_data(tmp_path):
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "caffe_dev.benchmark",
        "--images",
        str(N),
        "--size",
        "medium",
        "--seed",
        "3",
        "--scaling",
        "--scaling-sizes",
        f"{N},12",
        "--scaling-size",
        "medium",
        "--data-cache",
        str(tmp_path / "cache"),
        "--out",
        str(out),
        f"--inference-args={INFERENCE_ARGS}",
    ]
    env = dict(os.environ)
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    stdout, stderr = finish(proc, timeout=1500)
    assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]

    result = json.loads((out / "results.json").read_text())
    phases = result["phases"]
    assert list(phases) == PHASES
    for name, p in phases.items():
        assert p["ok"] and p["error"] is None, (name, p["error"])
        assert p["wall_s"] > 0 and p["cpu_s"] > 0, name
        # CPU time fits in wall time on this machine's cores (with slack for
        # rounding), so the CPU figure is the tree's and not something else.
        assert p["cpu_s"] <= os.cpu_count() * p["wall_s"] + 1, name
        # Every phase runs Python: more than 5 MB, far less than the machine.
        assert 5e6 < p["peak_rss"] < 8e9, name
        assert p["load_before"] is not None and p["load_after"] is not None

    # The decode floor decoded 3 PNGs per image.
    assert phases["decode_floor"]["extra"]["files"] == 3 * N
    # Builds: one sample document per image, sizes measured in MongoDB.
    assert phases["baseline"]["docs_count"] == N
    assert phases["build"]["docs_count"] == N
    assert phases["scale_12_build"]["docs_count"] == 12
    for name in ("baseline", "build", "scale_12_build"):
        assert phases[name]["docs_bytes"] > 100 * phases[name]["docs_count"], name
        assert phases[name]["mongod_cpu_s"] >= 0
    assert set(phases["baseline"]["extra"]) >= {"add_samples_s", "masks_s", "thumbnails_s"}
    # The reruns did exactly what they should.
    assert phases["build"]["extra"]["images_processed"] == N
    assert phases["noop"]["extra"]["images_processed"] == 0
    assert phases["add_one"]["extra"]["images_processed"] == 1
    assert phases["add_one"]["extra"]["ingest"]["added"] == 1
    assert phases["replace_one"]["extra"]["images_processed"] == 1
    assert phases["replace_one"]["extra"]["ingest"]["updated"] == 1
    assert phases["scale_12_add_one"]["extra"]["ingest"]["total"] == 13
    assert phases["scale_12_noop"]["extra"]["images_processed"] == 0
    # FiftyOne started its own database (no URI): its mongod is measured apart.
    assert phases["own_db_add_one"]["extra"]["ingest"]["added"] == 1
    assert phases["own_db_build"]["peaks"]["mongod"] > 0
    # Seconds per step from Snakemake's log: every step of a build ran.
    assert {"start+dag", "process", "catalog", "ingest"} <= set(phases["build"]["extra"]["steps_s"])
    # Peak memory per process: Snakemake and each rule's script.
    assert {"snakemake", "script:process", "script:catalog", "script:ingest"} <= set(
        phases["build"]["peaks"]
    )

    # Ratios: recomputed here from the recorded figures of each phase.
    ratios = result["ratios"]
    base, floor = phases["baseline"], phases["decode_floor"]
    for name in ("build", "noop", "add_one", "replace_one"):
        p = phases[name]
        assert ratios[name]["wall_s/baseline"] == pytest.approx(p["wall_s"] / base["wall_s"])
        assert ratios[name]["cpu_s/baseline"] == pytest.approx(p["cpu_s"] / base["cpu_s"])
        assert ratios[name]["peak_rss/baseline"] == pytest.approx(p["peak_rss"] / base["peak_rss"])
        assert ratios[name]["wall_s/floor"] == pytest.approx(p["wall_s"] / floor["wall_s"])
    assert ratios["build"]["docs_bytes/baseline"] == pytest.approx(
        phases["build"]["docs_bytes"] / base["docs_bytes"]
    )

    # Model evaluation: both synthetic models scored by the official approach
    # (real fil_finder for the front model) and by the workflow; the rerun
    # after one changed prediction evaluated that image only.
    ev = phases["evaluate"]["extra"]["models"]
    assert set(ev) == {"shifted_zones", "shifted_line"}
    for model, got in ev.items():
        ours, theirs = got["ours"], got["official"]
        assert theirs is not None, model
        assert ours["images_evaluated"] == theirs["images_evaluated"] > 0, model
        assert got["evaluated_now"] == ours["images_evaluated"], model
        # The figures compared are those of the official phase's own summary.
        summary = phases[f"official_{got['kind']}"]["extra"]["summary"]
        assert theirs["mde_m"] == summary["mde_m"], model
        assert ours["images_without_front"] == theirs["images_without_front"], model
        assert ours["by_glacier"].keys() == theirs["by_glacier"].keys(), model
        pairs = [(key, ours[key], theirs[key]) for key in ("mde_m", "iou_mean")]
        pairs += [(g, v, theirs["by_glacier"][g]) for g, v in ours["by_glacier"].items()]
        for key, a, b in pairs:
            assert (a is None) == (b is None), (model, key)
            if a is not None:
                assert a == pytest.approx(b, rel=1e-6), (model, key)
    # Something was compared: medium-size fronts outlast the 750 m cut, so
    # both models have an MDE (at the small size the cut can drop them all).
    for model, got in ev.items():
        assert got["ours"]["mde_m"] > 0, model
        assert got["ours"]["images_without_front"] < got["ours"]["images_evaluated"], model
    assert ev["shifted_zones"]["ours"]["iou_mean"] > 0
    changed = phases["evaluate_change_one"]["extra"]["models"]
    assert changed["shifted_zones"]["evaluated_now"] == 1
    assert changed["shifted_line"]["evaluated_now"] == 0
    assert phases["evaluate_change_one"]["extra"]["ingest"]["updated"] == 1

    # Every target's verdict follows from the recorded figures.
    targets = result["targets"]
    assert len(targets) == 14
    for t in targets:
        if t["limit"] is None:  # "same results": checked above, so both pass
            assert t["result"] == "pass", t
            continue
        assert t["value"] == phases[t["phase"]][t["metric"]], t
        assert t["ratio"] == pytest.approx(t["value"] / t["reference_value"])
        assert t["result"] == ("pass" if t["ratio"] <= t["limit"] else "miss"), t
    by_figure = {t["figure"]: t for t in targets}
    for figure in ("full build wall time", "rerun after adding one image", "no-op rerun"):
        assert by_figure[figure]["reference_value"] == base["wall_s"], figure
    official_wall = phases["official_zones"]["wall_s"] + phases["official_front"]["wall_s"]
    assert by_figure["model evaluation wall time (both models)"]["reference_value"] == (
        pytest.approx(official_wall)
    )
    workflow_peak = max(phases[k]["peak_rss"] for k in ("build", "noop", "add_one", "replace_one"))
    assert by_figure["peak memory of any process"]["value"] == workflow_peak
    same = [t for t in targets if t["figure"].startswith("same results")]
    assert [t["result"] for t in same] == ["pass", "pass"]
    assert by_figure["same mask as the official per-patch loop (prediction)"]["result"] == "pass"
    assert list(phases["inference"]["extra"]["methods"]) == INFERENCE_METHODS
    # Scaling: the +1 and no-op reruns at the larger size against the smaller's.
    assert [t["phase"] for t in targets[-2:]] == ["scale_12_add_one", "scale_12_noop"]
    assert targets[-2]["reference_value"] == phases["add_one"]["wall_s"]
    assert targets[-1]["reference_value"] == phases["noop"]["wall_s"]

    # The Markdown table has a row per phase and the targets.
    md = (out / "results.md").read_text()
    for name in PHASES:
        assert f"| {name} |" in md
    assert md.count("| pass |") + md.count("| miss |") == 14
    assert "## Model prediction" in md and "| official_loop | 20 |" in md
    # The data cache is left as it was; the work folder is removed.
    sar = list((tmp_path / "cache").glob("medium-seed3/sar_images/*/*.png"))
    assert len(sar) == 12 + 1  # the largest run's images + the one its rerun adds
    assert not (out / "work").exists()


def _mongods_under(folder: Path) -> list[str]:
    """Command lines of live mongods whose files are under `folder`."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] == "mongod" and str(folder) in cmdline:
            found.append(cmdline)
    return found


def _baselines_under(folder: Path) -> list[str]:
    """Command lines of live baseline processes working under `folder`."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "caffe_dev.baseline" in cmdline and str(folder) in cmdline:
            found.append(cmdline)
    return found


def _bench(tmp_path: Path, *args: str) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "caffe_dev.benchmark",
        "--images",
        "2",
        "--size",
        "small",
        "--skip-floor",
        "--data-cache",
        str(tmp_path / "cache"),
        "--out",
        str(tmp_path / "out"),
        "--skip-inference",
        *args,
    ]
    env = dict(os.environ)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_a_failing_phase_is_reported_and_the_rest_runs(tmp_path):
    proc = _bench(tmp_path, "--snakemake-args=--no-such-option")
    stdout, stderr = finish(proc, timeout=600)
    assert proc.returncode == 1, stdout + stderr
    assert "FAILED phases: build" in stderr
    phases = json.loads((tmp_path / "out" / "results.json").read_text())["phases"]
    assert phases["baseline"]["ok"]
    assert not phases["build"]["ok"]
    assert "exit code" in phases["build"]["error"] and "no-such-option" in phases["build"]["error"]
    assert "noop" not in phases  # needs the build
    assert "inference" not in phases  # --skip-inference
    assert "| build | FAILED" in (tmp_path / "out" / "results.md").read_text()
    assert _mongods_under(tmp_path) == []


@pytest.mark.slow
def test_ctrl_c_stops_the_phase_and_the_mongods(tmp_path):
    proc = _bench(tmp_path)
    # Wait until the baseline runs on its mongod.
    deadline = time.monotonic() + 300
    while not (_mongods_under(tmp_path) and _baselines_under(tmp_path)):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr
    assert "interrupted" in stderr
    assert _mongods_under(tmp_path) == []
    # No phase process is left either.
    assert _baselines_under(tmp_path) == []
    assert (tmp_path / "out" / "results.json").exists()


def test_only_inference_runs_the_prediction_benchmark(tmp_path):
    """`--only-inference`: the prediction benchmark for real, with the options
    passed through, in results.json and results.md; no data, no other phase."""
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "caffe_dev.benchmark",
        "--only-inference",
        f"--inference-args={INFERENCE_ARGS}",
        "--data-cache",
        str(tmp_path / "cache"),
        "--out",
        str(out),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    result = json.loads((out / "results.json").read_text())
    assert list(result["phases"]) == ["inference"]
    phase = result["phases"]["inference"]
    assert phase["ok"] and phase["wall_s"] > 0 and 5e6 < phase["peak_rss"] < 8e9
    got = phase["extra"]
    assert got["image"] == "170 x 150 (w x h)" and got["patch_size"] == 64  # passed through
    assert list(got["methods"]) == INFERENCE_METHODS
    for method, figures in got["methods"].items():
        assert figures["patches"] == 20, method
        assert figures["predict_s"] > 0 and figures["peak_rss_mb"] > 0, method
    # The ratios follow from the methods' times; the masks are compared.
    batched = got["methods"]["batched"]["predict_s"]
    assert set(got["ratios"]) == {"batch_1/batched", "official_loop/batched"}
    for name, ratio in got["ratios"].items():
        method = name.split("/")[0]
        assert ratio == pytest.approx(got["methods"][method]["predict_s"] / batched), name
    cpu = got["methods"]["batched"]["cpu_s"]
    for name, ratio in got["cpu_ratios"].items():
        assert ratio == pytest.approx(got["methods"][name.split("/")[0]]["cpu_s"] / cpu), name
    assert got["pixels_differing_from_batched"] == dict.fromkeys(INFERENCE_METHODS, 0)
    assert got["masks_equal"] is True
    # Its one target; none of the data workflow's, which did not run.
    assert [(t["phase"], t["result"]) for t in result["targets"]] == [("inference", "pass")]
    md = (out / "results.md").read_text()
    assert "| inference | 1 |" in md and "## Model prediction" in md
    for method in INFERENCE_METHODS:
        assert f"| {method} | 20 |" in md
    assert "official_loop/batched" in md and "masks equal" in md
    assert not (tmp_path / "cache").exists() and not (out / "work").exists()


def test_skip_and_only_inference_exclude_each_other(tmp_path):
    cmd = [sys.executable, "-m", "caffe_dev.benchmark", "--skip-inference", "--only-inference"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2
    assert "--skip-inference and --only-inference exclude each other" in done.stderr
