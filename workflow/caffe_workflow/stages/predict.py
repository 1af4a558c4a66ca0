"""Stage `predict`: the models of the config key ``models`` run on every image.

Two halves, both cheap to import (the Snakefile imports this module; the
heavy parts, onnxruntime and NumPy, load only in a job or a check subprocess):

- When Snakemake starts, :func:`plan` parses ``models`` and checks each ONNX
  model whose fingerprint (file hash, options) no prediction job has run
  with yet (one subprocess, ``caffe_workflow.inference.check``; the jobs'
  manifests are the record, so a dry run writes nothing). A model
  that cannot be used is one line, and gets no prediction job: the data
  stages and the other models go on, the predictions it made in earlier runs
  stay scored and in the dataset (:attr:`ModelRuns.kept`), and the rule
  `summary` prints the line again and fails (:func:`end_lines`). Each usable model becomes one
  more entry of `predictions` (:class:`PlannedFiles`), so the evaluate rule
  scores it and the ingest gives it fields like a model scored from a folder.
- :func:`run_batch` is one job per (model, batch of images): it predicts only
  the images whose prediction is missing, whose image changed (size, mtime)
  or whose model fingerprint changed, and writes the batch's manifest
  (``results/<dataset>/models/<model>/manifest_<batch>.json``). A command
  that fails is one line in the manifest and the log, not a failed job: the
  predictions made before stay, the evaluation and ingest go on, and the
  next run tries the batch again (:func:`retry_token`).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from caffe_workflow.inference.spec import (
    MODEL_NAME,
    SUFFIXES,
    ModelError,
    ModelSpec,
    parse_model,
)
from caffe_workflow.predictions import Predictions

# Predictions.kind spells the front kind as the label files do.
PREDICTION_KIND = {"zones": "zones", "fronts": "front"}


def models_dir(results: str | os.PathLike, model: str) -> str:
    return os.path.join(str(results), "models", model)


def manifest_path(results: str | os.PathLike, model: str, batch: str) -> str:
    return os.path.join(models_dir(results, model), f"manifest_{batch}.json")


class PlannedFiles(Mapping):
    """stem -> the prediction file a model's jobs write for that image, for
    every image of the catalog: what `predictions` gives for a model scored
    from a folder, known before the files exist."""

    def __init__(self, folder: str, suffix: str, stems):
        self.folder, self.suffix, self._stems, self._known = folder, suffix, stems, None

    def _all(self) -> set[str]:
        if self._known is None:
            self._known = set(self._stems())
        return self._known

    def __getitem__(self, stem):
        if stem not in self._all():
            raise KeyError(stem)
        return os.path.join(self.folder, f"{stem}{self.suffix}")

    def __iter__(self):
        return iter(sorted(self._all()))

    def __len__(self):
        return len(self._all())


@dataclass
class ModelRuns:
    """The models of this run: those usable, their fingerprints, and one
    line per model left out."""

    results: str
    specs: dict[str, ModelSpec] = field(default_factory=dict)
    entries: dict[str, dict] = field(default_factory=dict)
    fingerprints: dict[str, dict] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    # Models with a problem that have predictions from earlier runs:
    # model -> (kind, stems). They stay entries of `predictions` with those
    # files, so a model file that breaks does not take its fields away.
    kept: dict[str, tuple[str, set]] = field(default_factory=dict)
    checked: dict[str, str] = field(default_factory=dict)  # model -> provider, checked now
    started_ns: int = 0

    def add_to(self, predictions: dict[str, Predictions], stems) -> None:
        """Each usable model as one more entry of `predictions`; `stems()`
        lists the catalog's stems (called when first needed)."""
        both = sorted(set(self.specs) & set(predictions))
        if both:
            sys.exit(
                f"Error: model name(s) {', '.join(both)} in both predictions and models: "
                "rename one, a name is a set of dataset fields."
            )
        for name, spec in self.specs.items():
            folder = os.path.abspath(models_dir(self.results, name))
            files = PlannedFiles(folder, spec.suffix, stems)
            predictions[name] = Predictions(
                model=name, folder=folder, kind=PREDICTION_KIND[spec.kind], files=files
            )
        for name, (kind, done) in self.kept.items():
            folder = os.path.abspath(models_dir(self.results, name))
            files = PlannedFiles(folder, SUFFIXES[kind], lambda done=done: done & set(stems()))
            predictions[name] = Predictions(
                model=name, folder=folder, kind=PREDICTION_KIND[kind], files=files
            )

    def problem_lines(self) -> dict[str, str]:
        """model -> its problem and what follows from it (a param of the
        summary rule: a model that breaks or is mended reruns the summary)."""
        return {name: f"{line}; {_consequence(self, name)}" for name, line in self.problems.items()}


def fingerprint_key(fingerprint: dict) -> str:
    return hashlib.sha1(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()


def check_onnx(spec: ModelSpec) -> str:
    """Load the ONNX model in a subprocess (the Snakemake process does not
    carry onnxruntime); its provider, or ModelError with the check's line."""
    entry = {spec.name: {"onnx": spec.onnx, "kind": spec.kind, "options": spec.options.__dict__}}
    proc = subprocess.run(
        [sys.executable, "-m", "caffe_workflow.inference.check", json.dumps(entry)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"check exited with code {proc.returncode}"]
        raise ModelError(lines[-1])
    return json.loads(proc.stdout or "{}").get(spec.name, "?")


def plan(models: dict | None, results: str, check: bool = True) -> ModelRuns:
    """Parse and check ``models`` (not `check`: only parse, as a job on a
    cluster node does). Prints one line per model left out."""
    runs = ModelRuns(results=results, started_ns=time.time_ns())
    if models is None:
        return runs
    if not isinstance(models, dict):
        sys.exit("Error: models must map model names to entries with onnx or command, and kind.")
    for name, entry in models.items():
        try:
            spec = parse_model(name, entry)
            fingerprint = spec.fingerprint()
            if check and spec.onnx is not None and not _ran_with(results, name, fingerprint):
                runs.checked[name] = check_onnx(spec)
        except (ModelError, OSError) as err:
            runs.problems[str(name)] = str(err)
            continue
        runs.specs[name], runs.entries[name] = spec, entry
        runs.fingerprints[name] = fingerprint
    for name in runs.problems:
        earlier = _earlier(results, name)
        if earlier:
            runs.kept[name] = earlier
        print(f"Error: {runs.problems[name]}; {_consequence(runs, name)}.", file=sys.stderr)
    return runs


def _ran_with(results: str, name: str, fingerprint: dict) -> bool:
    """Whether a prediction job ran the model with this fingerprint without
    error: then it loads, and the start need not load it again."""
    key = fingerprint_key(fingerprint)
    for path in Path(models_dir(results, name)).glob("manifest_*.json"):
        record = read_manifest(path)
        if record.get("fingerprint") and not record.get("error"):
            if fingerprint_key(record["fingerprint"]) == key:
                return True
    return False


def _earlier(results: str, name) -> tuple[str, set] | None:
    """(kind, stems) of the predictions a model's jobs wrote in earlier runs."""
    if not isinstance(name, str) or not MODEL_NAME.match(name):
        return None
    kind, stems = None, set()
    for path in sorted(Path(models_dir(results, name)).glob("manifest_*.json")):
        record = read_manifest(path)
        fingerprint = record.get("fingerprint") or {}
        kind = kind or fingerprint.get("kind")
        stems |= set(record.get("written", {}))
    return (kind, stems) if stems and kind in SUFFIXES else None


def _consequence(runs: ModelRuns, name: str) -> str:
    if name in runs.kept:
        return (
            f"no prediction in this run; its {len(runs.kept[name][1])} earlier "
            "predictions stay scored and in the dataset"
        )
    return "it gets no prediction in this run"


def read_manifest(path: str | os.PathLike) -> dict:
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def retry_token(path: str | os.PathLike) -> str:
    """A param of the prediction job: the job writes back the value it was
    given when it succeeded, and another one when its model failed, so a
    failed batch runs again at the next start and a good one does not."""
    return str(read_manifest(path).get("retry_token", ""))


def predicted_members(members: list[dict], inputs) -> list[dict]:
    """For the evaluate job of a model the workflow runs (its input is the
    prediction job's manifest): the members that have a prediction."""
    manifests = [str(p) for p in inputs if str(p).endswith(".json")]
    if not manifests:
        return members
    written = {}
    for path in manifests:
        record = read_manifest(path)
        written.update(record.get("written", {}))
        for line in [record.get("error")] + record.get("problems", []):
            if line:
                print(line, file=sys.stderr)
    return [m for m in members if m["stem"] in written]


# ---------------------------------------------------------------- the job


def _stamp(path: str) -> str:
    try:
        stat = os.stat(path)
    except OSError:
        return "missing"
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def run_batch(
    model: str,
    entry: dict,
    images: list[str],
    out_dir: str | os.PathLike,
    manifest: str | os.PathLike,
    retry: str,
    threads: int | None = None,
    log: str | os.PathLike | None = None,
) -> dict:
    """Bring one (model, batch) up to date; the manifest written.

    The manifest (an update() output: the previous one is read first) holds,
    per image, the file written, the image's size and mtime and the model's
    fingerprint at the time, so only what changed is predicted again.
    """
    from caffe_workflow.atomic import write_atomically
    from caffe_workflow.inference.predict import predict, stem_of

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    old = read_manifest(manifest)
    before = old.get("images", {}) if isinstance(old.get("images"), dict) else {}
    record = {"model": model, "provider": old.get("provider"), "error": None, "problems": []}
    try:
        spec = parse_model(model, entry)
        fingerprint = spec.fingerprint()
    except (ModelError, OSError) as err:
        spec, fingerprint = None, None
        record["error"] = str(err)
    key = fingerprint_key(fingerprint) if fingerprint else None
    current = {stem_of(i): str(i) for i in images}
    kept, todo = {}, []
    for stem, image in current.items():
        was = before.get(stem) or {}
        if (
            was.get("fingerprint") == key
            and was.get("image") == image
            and was.get("image_stamp") == _stamp(image)
            and os.path.isfile(was.get("file", ""))
        ):
            kept[stem] = was
        else:
            todo.append(image)
    # Images no longer in the batch: their predictions go too.
    for stem, was in before.items():
        if stem not in current and was.get("file"):
            Path(was["file"]).unlink(missing_ok=True)
    predicted = []
    if spec is not None and todo:
        try:
            run = predict(spec, todo, out_dir, threads=threads, log=log)
        except ModelError as err:
            record["error"] = str(err)
        else:
            record["provider"] = run.provider
            record["problems"] = run.problems
            by_stem = {stem_of(i): i for i in todo}
            for stem, file in run.written.items():
                kept[stem] = {
                    "file": file,
                    "image": by_stem[stem],
                    "image_stamp": _stamp(by_stem[stem]),
                    "fingerprint": key,
                }
                predicted.append(stem)
    if record["error"]:
        # Keep the predictions still valid under the current model; the rest
        # waits for the next run, which this token makes happen.
        kept = {s: w for s, w in kept.items() if w.get("fingerprint") == key}
        record["retry_token"] = f"{retry}|failed:{time.time_ns()}"
        print(record["error"], file=sys.stderr)
    else:
        record["retry_token"] = retry
    record |= {
        "fingerprint": fingerprint,
        "predicted": sorted(predicted),
        "kept": len(kept) - len(predicted),
        "images": {s: kept[s] for s in sorted(kept)},
        "written": {s: kept[s]["file"] for s in sorted(kept)},
    }
    for line in record["problems"]:
        print(line, file=sys.stderr)
    print(
        f"model {model}: {len(predicted)} of {len(current)} images predicted"
        + (f" on {record['provider']}" if predicted else "")
        + f", {record['kept']} unchanged",
        file=sys.stderr,
    )
    text = json.dumps(record, indent=1, sort_keys=True) + "\n"
    write_atomically(manifest, lambda f: f.write(text.encode()))
    return record


# ---------------------------------------------------------------- the end


START_VARIABLE = "CAFFE_RUN_STARTED_NS"


def mark_start(started_ns: int) -> None:
    """Note the run's start for the summary's "predicted in this run" in the
    environment, which the summary job's script inherits: as a param it
    would rerun the summary at every start."""
    os.environ[START_VARIABLE] = str(started_ns)


def run_start() -> int:
    return int(os.environ.get(START_VARIABLE, "0"))


def end_lines(
    problems: dict[str, str], manifests: list[str], started_ns: int
) -> tuple[list[str], list[str]]:
    """For the summary: per model (its manifests), what was predicted since
    `started_ns` (the run's start) and on which provider; and every model
    problem (`problems`: ModelRuns.problem_lines; a failed command's line)."""
    errors = list(problems.values())
    lines = []
    by_folder: dict[Path, list[str]] = {}
    for path in manifests:
        by_folder.setdefault(Path(path).parent, []).append(path)
    for folder, paths in sorted(by_folder.items()):
        predicted, total, providers = 0, 0, set()
        for path in paths:
            record = read_manifest(path)
            total += len(record.get("written", {}))
            try:
                fresh = os.stat(path).st_mtime_ns >= started_ns
            except OSError:
                fresh = False
            if fresh and record.get("predicted"):
                predicted += len(record["predicted"])
                providers.add(str(record.get("provider")))
            if record.get("error"):
                errors.append(record["error"])
            # An image that cannot be read: its line, as in the job's log.
            lines += [f"  {line}" for line in record.get("problems", [])]
        on = f" on {', '.join(sorted(providers))}" if providers else ""
        lines.append(
            f"  model {folder.name}: {predicted} images predicted in this run{on}, "
            f"{total} with a prediction ({folder})"
        )
    return lines, list(dict.fromkeys(errors))
