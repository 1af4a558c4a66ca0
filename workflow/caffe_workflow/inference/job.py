"""One prediction job: a batch of images through one model of ``models``,
as a Snakemake rule's ``script:`` runs it.

    from caffe_workflow.inference.job import run_job
    run_job(name, entry, images, out_dir, manifest, threads=..., log=...)

Writes ``out_dir/<stem>_zones.png`` or ``<stem>_front.png`` per image and a
manifest (JSON: the model, its fingerprint, the provider it ran on, the files
written, one line per image that could not be predicted), which is the
rule's declared output: a bad image is a line there and in the log, not a
failed job. A model that cannot run is a ModelError (one line) and fails the job.
"""

from __future__ import annotations

import json
import os
import sys

from caffe_workflow.inference.spec import parse_model


def run_job(
    name: str,
    entry: dict,
    images: list[str | os.PathLike],
    out_dir: str | os.PathLike,
    manifest: str | os.PathLike,
    threads: int | None = None,
    log: str | os.PathLike | None = None,
) -> dict:
    """Predict `images` with the model `name` (its config entry); the manifest."""
    from caffe_workflow.atomic import write_atomically
    from caffe_workflow.inference.predict import predict

    spec = parse_model(name, entry)
    run = predict(spec, [str(i) for i in images], out_dir, threads=threads, log=log)
    print(
        f"model {name}: {len(run.written)} of {len(images)} images predicted on {run.provider}",
        file=sys.stderr,
    )
    for line in run.problems:
        print(line, file=sys.stderr)
    record = {
        "model": name,
        "fingerprint": spec.fingerprint(),
        "provider": run.provider,
        "written": run.written,
        "problems": run.problems,
    }
    text = json.dumps(record, indent=1, sort_keys=True) + "\n"
    write_atomically(manifest, lambda f: f.write(text.encode()))
    return record
