"""Load an ONNX segmentation model with onnxruntime and check it before any
image is predicted.

The official networks (models/ParentUNet.py) take one grayscale channel,
[N, 1, 256, 256], and give raw scores (logits) [N, C, 256, 256], C = 4 for
zones (models/zones_segmentation_model.py) and 1 for fronts
(models/front_segmentation_model.py). A model passes the check when:
- the file exists and onnxruntime loads it;
- it has one input of rank 4, float, 1 channel, height and width equal to the
  patch size or dynamic; the batch dimension dynamic or fixed (then patches go
  in batches of that size);
- its first output is [N, C, H, W] with C = 4 (zones) or 1 (fronts), or
  [N, H, W] for fronts;
- one batch of patches runs and gives scores of that shape (catches models
  whose dynamic sizes fail at run time).
Otherwise ModelError, one line naming the model and the problem.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from caffe_workflow.inference.spec import ModelError, ModelSpec

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
CLASSES = {"zones": 4, "fronts": 1}


def choose_providers(available: list[str]) -> list[str]:
    """CUDA first where onnxruntime offers it (onnxruntime-gpu installed), CPU
    always as the fallback. onnxruntime-gpu offers CUDA even on a machine
    without a GPU and then falls back to CPU: OnnxModel.provider tells which
    one the session really uses."""
    return [CUDA, CPU] if CUDA in available else [CPU]


def _short(err: BaseException, limit: int = 200) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _dim(value) -> int | None:
    """A fixed dimension as an int; a symbolic or unknown one as None."""
    return value if isinstance(value, int) and value > 0 else None


@dataclass
class OnnxModel:
    """A loaded, checked model; `run_batch` maps [n, 1, P, P] to [n, C, P, P]."""

    spec: ModelSpec
    session: object
    input_name: str
    output_name: str
    fixed_batch: int | None  # the model's batch dimension when it is not dynamic
    squeeze_channel: bool  # the output is [N, H, W]: add the channel axis

    @property
    def provider(self) -> str:
        """The execution provider the session uses (for the log)."""
        return self.session.get_providers()[0]

    def run_batch(self, patches: np.ndarray) -> np.ndarray:
        patches = np.ascontiguousarray(patches, dtype=np.float32)
        if self.fixed_batch is None:
            return self._run(patches)
        n, step = len(patches), self.fixed_batch
        out = []
        for start in range(0, n, step):
            chunk = patches[start : start + step]
            real = len(chunk)
            if real < step:  # fill up the model's fixed batch; the fill is dropped
                fill = np.zeros((step - real, *chunk.shape[1:]), dtype=np.float32)
                chunk = np.concatenate([chunk, fill])
            out.append(self._run(chunk)[:real])
        return np.concatenate(out)

    def _run(self, patches: np.ndarray) -> np.ndarray:
        scores = self.session.run([self.output_name], {self.input_name: patches})[0]
        return scores[:, None] if self.squeeze_channel else scores


def load(spec: ModelSpec, threads: int | None = None, providers: list[str] | None = None):
    """The model of `spec`, loaded and checked; ModelError (one line) if not usable.

    `threads`: onnxruntime's intra-op threads (the rule's threads), None: its default.
    `providers`: None chooses (choose_providers); a list forces them.
    """
    import onnxruntime as ort

    name, path, p = spec.name, spec.onnx, spec.options.patch_size
    if path is None:
        raise ModelError(f"model {name}: not an ONNX model")
    if not os.path.isfile(path):
        raise ModelError(f"model {name}: ONNX file does not exist: {path}")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    # Warnings such as the CUDA fallback go to the log once, not per call.
    options.log_severity_level = 3
    chosen = providers or choose_providers(ort.get_available_providers())
    try:
        session = ort.InferenceSession(path, sess_options=options, providers=chosen)
    except Exception as err:  # onnxruntime raises its own classes for each kind of bad file
        raise ModelError(
            f"model {name}: onnxruntime cannot load {path} ({_short(err)}); "
            "is it an ONNX model file?"
        ) from None

    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        raise ModelError(
            f"model {name}: expected one input (the image patches [N, 1, {p}, {p}]), "
            f"found {len(inputs)}: {', '.join(i.name for i in inputs)}"
        )
    inp, out = inputs[0], outputs[0]
    shape = list(inp.shape)
    if inp.type != "tensor(float)":
        raise ModelError(f"model {name}: input {inp.name} is {inp.type}, expected tensor(float)")
    if len(shape) != 4 or _dim(shape[1]) != 1:
        raise ModelError(
            f"model {name}: input {inp.name} has shape {shape}, expected [N, 1, H, W] "
            "(one grayscale channel)"
        )
    for axis, size in (("height", shape[2]), ("width", shape[3])):
        if _dim(size) is not None and size != p:
            raise ModelError(
                f"model {name}: input {inp.name} has {axis} {size}, but patches are "
                f"{p} x {p} (set options: patch_size to the model's size, or export "
                "it with dynamic height and width)"
            )
    classes = CLASSES[spec.kind]
    out_shape = list(out.shape)
    rank3_front = spec.kind == "fronts" and len(out_shape) == 3
    if not rank3_front and (len(out_shape) != 4 or _dim(out_shape[1]) not in (None, classes)):
        expected = "[N, 4, H, W]" if spec.kind == "zones" else "[N, 1, H, W] or [N, H, W]"
        raise ModelError(
            f"model {name}: output {out.name} has shape {out_shape}, expected {expected} "
            f"for kind {spec.kind}"
        )
    model = OnnxModel(
        spec=spec,
        session=session,
        input_name=inp.name,
        output_name=out.name,
        fixed_batch=_dim(shape[0]),
        squeeze_channel=rank3_front,
    )

    # One batch of patches through the model: the shapes a dynamic model
    # really gives, checked before the first image.
    probe = np.zeros((model.fixed_batch or 1, 1, p, p), dtype=np.float32)
    try:
        scores = model.run_batch(probe)
    except Exception as err:
        raise ModelError(
            f"model {name}: running it on patches [{len(probe)}, 1, {p}, {p}] failed "
            f"({_short(err)})"
        ) from None
    if scores.shape != (len(probe), classes, p, p):
        raise ModelError(
            f"model {name}: patches [{len(probe)}, 1, {p}, {p}] gave scores of shape "
            f"{list(scores.shape)}, expected [{len(probe)}, {classes}, {p}, {p}] for kind "
            f"{spec.kind}"
        )
    return model
