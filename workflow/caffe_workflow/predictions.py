"""The config key ``predictions``: which models to score, and their files.

    predictions:
      unet: /runs/unet/test_results/zones/run_0/complete_images
      hookformer: {path: /runs/hookformer/whole_save, kind: zones}

Read when Snakemake starts, so a bad name, a missing folder, a folder that is
not the one to give or an unknown kind is a :class:`PredictionsError` (one
line) before any work. The folders are read as the programs that score CaFFe
models write them (README, "Prediction folders"):

- this project's layout: ``<stem>_zones.png`` / ``<stem>_front.png``;
- the official code (validate_or_test.py): ``test_results/<zones|fronts>/
  run_<n>/complete_images/<stem>.png``, the kind in the path;
- TYRION (Evaluation.py): ``output_images/complete_images/<stem>.png``;
- AMD-HookNet and HookFormer (eval_whole.py, eval_complete.py):
  ``whole_save/<stem>.png`` (RGB, gray values);
- the nnU-Net calving-front detection (Task500_Glacier_reverse.py):
  ``pngs/<stem>_zone.png`` and ``pngs/<stem>_front.png`` in one folder; its
  ``_front.png`` is a front already extracted from the zones, which its own
  evaluation only cuts to the box: it is scored so, never post-processed again.

A ``<stem>.png`` says nothing of its kind: the path tells (official code) or
the values of a few files do (:mod:`caffe_workflow.prediction_pixels`).
Kept apart from :mod:`caffe_workflow.stages.evaluate`, whose imports (SciPy,
scikit-image) every Snakemake start would otherwise pay.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

MODEL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# The kinds of the evaluation (caffe.evaluation), and how the config may say them.
KIND_WORDS = {"zones": "zones", "zone": "zones", "fronts": "front", "front": "front"}
# File name endings -> kind. Longest first: "_zones.png" before "_zone.png".
NAMED = (("_zones.png", "zones"), ("_zone.png", "zones"), ("_front.png", "front"))
NNUNET_ZONES = "_zone.png"
# Folders that the programs write beside their predictions: never read (their
# files are listed as ignored, with why).
DERIVED = {
    "complete_postprocessed_images": "fronts already post-processed by the official code",
    "postprocessed": "fronts already post-processed by evaluate_nnUNet.py",
    "visualizations": "visualisations, not predictions",
    "visualization": "visualisations, not predictions",
    "patches": "patches of the official code, not whole images",
}
# How many files' values are read to tell the kind of <stem>.png files.
KIND_SAMPLE = 5
# How many names a message or summary shows before "and N more".
SHOWN = 5


class PredictionsError(ValueError):
    """The `predictions` config cannot be used (one line, no trailing period)."""


@dataclass
class Predictions:
    model: str
    folder: str
    kind: str  # "zones" or "front" (caffe.evaluation's words)
    files: dict[str, str] = field(default_factory=dict)  # stem -> path
    # Fronts already post-processed by the program that wrote them: only cut
    # to the box (nnU-Net's <stem>_front.png).
    postprocessed: bool = False
    layout: str = "plain"
    # [path, why] of every file found that is not read as a prediction.
    ignored: list[list[str]] = field(default_factory=list)
    other_kind: int = 0  # files of the other kind, left out because `kind` was given

    def source(self) -> dict:
        """What the merge job reports of the folder (a rule param: plain data)."""
        return {
            "folder": self.folder,
            "layout": self.layout,
            "postprocessed": self.postprocessed,
            "other_kind": self.other_kind,
            "ignored": self.ignored,
        }


def shown(names, limit: int = SHOWN) -> str:
    """The first few names, then "and N more"."""
    names = list(names)
    text = ", ".join(str(n) for n in names[:limit])
    return text + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _kind_word(model: str, kind) -> str | None:
    if kind is None:
        return None
    if not isinstance(kind, str) or kind.lower() not in KIND_WORDS:
        raise PredictionsError(f"predictions: {model}: kind {kind!r} is not zones or fronts")
    return KIND_WORDS[kind.lower()]


def _check_folder(model: str, path: Path) -> None:
    """A one-line error when `path` is a folder of the programs' output that
    is not the one to give, naming the one to give."""
    name = path.name
    if name == "complete_postprocessed_images":
        raise PredictionsError(
            f"predictions folder of model {model} holds fronts the official code has "
            f"already post-processed ({path}), which would be post-processed a second "
            f"time: give {path.parent / 'complete_images'} instead"
        )
    if name == "postprocessed" and any(
        p.name.endswith(NNUNET_ZONES) for p in path.parent.glob("*.png")
    ):
        raise PredictionsError(
            f"predictions folder of model {model} holds fronts evaluate_nnUNet.py has "
            f"already post-processed ({path}): give {path.parent} instead"
        )
    if name in ("visualizations", "visualization"):
        raise PredictionsError(
            f"predictions folder of model {model} holds visualisations, not predictions "
            f"({path}): give {path.parent / 'complete_images'} (the official code, TYRION) "
            f"or {path.parent} (nnU-Net) instead"
        )
    if name == "patches":
        raise PredictionsError(
            f"predictions folder of model {model} holds the official code's patches "
            f"({path}): give {path.parent / 'complete_images'} instead"
        )
    if (path / "complete_images").is_dir():
        raise PredictionsError(
            f"predictions folder of model {model} is a run folder ({path}), not a folder "
            f"of predictions: give {path / 'complete_images'} instead"
        )
    for dirpath, dirnames, _ in os.walk(path, followlinks=True):
        if "complete_images" in dirnames:
            inner = Path(dirpath) / "complete_images"
            raise PredictionsError(
                f"predictions folder of model {model} holds the run folders of a program "
                f"({path}): give one run's complete_images folder, such as {inner}"
            )
        dirnames[:] = sorted(d for d in dirnames if d not in DERIVED)


def _kind_from_path(path: Path) -> str | None:
    """The official code writes <zones|fronts>/run_<n>/complete_images."""
    parts = path.parts
    if len(parts) >= 3 and parts[-1] == "complete_images" and parts[-2].startswith("run_"):
        return KIND_WORDS.get(parts[-3])
    return None


def _layout(path: Path, found: dict) -> str:
    if found["_zone.png"]:
        return "nnunet"
    if path.name == "complete_images":
        return "official" if _kind_from_path(path) else "tyrion"
    if path.name == "whole_save":
        return "hooknet"
    return "plain" if not found[".png"] else "stem.png"


def _walk(model: str, path: Path) -> tuple[dict, list[list[str]]]:
    """{ending: {stem: path}} for "_zones.png", "_zone.png", "_front.png" and
    ".png" (a bare stem), and the [path, why] of the other files."""
    found: dict[str, dict[str, str]] = {
        "_zones.png": {},
        "_zone.png": {},
        "_front.png": {},
        ".png": {},
    }
    ignored: list[list[str]] = []
    for dirpath, dirnames, filenames in os.walk(path, followlinks=True):
        dirnames.sort()
        for d in list(dirnames):
            if d in DERIVED:
                dirnames.remove(d)
                for sub, _, names in os.walk(Path(dirpath) / d, followlinks=True):
                    ignored += [[os.path.join(sub, n), DERIVED[d]] for n in sorted(names)]
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            ending = next((e for e, _ in NAMED if name.endswith(e) and len(name) > len(e)), None)
            if ending is None:
                if name.endswith(".png") and len(name) > len(".png"):
                    ending = ".png"
                else:
                    ignored.append(
                        [full, "not a <stem>.png, <stem>_zones.png or <stem>_front.png file"]
                    )
                    continue
            stem = name[: -len(ending)]
            if stem in found[ending]:
                raise PredictionsError(
                    f"predictions of model {model}: {stem} appears twice "
                    f"({found[ending][stem]} and {full})"
                )
            found[ending][stem] = full
    return found, ignored


def find_predictions(model: str, folder: str | os.PathLike, kind: str | None = None) -> Predictions:
    """The prediction files of one model, found recursively in `folder`.

    ``kind`` ("zones", "fronts" or None): with it, only that kind's files are
    read; without it, the names, the path or the files' values tell.
    """
    if not isinstance(model, str) or not MODEL_NAME.match(model):
        raise PredictionsError(
            f"model name {model!r} in predictions is not a valid field name "
            "(letters, digits and _, starting with a letter)"
        )
    wanted = _kind_word(model, kind)
    path = Path(os.path.expanduser(str(folder))).resolve()
    if not path.is_dir():
        raise PredictionsError(f"predictions folder of model {model} does not exist: {path}")
    _check_folder(model, path)
    found, ignored = _walk(model, path)
    layout = _layout(path, found)
    named = {"zones": {**found["_zones.png"], **found["_zone.png"]}, "front": found["_front.png"]}
    for stem in set(found["_zones.png"]) & set(found["_zone.png"]):
        raise PredictionsError(
            f"predictions of model {model}: {stem} appears twice "
            f"({found['_zones.png'][stem]} and {found['_zone.png'][stem]})"
        )
    bare = found[".png"]
    # The kind of <stem>.png files: the one asked for, the path's, that of the
    # named files beside them, or their values.
    bare_kind = wanted or _kind_from_path(path)
    if bare and bare_kind is None:
        beside = [k for k, files in named.items() if files]
        if len(beside) == 1:
            bare_kind = beside[0]
        elif not beside:
            from caffe_workflow.prediction_pixels import kind_from_values

            bare_kind = kind_from_values(sorted(bare.values(), key=_size)[:KIND_SAMPLE])
        if bare_kind is None and not beside:
            raise PredictionsError(
                f"predictions of model {model}: neither the names nor the values of its "
                f"files ({shown(sorted(bare))}) tell zones from fronts: give the kind, "
                f"predictions: {model}: {{path: {path}, kind: zones}} (or kind: fronts)"
            )
    kinds = {k: dict(files) for k, files in named.items() if files}
    if bare and bare_kind:  # (None only beside both kinds: the error below)
        for stem, file in bare.items():
            if stem in kinds.get(bare_kind, {}):
                raise PredictionsError(
                    f"predictions of model {model}: {stem} appears twice "
                    f"({kinds[bare_kind][stem]} and {file})"
                )
        kinds.setdefault(bare_kind, {}).update(bare)
    if wanted is None and len(kinds) > 1:
        what = {k: _count(files.values()) for k, files in kinds.items()}
        raise PredictionsError(
            f"predictions folder of model {model} holds both zone predictions "
            f"({what['zones']}) and front predictions ({what['front']}): say which to "
            f"score, predictions: {model}: {{path: {path}, kind: zones}} (or kind: fronts)"
        )
    chosen = wanted or next(iter(kinds), None)
    files = kinds.get(chosen or "", {})
    if not files:
        what = {"zones": "zone ", "front": "front "}.get(wanted or "", "")
        raise PredictionsError(
            f"predictions folder of model {model} holds no {what}prediction "
            f"(<stem>_zones.png, <stem>_front.png, <stem>.png or nnU-Net's <stem>_zone.png): {path}"
        )
    other = sum(len(f) for k, f in kinds.items() if k != chosen)
    postprocessed = chosen == "front" and bool(found["_zone.png"])
    return Predictions(
        model, str(path), chosen, dict(sorted(files.items())), postprocessed, layout, ignored, other
    )


def _count(paths) -> str:
    """Say "2 files such as A_zone.png" (the first name in order)."""
    names = sorted(Path(p).name for p in paths)
    return f"{len(names)} file{'s' if len(names) != 1 else ''} such as {names[0]}"


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _entry(model: str, value) -> tuple[object, str | None]:
    """(folder, kind) of one model's entry: a folder, or {path, kind}."""
    if isinstance(value, (str, os.PathLike)):
        return value, None
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"path", "kind"})
        if unknown:
            raise PredictionsError(
                f"predictions: {model}: unknown key {unknown[0]!r} (path and kind are known)"
            )
        if not isinstance(value.get("path"), (str, os.PathLike)):
            raise PredictionsError(f"predictions: {model}: `path` (the folder) is missing")
        return value["path"], value.get("kind")
    raise PredictionsError(
        f"predictions: {model}: give a folder or {{path: folder, kind: zones|fronts}}, "
        f"not {type(value).__name__}"
    )


def parse_config(predictions: dict | None) -> dict[str, Predictions]:
    """The config key ``predictions`` (None or {}: no model)."""
    if predictions is None:
        return {}
    if not isinstance(predictions, dict):
        raise PredictionsError("predictions must map model names to folders")
    out = {}
    for model, value in predictions.items():
        folder, kind = _entry(model, value)
        out[model] = find_predictions(model, folder, kind)
    return out
