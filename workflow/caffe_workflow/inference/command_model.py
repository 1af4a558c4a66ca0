"""A model that is not ONNX: a command of the user's, run on a folder of the
batch's images.

The folder holds one symbolic link per image, ``<stem>.png``, to the SAR
image; the command's {input_dir} and {output_dir} are replaced by the two
folders (shell-quoted) and it runs in a shell. What it writes in
{output_dir} is read with the readers of the `predictions` key
(caffe_workflow.predictions), which accept any layout that key accepts.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections import deque
from pathlib import Path

from caffe_workflow.inference.spec import ModelError, ModelSpec


def link_inputs(images: list[str | os.PathLike], folder: str | os.PathLike) -> dict[str, str]:
    """``<stem>.png`` links in `folder` to the images; {stem: link}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    links: dict[str, str] = {}
    for image in images:
        image = Path(image).resolve()
        stem = image.name[: -len(".png")] if image.name.endswith(".png") else image.stem
        if stem in links:
            raise ModelError(f"two images of the batch have the same name {stem}.png")
        link = folder / f"{stem}.png"
        link.symlink_to(image)
        links[stem] = str(link)
    return links


def command_line(template: str, input_dir: str, output_dir: str) -> str:
    """The template with its placeholders replaced. Plain replacement, not
    str.format: the rest of a shell command may hold braces of its own."""
    return template.replace("{input_dir}", shlex.quote(str(input_dir))).replace(
        "{output_dir}", shlex.quote(str(output_dir))
    )


def run_command(
    spec: ModelSpec,
    images: list[str | os.PathLike],
    output_dir: str | os.PathLike,
    log: str | os.PathLike | None = None,
) -> Path:
    """Run the model's command on `images`; the folder it wrote into (`output_dir`).

    The command's stdout and stderr go to `log` (or are discarded). On a
    non-zero exit: ModelError naming the model, the exit code and the last
    line the command wrote to stderr.
    """
    if spec.command is None:
        raise ModelError(f"model {spec.name}: not a command model")
    output_dir = Path(output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{spec.name}-inputs-") as input_dir:
        link_inputs(images, input_dir)
        line = command_line(spec.command, input_dir, str(output_dir))
        last = deque(maxlen=1)
        with open(log if log is not None else os.devnull, "a", encoding="utf-8") as sink:
            sink.write(f"$ {line}\n")
            sink.flush()
            proc = subprocess.Popen(
                line,
                shell=True,
                stdout=sink,
                stderr=subprocess.PIPE,
                text=True,
                errors="backslashreplace",
            )
            for text in proc.stderr:
                sink.write(text)
                sink.flush()
                if text.strip():
                    last.append(text.strip())
            code = proc.wait()
    if code != 0:
        said = f": {last[0]}" if last else " (it wrote nothing to stderr)"
        raise ModelError(f"model {spec.name}: command exited with code {code}{said}")
    return output_dir
