"""One batch of images through one model: ``<stem>_zones.png`` (0/64/127/254)
or ``<stem>_front.png`` (0/255) per image, the files CaFFe's labels and the
`predictions` key use, written atomically into the model's folder.

A model that cannot run stops the batch with ModelError (one line); an image
that cannot be read is one line in `problems` and the other images go on.
Command models: command_model.run_command, whose output folder the
`predictions` readers read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from caffe_workflow.atomic import write_atomically
from caffe_workflow.inference.spec import ModelSpec

# Modes Pillow turns into 8-bit grayscale as OpenCV's IMREAD_GRAYSCALE (the
# official reader) does; other modes (16-bit, float) would need a scaling the
# official code does not define.
CONVERTIBLE = {"1", "P", "RGB", "RGBA", "LA"}


@dataclass
class PredictionRun:
    provider: str  # the onnxruntime execution provider the model ran on
    written: dict[str, str] = field(default_factory=dict)  # stem -> file
    problems: list[str] = field(default_factory=list)  # one line each


def stem_of(path: str | os.PathLike) -> str:
    name = Path(path).name
    return name[: -len(".png")] if name.endswith(".png") else Path(name).stem


def read_gray(path: str | os.PathLike) -> np.ndarray:
    """The image as 2-D uint8; ValueError (one line) if it is not usable."""
    from PIL import Image

    with Image.open(path) as im:
        if im.mode in CONVERTIBLE:
            im = im.convert("L")
        if im.mode != "L":
            raise ValueError(f"mode {im.mode}, expected an 8-bit grayscale image")
        return np.asarray(im, dtype=np.uint8)


def write_png(path: str | os.PathLike, mask: np.ndarray) -> None:
    from PIL import Image

    write_atomically(path, lambda f: Image.fromarray(mask, mode="L").save(f, format="PNG"))


def output_path(spec: ModelSpec, out_dir: str | os.PathLike, stem: str) -> Path:
    return Path(out_dir) / f"{stem}{spec.suffix}"


def predict_onnx(
    spec: ModelSpec,
    images: list[str | os.PathLike],
    out_dir: str | os.PathLike,
    threads: int | None = None,
    providers: list[str] | None = None,
) -> PredictionRun:
    """Predict every image with the ONNX model of `spec` (loaded and checked
    once, before the first image)."""
    from caffe_workflow.inference import onnx_model
    from caffe_workflow.inference.patches import predict_mask

    model = onnx_model.load(spec, threads=threads, providers=providers)
    run = PredictionRun(provider=model.provider)
    for image in images:
        stem = stem_of(image)
        try:
            pixels = read_gray(image)
        except (OSError, ValueError) as err:
            run.problems.append(f"model {spec.name}: image {image} cannot be read ({err})")
            continue
        mask = predict_mask(pixels, model.run_batch, spec.kind, spec.options)
        target = output_path(spec, out_dir, stem)
        write_png(target, mask)
        run.written[stem] = str(target)
    return run
