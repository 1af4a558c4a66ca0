"""Benchmark: the workflow against the article's approach (issue 5).

    python -m caffe_dev.benchmark [--images 681] [--scaling] ...

In one invocation, on the same generated CaFFe-like data, each build in a
fresh private mongod and a fresh results folder:

    decode_floor   decode every PNG (SAR, zones, fronts) once, 2 processes
    baseline       the article's approach (caffe_dev.baseline)
    build          snakemake --cores 2, full build
    noop           the same again: nothing to do (median of NOOP_RUNS runs)
    add_one        after adding one image
    replace_one    after replacing one SAR image by different pixels
    own_db_build / own_db_add_one   the same with FiftyOne starting its own
                   database (no FIFTYONE_DATABASE_URI), as users run it
    scale_<n>_build / _noop / _add_one   (with --scaling) at other sizes, of
                   --scaling-size images (small by default)
    official_zones / official_front   the official CaFFe evaluation approach
                   (caffe_dev.official_evaluation) on the test split, for a
                   synthetic zone model and a synthetic front model
    evaluate       the workflow scoring both models (config `predictions`)
    evaluate_noop / evaluate_change_one   nothing changed (median of runs); one zone
                   prediction rewritten
    inference      model prediction (issue 24, caffe_dev.bench_inference): one
                   full-size image through a small ONNX network on CPU, the
                   workflow's batched tiling against one patch per call and
                   the official per-patch loop; time per image, their ratios,
                   peak RSS per method's process, the masks compared
                   (--inference-args passes options to it, --skip-inference
                   leaves it out, --only-inference runs it alone)

Each phase is one subprocess: wall time, CPU time of the process tree (user +
sys of the reaped children, from getrusage), the peak RSS of the largest
single process in the tree (polled every 50 ms; mongod not included, it has its
own columns) and, after builds, the size of the FiftyOne sample documents
(collStats `size` of the dataset's sample collection). Results go to
`<out>/results.md` and `<out>/results.json` and are printed.

Data: a cache of generated images (default `bench/data/`, or $CAFFE_BENCH_DATA
or --data-cache) that the benchmark never modifies; every run links the images
it needs into a fresh folder under `<out>/work/` and modifies only that folder.

Timings drift with the machine's load; the 1-minute load average is recorded
before and after every phase. Only the stdlib is imported at the top: the
decode-floor worker re-enters this module.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATASET = "caffe-bench"
POLL_S = 0.05

# (figure, phase, metric, reference, max ratio): ratios from the same run.
TARGETS = [
    ("full build wall time", "build", "wall_s", "baseline", 0.4),
    ("rerun after adding one image", "add_one", "wall_s", "baseline", 0.06),
    (
        "rerun after adding one image, FiftyOne starting its own database",
        "own_db_add_one",
        "wall_s",
        "baseline",
        0.03,
    ),
    ("no-op rerun", "noop", "wall_s", "baseline", 0.03),
    ("peak memory of any process", "*workflow", "peak_rss", "baseline", 1 / 8),
    ("FiftyOne sample documents size", "build", "docs_bytes", "baseline", 1 / 4),
]
WORKFLOW_PHASES = ("build", "noop", "add_one", "replace_one")
STEP_COLUMNS = ("start+dag", "process", "catalog", "ingest", "plots", "evaluate", "evaluate_merge")
# The evaluation phase's two synthetic models: name -> kind.
MODELS = {"shifted_zones": "zones", "shifted_line": "front"}
EVAL_PHASES = ("evaluate", "evaluate_change_one")
PEAK_COLUMNS = (
    "snakemake",
    "script:process",
    "script:catalog",
    "script:ingest",
    "script:evaluate",
    "script:plots",
    "mongod",
)


@dataclass
class Phase:
    name: str
    command: str = ""
    ok: bool = False
    error: str | None = None
    wall_s: float | None = None
    cpu_s: float | None = None  # user + sys of the phase's process tree
    main_cpu_s: float | None = None  # of its main process alone (e.g. Snakemake)
    peak_rss: int | None = None  # bytes, largest single process of the tree
    peak_rss_process: str | None = None
    peaks: dict = field(default_factory=dict)  # process name -> its peak RSS (bytes)
    mongod_cpu_s: float | None = None
    mongod_rss: int | None = None  # mongod's RSS at the end of the phase
    docs_bytes: int | None = None  # collStats size of the sample collection
    docs_count: int | None = None
    load_before: float | None = None
    load_after: float | None = None
    images: int | None = None
    extra: dict = field(default_factory=dict)


# What run_measured fills in.
MEASURED = (
    "command",
    "wall_s",
    "cpu_s",
    "main_cpu_s",
    "peak_rss",
    "peak_rss_process",
    "peaks",
    "mongod_cpu_s",
    "mongod_rss",
    "load_before",
    "load_after",
)
NOOP_RUNS = 3


class PhaseError(RuntimeError):
    pass


# ---------------------------------------------------------------- processes

_RUNNING: list[subprocess.Popen] = []  # phase processes, killed on Ctrl-C
_MONGODS: list = []  # started mongods, stopped at exit whatever happens
_MAIN_PID = None


def _kill_running() -> None:
    for proc in _RUNNING:
        if proc.poll() is None:
            # Own session (start_new_session): signal the whole group.
            for sig, wait in ((signal.SIGINT, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(proc.pid, sig)
                    proc.wait(wait)
                    break
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    continue


def _cmdline(proc) -> str:
    """A short name for a process: "snakemake", "script:<rule>" (a rule's
    script, which Snakemake copies to .snakemake/scripts/tmpXXXX.<rule>.py),
    "mongod", or the first words of its command line."""
    try:
        args = proc.cmdline()
    except Exception:
        return "?"
    text = " ".join(args)
    if ".snakemake/scripts/" in text:
        script = next(a for a in args if ".snakemake/scripts/" in a)
        return "script:" + Path(script).name.split(".")[-2]
    if "-m snakemake" in text or (args and Path(args[0]).name == "snakemake"):
        return "snakemake"
    if args and Path(args[0]).name == "mongod":
        return "mongod"
    return " ".join(Path(args[0]).name if i == 0 else a for i, a in enumerate(args[:3]))


def run_measured(
    phase: Phase, cmd: list[str], env: dict, log: Path, mongod=None, cwd: Path | None = None
) -> Phase:
    """Run `cmd`, filling wall, CPU and peak RSS into `phase`; raise on failure."""
    import psutil

    phase.command = " ".join(str(c) for c in cmd)
    phase.load_before = os.getloadavg()[0]
    mongo_proc = psutil.Process(mongod.pid) if mongod else None
    mongo_cpu0 = sum(mongo_proc.cpu_times()[:2]) if mongo_proc else 0.0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _RUNNING.append(proc)
        peak, peak_name, main_cpu = 0, None, None
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                main_cpu = sum(root.cpu_times()[:2])  # last value before exit
                tree = [root] + root.children(recursive=True)
            except psutil.NoSuchProcess:
                tree = []
            for p in tree:
                try:
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                name = _cmdline(p)
                if name == "mongod":  # FiftyOne's own database: reported apart
                    phase.peaks[name] = max(phase.peaks.get(name, 0), rss)
                    continue
                phase.peaks[name] = max(phase.peaks.get(name, 0), rss)
                if rss > peak:
                    peak, peak_name = rss, name
            time.sleep(POLL_S)
        wall = time.perf_counter() - t0
        _RUNNING.remove(proc)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    phase.wall_s = wall
    phase.cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    phase.peak_rss, phase.peak_rss_process = peak, peak_name
    phase.main_cpu_s = main_cpu
    if mongo_proc:
        phase.mongod_cpu_s = sum(mongo_proc.cpu_times()[:2]) - mongo_cpu0
        phase.mongod_rss = mongo_proc.memory_info().rss
    phase.load_after = os.getloadavg()[0]
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-25:]
        raise PhaseError(f"exit code {proc.returncode}; log {log}:\n" + "\n".join(tail))
    return phase


def step_seconds(log: str, started: float) -> dict:
    """Seconds per step of a Snakemake run, from its log's timestamps (whole
    seconds): "start+dag" until the first job starts, then each rule's jobs
    from start ("Job N: <message>", the rules' messages) to finish
    ("Finished jobid: N (Rule: name)"), summed."""
    import datetime as dt
    import re

    stamp, first, steps, begun = None, None, {}, {}
    for line in log.splitlines():
        if m := re.fullmatch(r"\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]", line.strip()):
            stamp = dt.datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y").timestamp()
        elif m := re.match(r"(?:Job|jobid:) (\d+)\b", line.strip()):
            first = stamp if first is None else first
            begun.setdefault(m.group(1), stamp)
        elif m := re.search(r"Finished jobid: (\d+) \(Rule: (\w+)\)", line):
            if begun.get(m.group(1)) is not None:
                rule = m.group(2)
                steps[rule] = steps.get(rule, 0) + stamp - begun.pop(m.group(1))
    if first is not None:
        steps["start+dag"] = max(0.0, first - started)
    return steps


def start_db(dbpath: Path):
    from caffe_dev.mongod import start_mongod

    shutil.rmtree(dbpath, ignore_errors=True)
    mongod = start_mongod(dbpath)
    _MONGODS.append(mongod)
    return mongod


def stop_db(mongod) -> None:
    mongod.stop()
    if mongod in _MONGODS:
        _MONGODS.remove(mongod)


def child_env(mongod, tmpdir: Path) -> dict:
    """Environment for a phase: FiftyOne isolated on `mongod` (if any)."""
    from caffe_dev.mongod import isolated_fiftyone_env

    env = dict(os.environ)
    if mongod is not None:
        env.update(isolated_fiftyone_env(mongod.uri, tmpdir))
    return env


def git_state() -> dict:
    """Commit and uncommitted changes of the code the phases run (the
    workflow in this repository, whose package the venv installs editable)."""
    git = {}
    for key, cmd in (
        ("commit", ["git", "rev-parse", "HEAD"]),
        ("dirty", ["git", "status", "--porcelain", "--", "Snakefile", "workflow", "config"]),
    ):
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        git[key] = done.stdout.rstrip() if done.returncode == 0 else None
    git["dirty"] = sorted(line[3:] for line in (git["dirty"] or "").splitlines() if line)
    return git


def sample_docs(mongod, env: dict, dataset: str) -> tuple[int, int]:
    """(bytes, count) of the dataset's sample collection (collStats size)."""
    import pymongo

    client = pymongo.MongoClient(mongod.uri, serverSelectionTimeoutMS=10000)
    try:
        db = client[env["FIFTYONE_DATABASE_NAME"]]
        doc = db.datasets.find_one({"name": dataset})
        if doc is None:
            raise PhaseError(f"dataset {dataset!r} not found in the database")
        stats = db.command("collStats", doc["sample_collection_name"])
        return int(stats["size"]), int(stats["count"])
    finally:
        client.close()


# ---------------------------------------------------------------- data


def all_files(data_dir: Path, spec) -> list[Path]:
    from caffe_dev.sample_data import paths

    return list(paths(data_dir, spec).values())


def ensure_cache(cache: Path, count: int, seed: int, size: str) -> dict:
    """Images 0 .. count-1 in the cache (generated once, then kept)."""
    from caffe_dev.sample_data import generate

    t0 = time.perf_counter()
    stats: dict = {}
    generate(cache, count, seed=seed, size=size, stats=stats)
    return {
        "cache": str(cache),
        "generated": stats["written"],
        "cached": stats["skipped"],
        "bytes": stats["bytes"],
        "seconds": round(time.perf_counter() - t0, 1),
    }


def link_images(cache: Path, dest: Path, indices, seed: int) -> list[str]:
    """Hard-link images `indices` from the cache into `dest` (copy if links fail)."""
    from caffe_dev.sample_data import image_spec

    stems = []
    for i in indices:
        spec = image_spec(seed, i)
        for src, dst in zip(all_files(cache, spec), all_files(dest, spec)):
            dst.parent.mkdir(parents=True, exist_ok=True)
            if dst.exists():
                dst.unlink()
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)
        stems.append(spec.stem)
    return stems


def warm_page_cache(data_dir: Path) -> None:
    """Read every file once so that no phase pays for the first disk read."""
    for path in data_dir.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                while f.read(1 << 22):
                    pass


def replace_pixels(png: Path) -> None:
    """Write different pixels into `png` (new inode: the cache keeps its copy)."""
    from PIL import Image, ImageOps

    with Image.open(png) as image:
        changed = ImageOps.invert(image.convert("L"))
    tmp = png.with_name(f".{png.name}.tmp")
    changed.save(tmp, format="PNG")
    os.replace(tmp, png)


def replace_prediction(png: Path) -> None:
    """Rewrite one zone prediction as a different (wider) shift, new inode."""
    import numpy as np
    from PIL import Image

    zones = np.asarray(Image.open(png))
    moved = np.concatenate([np.repeat(zones[:, :1], 5, axis=1), zones[:, :-5]], axis=1)
    tmp = png.with_name(f".{png.name}.tmp")
    Image.fromarray(moved).save(tmp, format="PNG")
    os.replace(tmp, png)


def _eval_figures(summary: dict) -> dict:
    """The figures compared between the workflow and the official approach."""
    zones = summary.get("zones") or {}
    return {
        "mde_m": summary.get("mde_m"),
        "images_evaluated": summary.get("images_evaluated"),
        "images_without_front": summary.get("images_without_front"),
        "iou_mean": (zones.get("iou") or {}).get("mean"),
        "by_glacier": {k: v.get("mde_m") for k, v in (summary.get("by_glacier") or {}).items()},
    }


def same_figures(ours: dict, theirs: dict | None, tol: float = 1e-6) -> bool:
    """Equal MDE (overall and per glacier), counts and IoU, to `tol` relative."""
    if not theirs:
        return False

    def close(a, b):
        if a is None or b is None:
            return a is None and b is None
        return abs(a - b) <= tol * max(1.0, abs(b))

    return (
        close(ours["mde_m"], theirs["mde_m"])
        and close(ours["iou_mean"], theirs["iou_mean"])
        and ours["images_without_front"] == theirs["images_without_front"]
        and ours["by_glacier"].keys() == theirs["by_glacier"].keys()
        and all(close(v, theirs["by_glacier"][k]) for k, v in ours["by_glacier"].items())
    )


# ---------------------------------------------------------------- decode floor


def _decode(path: str) -> int:
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        return image.width * image.height


def decode_floor(data_dir: Path, processes: int) -> int:
    """Decode every PNG under data_dir once with `processes` workers; pixel count."""
    import multiprocessing

    files = sorted(str(p) for p in data_dir.rglob("*.png"))
    files.sort(key=lambda p: -os.path.getsize(p))  # largest first: even finish
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        pixels = sum(pool.imap_unordered(_decode, files, chunksize=1))
    print(json.dumps({"files": len(files), "pixels": pixels}))
    return pixels


# ---------------------------------------------------------------- phases


class Bench:
    def __init__(self, args):
        self.args = args
        self.out = Path(args.out).absolute()
        self.work = self.out / "work"
        self.logs = self.out / "logs"
        self.phases: dict[str, Phase] = {}
        self.git: dict = {}

    def phase(self, name: str, fn, *fargs) -> Phase | None:
        """Run one phase; a failure is recorded and printed, not raised."""
        phase = Phase(name)
        self.phases[name] = phase
        print(f"== {name} ...", flush=True)
        try:
            fn(phase, *fargs)
            phase.ok = True
            print(
                f"   {name}: {phase.wall_s:.1f} s wall, {phase.cpu_s:.1f} s CPU, "
                f"peak {_mb(phase.peak_rss)} MB ({phase.peak_rss_process}), "
                f"load {phase.load_before:.1f}->{phase.load_after:.1f}",
                flush=True,
            )
        except Exception as err:  # reported; the phases that do not depend on it go on
            phase.error = f"{type(err).__name__}: {err}"
            print(f"   {name} FAILED: {phase.error}", file=sys.stderr, flush=True)
        return phase

    # --- decode floor
    def run_floor(self, phase: Phase, data_dir: Path) -> None:
        cmd = [
            sys.executable,
            "-m",
            "caffe_dev.benchmark",
            "--decode-floor-of",
            str(data_dir),
            "--cores",
            str(self.args.cores),
        ]
        run_measured(phase, cmd, child_env(None, self.work), self.logs / "decode_floor.log")
        phase.extra = json.loads((self.logs / "decode_floor.log").read_text().splitlines()[-1])

    # --- baseline
    def run_baseline(self, phase: Phase, data_dir: Path, n: int) -> None:
        root = self.work / "baseline"
        shutil.rmtree(root, ignore_errors=True)
        mongod = start_db(root / "db")
        try:
            env = child_env(mongod, root / "fiftyone")
            timings = root / "timings.json"
            cmd = [
                sys.executable,
                "-m",
                "caffe_dev.baseline",
                "--data-dir",
                str(data_dir),
                "--dataset",
                DATASET,
                "--thumbnails-dir",
                str(root / "thumbnails"),
                "--timings",
                str(timings),
            ]
            run_measured(phase, cmd, env, self.logs / "baseline.log", mongod)
            phase.extra = json.loads(timings.read_text())
            phase.docs_bytes, phase.docs_count = sample_docs(mongod, env, DATASET)
            phase.images = n
            if phase.docs_count != n:
                raise PhaseError(f"baseline made {phase.docs_count} samples, not {n}")
        finally:
            stop_db(mongod)

    # --- workflow
    def snakemake_cmd(self, workdir: Path, data_dir: Path, configfile=None) -> list[str]:
        return [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(workdir),
            "--cores",
            str(self.args.cores),
            "--scheduler",
            self.args.scheduler,
            *(["--configfile", str(configfile)] if configfile else []),
            "--config",
            f"data_dir={data_dir}",
            f"dataset_name={DATASET}",
            *self.args.snakemake_args,
        ]

    def run_workflow(
        self, phase: Phase, ctx: dict, expect: dict | None, n: int, before=None
    ) -> None:
        """One Snakemake run in ctx's workdir; `expect` checks the ingest summary
        (None: nothing may run)."""
        if before:
            before()
        summary = ctx["workdir"] / "results" / DATASET / "ingest_summary.json"
        old = summary.stat().st_mtime_ns if summary.exists() else None
        log = self.logs / f"{phase.name}.log"
        started = time.time_ns()
        cmd = self.snakemake_cmd(ctx["workdir"], ctx["data_dir"], ctx.get("configfile"))
        # A no-op run is so short that a shared machine's noise is a large part
        # of it: it runs NOOP_RUNS times and reports the run of median wall time.
        trials = []
        for _ in range(NOOP_RUNS if expect is None else 1):
            trials.append(run_measured(Phase(phase.name), cmd, ctx["env"], log, ctx["mongod"]))
        median = sorted(trials, key=lambda t: t.wall_s)[len(trials) // 2]
        for name in MEASURED:
            setattr(phase, name, getattr(median, name))
        if len(trials) > 1:
            phase.extra["wall_s_runs"] = [round(t.wall_s, 2) for t in trials]
        phase.images = n
        text = log.read_text(errors="replace")
        phase.extra["process_jobs"] = len(re.findall(r"\(Rule: process\)", text))  # batch jobs
        # Images processed: per-image rows written during the phase.
        rows = (ctx["workdir"] / "results" / DATASET / "images").glob("*/*/metadata.parquet")
        phase.extra["images_processed"] = sum(p.stat().st_mtime_ns >= started for p in rows)
        phase.extra["steps_s"] = step_seconds(text, started / 1e9)
        if expect is None:
            if "Nothing to be done" not in text:
                raise PhaseError(f"no-op rerun did work; log {log}")
        else:
            if not summary.exists() or summary.stat().st_mtime_ns == old:
                raise PhaseError(f"ingest did not run; log {log}")
            got = json.loads(summary.read_text())
            phase.extra["ingest"] = {
                k: got.get(k) for k in ("added", "updated", "deleted", "unchanged", "total")
            }
            wrong = {k: (got.get(k), v) for k, v in expect.items() if got.get(k) != v}
            if wrong:
                raise PhaseError(f"ingest summary {got} differs from expected {expect}")
        if phase.name.endswith("build") and ctx["mongod"] is not None:
            phase.docs_bytes, phase.docs_count = sample_docs(ctx["mongod"], ctx["env"], DATASET)

    def workflow_context(self, label: str, data_dir: Path, own_db: bool = False) -> dict:
        root = self.work / label
        shutil.rmtree(root, ignore_errors=True)
        if own_db:
            env = child_env(None, root)
            for key in ("FIFTYONE_DATABASE_URI", "FIFTYONE_DATABASE_NAME"):
                env.pop(key, None)
            env.update(
                FIFTYONE_DATABASE_DIR=str(root / "fiftyone-db"),
                FIFTYONE_DO_NOT_TRACK="true",
                FIFTYONE_CONFIG_PATH=str(root / "fiftyone-config.json"),
            )
            root.mkdir(parents=True)
            (root / "fiftyone-config.json").write_text("{}")
            return {"workdir": root / "work", "data_dir": data_dir, "mongod": None, "env": env}
        mongod = start_db(root / "db")
        return {
            "workdir": root / "work",
            "data_dir": data_dir,
            "mongod": mongod,
            "env": child_env(mongod, root / "fiftyone"),
        }

    def run_all(self) -> None:
        self.git = git_state()
        if not self.args.only_inference:
            self.run_data_phases()
        if not self.args.skip_inference:
            self.phase("inference", self.run_inference)

    def run_data_phases(self) -> None:
        a = self.args
        n, seed = a.images, a.seed
        sizes = sorted(set(a.scaling_sizes)) if a.scaling else []
        cache = Path(a.data_cache).absolute() / f"{a.size}-seed{seed}"
        need = max([n, *(sizes if a.scaling_size == a.size else [])]) + 1  # + the "+1" image
        print(f"== data: {need} images ({a.size}) in {cache} ...", flush=True)
        self.data = ensure_cache(cache, need, seed, a.size)
        print(f"   {self.data}", flush=True)

        data_dir = self.work / f"data-{n}" / "data_raw"
        shutil.rmtree(data_dir.parent, ignore_errors=True)
        stems = link_images(cache, data_dir, range(n), seed)
        warm_page_cache(data_dir)

        if not a.skip_floor:
            self.phase("decode_floor", self.run_floor, data_dir)
        if not a.skip_baseline:
            self.phase("baseline", self.run_baseline, data_dir, n)

        ctx = self.workflow_context("workflow", data_dir)
        try:
            self.workflow_sequence(ctx, cache, n, stems, "")
            if not a.skip_evaluation and self.phases["build"].ok:
                self.evaluation_sequence(ctx, cache)
        finally:
            stop_db(ctx["mongod"])

        if not a.skip_own_db:
            # As users run it: no FIFTYONE_DATABASE_URI, FiftyOne starts its
            # own database (in a private folder) in the ingest.
            own_data = self.work / "data-own-db" / "data_raw"
            shutil.rmtree(own_data.parent, ignore_errors=True)
            link_images(cache, own_data, range(n), seed)
            octx = self.workflow_context("own-db", own_data, own_db=True)
            self.phase("own_db_build", self.run_workflow, octx, {"added": n, "total": n}, n)
            if self.phases["own_db_build"].ok:
                self.phase(
                    "own_db_add_one",
                    self.run_workflow,
                    octx,
                    {"added": 1, "updated": 0, "deleted": 0, "total": n + 1},
                    n + 1,
                    lambda: link_images(cache, octx["data_dir"], [n], seed),
                )

        scache = Path(a.data_cache).absolute() / f"{a.scaling_size}-seed{seed}"
        if sizes and scache != cache:
            print(f"== scaling data: {max(sizes) + 1} images ({a.scaling_size})", flush=True)
            ensure_cache(scache, max(sizes) + 1, seed, a.scaling_size)
        for size in sizes:
            if size == n and scache == cache and self.phases.get("build", Phase("")).ok:
                continue  # the main run is this size: same invocation, same data
            sdata = self.work / f"data-{size}" / "data_raw"
            shutil.rmtree(sdata.parent, ignore_errors=True)
            sstems = link_images(scache, sdata, range(size), seed)
            warm_page_cache(sdata)
            sctx = self.workflow_context(f"scale-{size}", sdata)
            try:
                self.workflow_sequence(
                    sctx, scache, size, sstems, f"scale_{size}_", rerun_only=True
                )
            finally:
                stop_db(sctx["mongod"])
                shutil.rmtree(sdata.parent, ignore_errors=True)

    def workflow_sequence(self, ctx, cache, n, stems, prefix, rerun_only=False):
        seed = self.args.seed
        build = self.phase(prefix + "build", self.run_workflow, ctx, {"added": n, "total": n}, n)
        if not build.ok:
            return
        noop = self.phase(prefix + "noop", self.run_workflow, ctx, None, n)
        if not noop.ok:
            return
        add = self.phase(
            prefix + "add_one",
            self.run_workflow,
            ctx,
            {"added": 1, "updated": 0, "deleted": 0, "total": n + 1},
            n + 1,
            lambda: link_images(cache, ctx["data_dir"], [n], seed),
        )
        if rerun_only or not add.ok:
            return
        target = sorted(ctx["data_dir"].glob("sar_images/*/*.png"))[0]
        self.phase(
            "replace_one",
            self.run_workflow,
            ctx,
            {"added": 0, "updated": 1, "deleted": 0, "total": n + 1},
            n + 1,
            lambda: replace_pixels(target),
        )
        self.phases["replace_one"].extra["replaced"] = target.name

    # --- model evaluation (issue 13)
    def evaluation_sequence(self, ctx, cache: Path) -> None:
        """Both synthetic models scored by the official approach, then by the
        workflow in the main run's folder and database (its dataset is built)."""
        from caffe_dev.sample_data import write_line_predictions, write_shifted_predictions

        data_dir = ctx["data_dir"]
        t0 = time.perf_counter()
        writers = {"zones": write_shifted_predictions, "front": write_line_predictions}
        folders = {}
        for model, kind in MODELS.items():
            # Cached beside the images (the labels' test split is the same for
            # every run of this seed); linked, so a phase may rewrite its copy.
            kept = cache.with_name(f"{cache.name}-predictions") / model
            writers[kind](cache, kept, skip_existing=True)
            folders[model] = ctx["workdir"].parent / "predictions" / model
            shutil.rmtree(folders[model], ignore_errors=True)
            folders[model].mkdir(parents=True)
            for src in kept.iterdir():
                os.link(src, folders[model] / src.name)
        print(f"   predictions ready in {time.perf_counter() - t0:.0f} s", flush=True)
        if not any((data_dir / "zones" / "test").glob("*_zones.png")):
            print("   no test-split image in the data: no evaluation phases", flush=True)
            return
        for model, kind in MODELS.items():
            self.phase(f"official_{kind}", self.run_official, model, kind, folders[model], data_dir)
        configfile = ctx["workdir"].parent / "models.yaml"
        configfile.write_text("predictions:\n" + "".join(f"  {m}: {folders[m]}\n" for m in MODELS))
        ectx = dict(ctx, configfile=configfile)
        evaluate = self.phase("evaluate", self.run_evaluation, ectx, {"added": 0, "deleted": 0}, 1)
        if not evaluate.ok:
            return
        if not self.phase("evaluate_noop", self.run_workflow, ectx, None, None).ok:
            return
        zones = next(m for m, k in MODELS.items() if k == "zones")
        target = next(  # a prediction of an image in the data (the others are ignored)
            p
            for p in sorted(folders[zones].glob("*_zones.png"))
            if (data_dir / "zones" / "test" / p.name).exists()
        )
        self.phase(
            "evaluate_change_one",
            self.run_evaluation,
            ectx,
            {"added": 0, "updated": 1, "deleted": 0},
            0,
            lambda: replace_prediction(target),
        )
        self.phases["evaluate_change_one"].extra["changed"] = target.name

    def run_official(self, phase: Phase, model: str, kind: str, folder: Path, data_dir: Path):
        out = self.work / f"official-{model}.json"
        cmd = [
            sys.executable,
            "-m",
            "caffe_dev.official_evaluation",
            "--kind",
            kind,
            "--predictions",
            str(folder),
            "--data-raw",
            str(data_dir),
            "--out",
            str(out),
        ]
        run_measured(phase, cmd, child_env(None, self.work), self.logs / f"{phase.name}.log")
        summary = json.loads(out.read_text())
        phase.images = summary["images_evaluated"]
        phase.extra = {"model": model, "summary": summary}

    def run_evaluation(self, phase: Phase, ctx, expect, min_evaluated, before=None) -> None:
        """A workflow run that scores the models; records, per model, how many
        images it evaluated and its figures beside the official approach's."""
        started = time.time_ns()
        self.run_workflow(phase, ctx, expect, None, before)
        import pyarrow.parquet as pq

        results = ctx["workdir"] / "results" / DATASET / "evaluation"
        phase.extra["models"] = {}
        for model, kind in MODELS.items():
            rows = pq.read_table(results / model / "per_image.parquet").to_pylist()
            metrics = json.loads((results / model / "metrics.json").read_text())
            official = self.phases.get(f"official_{kind}")
            theirs = official.extra["summary"] if official and official.ok else {}
            phase.extra["models"][model] = {
                "kind": kind,
                "evaluated_now": sum(r["evaluated_at_ns"] >= started for r in rows),
                "ours": _eval_figures(metrics),
                "official": _eval_figures(theirs) if theirs else None,
            }
        now = sum(m["evaluated_now"] for m in phase.extra["models"].values())
        phase.images = now
        if min_evaluated and now < min_evaluated:
            raise PhaseError(f"the run evaluated {now} images; expected at least {min_evaluated}")

    # --- model prediction (issue 24)
    def run_inference(self, phase: Phase) -> None:
        """caffe_dev.bench_inference in one subprocess (each method in its own
        subprocess below it); its results.json becomes the phase's extra."""
        folder = self.work / "inference"
        shutil.rmtree(folder, ignore_errors=True)
        cmd = [
            sys.executable,
            "-m",
            "caffe_dev.bench_inference",
            *self.args.inference_args,
            "--out",
            str(folder),
        ]
        run_measured(phase, cmd, child_env(None, self.work), self.logs / "inference.log")
        phase.extra = json.loads((folder / "results.json").read_text())
        phase.images = 1

    # ---------------------------------------------------------------- report

    def figures(self) -> dict:
        """Ratios and target verdicts from the phases that succeeded."""
        ph = {k: v for k, v in self.phases.items() if v.ok}
        base, floor = ph.get("baseline"), ph.get("decode_floor")
        ratios = {}
        for name, p in ph.items():
            r = {}
            if name == "inference":  # prediction: no counterpart in the baseline
                ratios[name] = r
                continue
            if base and name != "baseline":
                for m in ("wall_s", "cpu_s", "peak_rss", "docs_bytes"):
                    if getattr(p, m) and getattr(base, m):
                        r[f"{m}/baseline"] = getattr(p, m) / getattr(base, m)
            if floor and name != "decode_floor":
                for m in ("wall_s", "cpu_s"):
                    if getattr(p, m) and getattr(floor, m):
                        r[f"{m}/floor"] = getattr(p, m) / getattr(floor, m)
            ratios[name] = r
        targets = []
        data_targets = [] if self.args.only_inference else TARGETS
        for figure, pname, metric, ref, limit in data_targets:
            value, refv = None, getattr(base, metric) if base else None
            if pname == "*workflow":
                got = [ph[k] for k in WORKFLOW_PHASES if k in ph]
                if got:
                    worst = max(got, key=lambda p: p.peak_rss or 0)
                    value, pname = worst.peak_rss, worst.name
            elif pname in ph:
                value = getattr(ph[pname], metric)
            targets.append(_verdict(figure, pname, metric, value, refv, limit, ref))
        targets += self.evaluation_targets(ph)
        targets += self.inference_targets(ph)
        sizes = sorted(set(self.args.scaling_sizes)) if self.args.scaling else []
        if len(sizes) >= 2:
            # The figure: 8x the images (5,448 vs 681) costs <= 1.5x;
            # otherwise the two sizes closest to that ratio.
            small, big = min(
                ((a, b) for a in sizes for b in sizes if b > a),
                key=lambda ab: abs(ab[1] / ab[0] - 8),
            )

            def name(size, step):  # the main run stands for its own size
                same = size == self.args.images and self.args.scaling_size == self.args.size
                return step if same else f"scale_{size}_{step}"

            for step in ("add_one", "noop"):
                value, refv = (
                    ph[name(size, step)].wall_s if name(size, step) in ph else None
                    for size in (big, small)
                )
                targets.append(
                    _verdict(
                        f"{step} at {big} images",
                        name(big, step),
                        "wall_s",
                        value,
                        refv,
                        1.5,
                        f"{name(small, step)} at {small}",
                    )
                )
        return {"ratios": ratios, "targets": targets}

    def evaluation_targets(self, ph: dict) -> list[dict]:
        """Issue 13's figures: time against the official approach (both
        models), a changed prediction against the +1-image rerun, memory
        against the data workflow's, and the same results."""
        if "evaluate" not in self.phases:
            return []
        official = [ph[f"official_{k}"] for k in MODELS.values() if f"official_{k}" in ph]
        ev, change = ph.get("evaluate"), ph.get("evaluate_change_one")
        ref_wall = sum(p.wall_s for p in official) if len(official) == len(MODELS) else None
        data = [ph[k] for k in WORKFLOW_PHASES if k in ph]
        data_peak = max((p.peak_rss or 0 for p in data), default=None)
        evals = [ph[k] for k in EVAL_PHASES if k in ph]
        worst = max(evals, key=lambda p: p.peak_rss or 0) if evals else None
        add = ph.get("add_one")
        out = [
            _verdict(
                "model evaluation wall time (both models)",
                "evaluate",
                "wall_s",
                ev.wall_s if ev else None,
                ref_wall,
                0.2,
                "official approach",
            ),
            _verdict(
                "rerun after one changed prediction",
                "evaluate_change_one",
                "wall_s",
                change.wall_s if change else None,
                add.wall_s if add else None,
                1.2,
                "add_one",
            ),
            _verdict(
                "peak memory of the evaluation",
                worst.name if worst else "evaluate",
                "peak_rss",
                worst.peak_rss if worst else None,
                data_peak,
                1.0,
                "data workflow's peak",
            ),
        ]
        for model, kind in MODELS.items():
            got = (ev.extra.get("models") or {}).get(model) if ev else None
            theirs = got["official"] if got else None
            if got is None or theirs is None:
                result, detail = "not measured", "phase missing or failed"
            else:
                result = "pass" if same_figures(got["ours"], theirs) else "miss"
                detail = f"MDE {_num(got['ours']['mde_m'])} vs {_num(theirs['mde_m'])} m"
            out.append(
                {
                    "figure": f"same results as the official approach ({model}, {kind})",
                    "phase": "evaluate",
                    "metric": "mde_m",
                    "limit": None,
                    "ratio": None,
                    "reference": "official",
                    "result": result,
                    "detail": detail,
                }
            )
        return out

    def inference_targets(self, ph: dict) -> list[dict]:
        """Issue 24's check: the batched prediction gives the official
        per-patch loop's mask, pixel for pixel but where two scores tie
        (bench_inference.TIE: float32 and float64 sums may rank them either way)."""
        if "inference" not in self.phases:
            return []
        got = ph["inference"].extra if "inference" in ph else {}
        differing = (got.get("pixels_differing_from_batched") or {}).get("official_loop")
        if differing is None:
            result, detail = "not measured", "phase missing or failed, or a method left out"
        else:
            result = "pass" if differing == 0 or got.get("masks_equal_but_ties") else "miss"
            detail = f"{differing} of {got['pixels']} pixels differ"
            if differing:
                detail += (
                    f", {got.get('tie_pixels')} of them ties (largest score gap there "
                    f"{got.get('largest_gap_where_differing'):.1e})"
                )
        return [
            {
                "figure": "same mask as the official per-patch loop (prediction)",
                "phase": "inference",
                "metric": "pixels_differing",
                "limit": None,
                "ratio": None,
                "reference": "official_loop",
                "result": result,
                "detail": detail,
            }
        ]

    def report(self) -> str:
        figs = self.figures()
        a = self.args
        lines = [
            "# CaFFe workflow benchmark",
            "",
            f"Command: `python -m caffe_dev.benchmark {shlex.join(sys.argv[1:])}`  ",
            (
                "Only the prediction benchmark (`--only-inference`)"
                if a.only_inference
                else f"Images: {a.images} ({a.size} size, seed {a.seed}); Snakemake "
                f"`--cores {a.cores} --scheduler {a.scheduler}`"
            )
            + f"; {os.cpu_count()} CPUs; host {platform.node()}; "
            f"{time.strftime('%Y-%m-%d %H:%M')}.  ",
            f"Code: commit {str(self.git.get('commit'))[:10]}"
            + (
                f", uncommitted changes in {', '.join(self.git['dirty'])}"
                if self.git.get("dirty")
                else ""
            )
            + ".  ",
            f"Load average (1 min) at the start: {self.load_start:.1f}; per phase below.",
            "",
            "| phase | images | wall s | CPU s | of which main process | peak RSS MB (process) |"
            " mongod CPU s |"
            " sample docs MB | wall / baseline | wall / floor | CPU / baseline |"
            " RSS / baseline | docs / baseline | load before→after |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, p in self.phases.items():
            r = figs["ratios"].get(name, {})
            if not p.ok:
                lines.append(f"| {name} | FAILED: {_cell(p.error)} |" + " |" * 12)
                continue
            lines.append(
                "| "
                + " | ".join(
                    [
                        name,
                        str(p.images or ""),
                        f"{p.wall_s:.1f}",
                        f"{p.cpu_s:.1f}",
                        "" if p.main_cpu_s is None else f"{p.main_cpu_s:.1f}",
                        f"{_mb(p.peak_rss)} ({_cell(p.peak_rss_process)})",
                        "" if p.mongod_cpu_s is None else f"{p.mongod_cpu_s:.1f}",
                        "" if p.docs_bytes is None else f"{p.docs_bytes / 1e6:.2f}",
                        _ratio(r.get("wall_s/baseline")),
                        _ratio(r.get("wall_s/floor")),
                        _ratio(r.get("cpu_s/baseline")),
                        _ratio(r.get("peak_rss/baseline")),
                        _ratio(r.get("docs_bytes/baseline")),
                        f"{p.load_before:.1f}→{p.load_after:.1f}",
                    ]
                )
                + " |"
            )
        lines += [
            "",
            "## Targets",
            "",
            "| figure | target | measured | result |",
            "|---|---|---|---|",
        ]
        for t in figs["targets"]:
            limit = "equal" if t["limit"] is None else f"≤ {t['limit']:.3g} × {t['reference']}"
            measured = f"{_ratio(t['ratio'])} ({t['detail']})".strip()
            lines.append(f"| {t['figure']} | {limit} | {measured} | {t['result']} |")
        lines += self.evaluation_lines()
        lines += self.inference_lines()
        if a.only_inference:
            return "\n".join(lines + [""])
        lines += [
            "",
            "## Seconds per step (from Snakemake's log, whole seconds)",
            "",
            "| phase | " + " | ".join(STEP_COLUMNS) + " |",
            "|---|" + "---|" * len(STEP_COLUMNS),
        ]
        for name, p in self.phases.items():
            steps = p.extra.get("steps_s") if p.ok else None
            if steps:
                cells = [f"{steps[c]:.0f}" if c in steps else "" for c in STEP_COLUMNS]
                lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "## Peak memory per process (MB)",
            "",
            "| phase | " + " | ".join(PEAK_COLUMNS) + " |",
            "|---|" + "---|" * len(PEAK_COLUMNS),
        ]
        for name, p in self.phases.items():
            if p.ok:
                cells = [_mb(p.peaks[c]) if c in p.peaks else "" for c in PEAK_COLUMNS]
                lines.append(f"| {name} | " + " | ".join(cells) + " |")
        base = self.phases.get("baseline")
        if base and base.ok:
            steps = ", ".join(f"{k} {v:.1f}" for k, v in base.extra.items() if k.endswith("_s"))
            lines += ["", f"Baseline steps (s): {steps}."]
        lines += ["", f"Data: {getattr(self, 'data', None)}.", ""]
        return "\n".join(lines)

    def evaluation_lines(self) -> list[str]:
        ev = self.phases.get("evaluate")
        if not (ev and ev.ok):
            return []
        lines = [
            "",
            "## Model evaluation: the workflow against the official approach",
            "",
            "| model | kind | MDE m (ours) | MDE m (official) | images (ours/official) |"
            " without front | zone IoU (ours/official) | images evaluated by the"
            " change-one rerun |",
            "|---|---|---|---|---|---|---|---|",
        ]
        change = self.phases.get("evaluate_change_one")
        for model, got in ev.extra["models"].items():
            o, t = got["ours"], got["official"] or {}
            now = (change.extra.get("models") or {}).get(model, {}) if change and change.ok else {}
            lines.append(
                f"| {model} | {got['kind']} | {_num(o['mde_m'])} | {_num(t.get('mde_m'))} | "
                f"{o['images_evaluated']}/{t.get('images_evaluated')} | "
                f"{o['images_without_front']}/{t.get('images_without_front')} | "
                f"{_num(o['iou_mean'], 4)}/{_num(t.get('iou_mean'), 4)} | "
                f"{now.get('evaluated_now', '')} |"
            )
        return lines

    def inference_lines(self) -> list[str]:
        inf = self.phases.get("inference")
        if not (inf and inf.ok):
            return []
        from caffe_dev.bench_inference import table

        return [
            "",
            "## Model prediction: one image, batched tiling against the official per-patch loop",
            "",
            "Predict s: the best run after the first (which pays onnxruntime's set-up); "
            "peak RSS: of the method's own process.",
            "",
            table(inf.extra),
        ]

    def write(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        md = self.report()
        result = {
            "args": vars(self.args),
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "load_start": self.load_start,
            "git": self.git,
            "data": getattr(self, "data", None),
            "phases": {k: asdict(v) for k, v in self.phases.items()},
            **self.figures(),
        }
        (self.out / "results.md").write_text(md)
        (self.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
        print("\n" + md)
        print(f"written: {self.out / 'results.md'}, {self.out / 'results.json'}")


def _verdict(figure, phase, metric, value, refv, limit, ref) -> dict:
    ratio = value / refv if value is not None and refv else None
    if ratio is None:
        result = "not measured"
    else:
        result = "pass" if ratio <= limit else "miss"
    unit = (lambda v: f"{v:.1f} s") if metric == "wall_s" else (lambda v: f"{v / 1e6:.1f} MB")
    detail = (
        f"{phase}: {unit(value)} vs {unit(refv)}"
        if ratio is not None
        else "phase missing or failed"
    )
    return {
        "figure": figure,
        "phase": phase,
        "metric": metric,
        "value": value,
        "reference_value": refv,
        "reference": ref,
        "limit": limit,
        "ratio": ratio,
        "result": result,
        "detail": detail,
    }


def _mb(n) -> str:
    return "?" if n is None else f"{n / 1e6:.0f}"


def _num(v, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _ratio(r) -> str:
    return "" if r is None else f"{r:.3f}"


def _cell(text) -> str:
    return str(text).splitlines()[0].replace("|", "/")[:120] if text else ""


# ---------------------------------------------------------------- main


def parse_args(argv):
    env_cache = os.environ.get("CAFFE_BENCH_DATA")
    ap = argparse.ArgumentParser(
        prog="python -m caffe_dev.benchmark", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--images", type=int, default=681, help="images in the main run")
    ap.add_argument(
        "--size",
        choices=("full", "medium", "small"),
        default="full",
        help="image sizes: real CaFFe sizes (full), 1000 px (medium: its fronts outlast "
        "the evaluation's 750 m cut) or tiny (small)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--data-cache",
        default=env_cache or str(REPO / "bench" / "data"),
        help="generated images, kept between runs ($CAFFE_BENCH_DATA)",
    )
    ap.add_argument(
        "--out",
        default=str(REPO / "bench"),
        help="results.md, results.json, logs/ and work/ go here",
    )
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument(
        "--scheduler",
        choices=("greedy", "ilp"),
        default="greedy",
        help="Snakemake scheduler (greedy: ILP costs seconds per "
        "scheduling round on a 681-job fan-out and gains nothing "
        "with uniform jobs and no resource limits)",
    )
    ap.add_argument(
        "--snakemake-args",
        type=str.split,
        default=[],
        help="extra Snakemake arguments, one string (e.g. '--quiet rules')",
    )
    ap.add_argument(
        "--scaling",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also build and +1-rerun at --scaling-sizes",
    )
    ap.add_argument(
        "--scaling-sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[681, 5448, 20000],
    )
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--skip-floor", action="store_true")
    ap.add_argument(
        "--skip-own-db",
        action="store_true",
        help="skip the build and +1 rerun with FiftyOne starting its own database",
    )
    ap.add_argument(
        "--skip-evaluation",
        action="store_true",
        help="skip the model evaluation phases (official approach and workflow)",
    )
    ap.add_argument(
        "--scaling-size",
        choices=("full", "medium", "small"),
        default="small",
        help="image sizes of the scaling runs",
    )
    ap.add_argument(
        "--skip-inference",
        action="store_true",
        help="skip the model prediction benchmark (caffe_dev.bench_inference)",
    )
    ap.add_argument(
        "--only-inference",
        action="store_true",
        help="run the model prediction benchmark alone (no data, no other phase)",
    )
    ap.add_argument(
        "--inference-args",
        type=str.split,
        default=[],
        help="options of the prediction benchmark, one string (e.g. '--height 1000 "
        "--width 1000'; python -m caffe_dev.bench_inference --help)",
    )
    ap.add_argument(
        "--keep-work", action="store_true", help="keep <out>/work (data links, databases, results)"
    )
    ap.add_argument("--decode-floor-of", help=argparse.SUPPRESS)  # worker mode
    args = ap.parse_args(argv)
    if args.skip_inference and args.only_inference:
        ap.error("--skip-inference and --only-inference exclude each other: give one")
    return args


def _raise_interrupt(signum, frame):
    if os.getpid() != _MAIN_PID:  # a forked worker (data generator): just die
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.decode_floor_of:
        decode_floor(Path(args.decode_floor_of), args.cores)
        return 0
    # SIGTERM (e.g. a CI timeout) cleans up like Ctrl-C.
    global _MAIN_PID
    _MAIN_PID = os.getpid()
    signal.signal(signal.SIGTERM, _raise_interrupt)
    bench = Bench(args)
    bench.load_start = os.getloadavg()[0]
    shutil.rmtree(bench.work, ignore_errors=True)
    shutil.rmtree(bench.logs, ignore_errors=True)
    interrupted = False
    try:
        bench.run_all()
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: stopping the running phase and the databases", file=sys.stderr)
    except Exception as err:  # outside a phase (data, git): still report
        bench.phases["setup"] = Phase("setup", error=f"{type(err).__name__}: {err}")
        print(f"setup FAILED: {err}", file=sys.stderr)
    finally:
        _kill_running()
        for mongod in list(_MONGODS):
            stop_db(mongod)
    bench.write()
    if not args.keep_work:
        shutil.rmtree(bench.work, ignore_errors=True)
    failed = [k for k, v in bench.phases.items() if not v.ok]
    if failed:
        print(f"FAILED phases: {', '.join(failed)} (see {bench.logs})", file=sys.stderr)
    return 130 if interrupted else (1 if failed else 0)


if __name__ == "__main__":
    sys.exit(main())
