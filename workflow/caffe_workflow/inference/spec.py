"""The config key ``models``: which models the workflow runs, and how.

```yaml
models:
  baseline_zones:
    onnx: /models/caffe_zones_unet.onnx
    kind: zones            # zones (4 class scores) | fronts (1 score)
    options: {overlap: 128, batch_size: 16}   # optional, see TilingOptions
  my_nnunet:
    command: "nnUNet_predict -i {input_dir} -o {output_dir} -t 500"
    kind: zones
```

Parsed when Snakemake starts: a bad entry is a :class:`ModelError` (one line
naming the model) before any work. Only the stdlib is imported here.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from caffe_workflow.inference import INFERENCE_VERSION

MODEL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
KINDS = ("zones", "fronts")
# The file each kind writes per image, as the CaFFe labels and the
# `predictions` key name them.
SUFFIXES = {"zones": "_zones.png", "fronts": "_front.png"}
PLACEHOLDERS = ("{input_dir}", "{output_dir}")


class ModelError(ValueError):
    """A model cannot be used (one line naming the model, no trailing period)."""


@dataclass(frozen=True)
class TilingOptions:
    """How images are fed to an ONNX model; every default is the official one.

    patch_size   256: data_preprocessing.py, --patch_size default.
    overlap      128 pixels between neighbouring test patches (stride 128):
                 data_preprocessing.py, --overlap_test default.
    pad_value    0: images are padded at the bottom and right with this pixel
                 value (before scaling), data_preprocessing.py pad_image_and_masks.
    mean, std    z-score after scaling pixels to [0, 1] (x / 255):
                 glacier_data.py transform (ToTensor, then Normalize with the
                 training set's mean and std). mean 0, std 1: plain [0, 1].
    activation   sigmoid on the model's outputs before patches are merged
                 (validate_or_test.py applies it to both kinds; the official
                 networks output logits). "none" for a model that outputs
                 probabilities itself, "softmax" for one trained with softmax.
    weighting    "gaussian": overlapping scores averaged with a Gaussian
                 importance map (sigma = patch_size * sigma_scale) as
                 data_postprocessing.py reconstructs patches; "uniform": plain mean.
    sigma_scale  1/8: data_postprocessing.py get_gaussian.
    threshold    0.12: a front pixel where the merged front score is above it
                 (validate_or_test.py, threshold_front_prob).
    batch_size   16 patches per model call (the official test loader's batch:
                 the checkpoint's hparams.batch_size, 16 by default). A model
                 whose batch dimension is fixed runs in batches of that size.
    """

    patch_size: int = 256
    overlap: int = 128
    pad_value: int = 0
    mean: float = 0.3047126829624176
    std: float = 0.32187142968177795
    activation: str = "sigmoid"
    weighting: str = "gaussian"
    sigma_scale: float = 1.0 / 8
    threshold: float = 0.12
    batch_size: int = 16

    def __post_init__(self):
        problems = []
        if not (isinstance(self.patch_size, int) and self.patch_size > 0):
            problems.append(f"patch_size must be a positive integer (got {self.patch_size!r})")
        elif not (isinstance(self.overlap, int) and 0 <= self.overlap < self.patch_size):
            problems.append(
                f"overlap must be an integer from 0 to patch_size - 1 (got {self.overlap!r})"
            )
        if not (isinstance(self.pad_value, int) and 0 <= self.pad_value <= 255):
            problems.append(f"pad_value must be a pixel value 0..255 (got {self.pad_value!r})")
        if not (isinstance(self.std, int | float) and self.std > 0):
            problems.append(f"std must be a positive number (got {self.std!r})")
        if not isinstance(self.mean, int | float):
            problems.append(f"mean must be a number (got {self.mean!r})")
        if self.activation not in ("sigmoid", "softmax", "none"):
            problems.append(
                f"activation must be sigmoid, softmax or none (got {self.activation!r})"
            )
        if self.weighting not in ("gaussian", "uniform"):
            problems.append(f"weighting must be gaussian or uniform (got {self.weighting!r})")
        if not (isinstance(self.sigma_scale, int | float) and self.sigma_scale > 0):
            problems.append(f"sigma_scale must be a positive number (got {self.sigma_scale!r})")
        if not isinstance(self.threshold, int | float):
            problems.append(f"threshold must be a number (got {self.threshold!r})")
        if not (isinstance(self.batch_size, int) and self.batch_size > 0):
            problems.append(f"batch_size must be a positive integer (got {self.batch_size!r})")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def stride(self) -> int:
        return self.patch_size - self.overlap


@dataclass(frozen=True)
class ModelSpec:
    """One entry of ``models``: exactly one of `onnx` (a file) or `command`."""

    name: str
    kind: str  # "zones" or "fronts"
    onnx: str | None = None  # absolute path
    command: str | None = None
    options: TilingOptions = field(default_factory=TilingOptions)

    @property
    def suffix(self) -> str:
        """The file name ending of this model's per-image predictions."""
        return SUFFIXES[self.kind]

    def fingerprint(self) -> dict:
        """What the predictions depend on (a Snakemake ``params:`` that reruns
        every image when it changes): the model file's sha256 or the command,
        the options, the code's INFERENCE_VERSION."""
        out = {"kind": self.kind, "version": INFERENCE_VERSION}
        if self.onnx is not None:
            out["onnx_sha256"] = file_sha256(self.onnx)
            out["options"] = asdict(self.options)
        else:
            out["command"] = self.command
        return out


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_model(name: str, entry: dict) -> ModelSpec:
    """One ``models`` entry, checked; ModelError (one line) if it cannot be used.

    An ONNX file must exist (it is loaded and its shapes checked later, by
    onnx_model.load); a command must contain {input_dir} and {output_dir}.
    """
    if not isinstance(name, str) or not MODEL_NAME.match(name):
        raise ModelError(
            f"model name {name!r} in models is not a valid field name "
            "(letters, digits and _, starting with a letter)"
        )
    if not isinstance(entry, dict):
        raise ModelError(
            f"model {name}: its entry must be a mapping with onnx or command, and kind"
        )
    unknown = sorted(set(entry) - {"onnx", "command", "kind", "options"})
    if unknown:
        raise ModelError(
            f"model {name}: unknown key(s) {', '.join(unknown)} "
            "(allowed: onnx, command, kind, options)"
        )
    kind = entry.get("kind")
    if kind not in KINDS:
        raise ModelError(f"model {name}: kind must be zones or fronts (got {kind!r})")
    onnx, command = entry.get("onnx"), entry.get("command")
    if (onnx is None) == (command is None):
        raise ModelError(f"model {name}: give exactly one of onnx (a model file) or command")
    options = entry.get("options") or {}
    if command is not None:
        if options:
            raise ModelError(f"model {name}: options apply to onnx models only, not to a command")
        if not isinstance(command, str) or not all(p in command for p in PLACEHOLDERS):
            raise ModelError(
                f"model {name}: command must be a string containing {{input_dir}} and "
                f"{{output_dir}} (got {command!r})"
            )
        return ModelSpec(name=name, kind=kind, command=command)
    path = Path(os.path.expanduser(str(onnx))).resolve()
    if not path.is_file():
        raise ModelError(f"model {name}: ONNX file does not exist: {path}")
    if not isinstance(options, dict):
        raise ModelError(f"model {name}: options must be a mapping")
    allowed = {f.name for f in fields(TilingOptions)}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ModelError(
            f"model {name}: unknown option(s) {', '.join(unknown)} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )
    try:
        tiling = TilingOptions(**options)
    except ValueError as err:
        raise ModelError(f"model {name}: {err}") from None
    return ModelSpec(name=name, kind=kind, onnx=str(path), options=tiling)


def parse_config(models: dict | None) -> dict[str, ModelSpec]:
    """The config key ``models`` (None or {}: no model)."""
    if models is None:
        return {}
    if not isinstance(models, dict):
        raise ModelError("models must map model names to entries with onnx or command, and kind")
    return {name: parse_model(name, entry) for name, entry in models.items()}
