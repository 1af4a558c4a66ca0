"""One batch of images through one model: ``<stem>_zones.png`` (0/64/127/254)
or ``<stem>_front.png`` (0/255) per image, the files CaFFe's labels and the
`predictions` key use, written atomically into the model's folder.

A model that cannot run stops the batch with ModelError (one line); an image
that cannot be read is one line in `problems` and the other images go on.
A command model writes into a temporary folder in any layout the
`predictions` key accepts; its files are read with that key's reader and
copied to the same names, so both kinds of model end as the same files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from caffe_workflow.atomic import write_atomically
from caffe_workflow.inference.spec import ModelSpec

# Modes Pillow turns into 8-bit grayscale with the ITU-R 601 luma weights that
# OpenCV's IMREAD_GRAYSCALE (the official reader) uses too; other modes
# (16-bit, float) would need a scaling the official code does not define.
CONVERTIBLE = {"1", "P", "RGB", "RGBA", "LA"}


@dataclass
class PredictionRun:
    provider: str  # the onnxruntime execution provider, or "command"
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

    write_atomically(path, lambda f: Image.fromarray(mask).save(f, format="PNG"))


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


def _copy_from(source: str):
    def write(f):
        with open(source, "rb") as src:
            shutil.copyfileobj(src, f)

    return write


def predict_command(
    spec: ModelSpec,
    images: list[str | os.PathLike],
    out_dir: str | os.PathLike,
    log: str | os.PathLike | None = None,
) -> PredictionRun:
    """Run the command of `spec` on the images, then copy what it wrote for
    each of them to ``out_dir/<stem><suffix>``. An image it wrote nothing for
    is one line in `problems`."""
    from caffe_workflow.inference.command_model import run_command
    from caffe_workflow.inference.spec import ModelError
    from caffe_workflow.predictions import PredictionsError, find_predictions

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = PredictionRun(provider="command")
    # Beside out_dir (same file system), hidden, removed afterwards.
    with tempfile.TemporaryDirectory(prefix=f".{spec.name}-output-", dir=out_dir.parent) as tmp:
        run_command(spec, images, tmp, log=log)
        try:
            found = find_predictions(spec.name, tmp)
        except PredictionsError as err:
            raise ModelError(f"model {spec.name}: what its command wrote: {err}") from None
        wrote = "zones" if found.kind == "zones" else "fronts"
        if wrote != spec.kind:
            raise ModelError(
                f"model {spec.name}: its command wrote {found.kind} files, but the model's "
                f"kind is {spec.kind}"
            )
        for image in images:
            stem = stem_of(image)
            source = found.files.get(stem)
            if source is None:
                run.problems.append(
                    f"model {spec.name}: its command wrote no {stem}{spec.suffix} for image {image}"
                )
                continue
            target = output_path(spec, out_dir, stem)
            write_atomically(target, _copy_from(source))
            run.written[stem] = str(target)
    return run


def predict(
    spec: ModelSpec,
    images: list[str | os.PathLike],
    out_dir: str | os.PathLike,
    threads: int | None = None,
    log: str | os.PathLike | None = None,
) -> PredictionRun:
    """One batch of images through the model of `spec`, ONNX or command."""
    if spec.onnx is not None:
        return predict_onnx(spec, images, out_dir, threads=threads)
    return predict_command(spec, images, out_dir, log=log)
