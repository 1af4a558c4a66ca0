"""The config key ``predictions: {model: folder}``: which models to score.

Read when Snakemake starts, so a bad name, a missing folder or a folder with
both kinds of file is a :class:`PredictionsError` (one line) before any work.
Kept apart from :mod:`caffe_workflow.stages.evaluate`, whose imports (SciPy,
scikit-image: ~0.25 s) every Snakemake start would otherwise pay.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

MODEL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
SUFFIXES = {"zones": "_zones.png", "front": "_front.png"}


class PredictionsError(ValueError):
    """The `predictions` config cannot be used (one line, no trailing period)."""


@dataclass
class Predictions:
    model: str
    folder: str
    kind: str  # "zones" or "front"
    files: dict[str, str] = field(default_factory=dict)  # stem -> path


def find_predictions(model: str, folder: str | os.PathLike) -> Predictions:
    """The prediction files of one model, found recursively in `folder`."""
    if not isinstance(model, str) or not MODEL_NAME.match(model):
        raise PredictionsError(
            f"model name {model!r} in predictions is not a valid field name "
            "(letters, digits and _, starting with a letter)"
        )
    path = Path(os.path.expanduser(str(folder))).resolve()
    if not path.is_dir():
        raise PredictionsError(f"predictions folder of model {model} does not exist: {path}")
    found: dict[str, dict[str, str]] = {"zones": {}, "front": {}}
    for dirpath, dirnames, filenames in os.walk(path, followlinks=True):
        dirnames.sort()
        for name in sorted(filenames):
            for kind, suffix in SUFFIXES.items():
                if name.endswith(suffix) and len(name) > len(suffix):
                    stem = name[: -len(suffix)]
                    full = os.path.join(dirpath, name)
                    if stem in found[kind]:
                        raise PredictionsError(
                            f"predictions of model {model}: {stem} appears twice "
                            f"({found[kind][stem]} and {full})"
                        )
                    found[kind][stem] = full
    if found["zones"] and found["front"]:
        raise PredictionsError(
            f"predictions folder of model {model} holds both <stem>_zones.png and "
            f"<stem>_front.png files ({path}): one kind per model"
        )
    kind = "zones" if found["zones"] else "front"
    if not found[kind]:
        raise PredictionsError(
            f"predictions folder of model {model} holds no <stem>_zones.png or "
            f"<stem>_front.png file: {path}"
        )
    return Predictions(model, str(path), kind, found[kind])


def parse_config(predictions: dict | None) -> dict[str, Predictions]:
    """The config key ``predictions`` ({model: folder}, None or {}: no model)."""
    if predictions is None:
        return {}
    if not isinstance(predictions, dict):
        raise PredictionsError("predictions must map model names to folders")
    return {model: find_predictions(model, folder) for model, folder in (predictions or {}).items()}
