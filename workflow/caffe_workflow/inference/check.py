"""Check the ONNX models of the config key ``models`` before any per-image work.

Loading a model imports onnxruntime and builds a session, which the Snakemake
process should not carry: the check runs in a subprocess
(``python -m caffe_workflow.inference.check '<models as JSON>'``), and only
for models whose fingerprint (file hash, options) has changed since the last
check that passed (``<record>``, e.g. ``results/<dataset>/models_checked.json``).
A failed check stops the run with one line naming the model.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from caffe_workflow.inference.spec import ModelError, ModelSpec, parse_config


def precheck(specs: dict[str, ModelSpec], record: str | Path) -> dict[str, str]:
    """Load every ONNX model of `specs` not yet checked in this form; stop
    the run (sys.exit, one line) if one cannot be used. {model: provider}
    of the models checked now."""
    record = Path(record)
    try:
        done = json.loads(record.read_text())
    except (OSError, ValueError):
        done = {}
    prints = {name: spec.fingerprint() for name, spec in specs.items() if spec.onnx is not None}
    todo = {
        name: spec
        for name, spec in specs.items()
        if name in prints and done.get(name) != prints[name]
    }
    if not todo:
        return {}
    entries = {
        name: {"onnx": spec.onnx, "kind": spec.kind, "options": spec.options.__dict__}
        for name, spec in todo.items()
    }
    proc = subprocess.run(
        [sys.executable, "-m", "caffe_workflow.inference.check", json.dumps(entries)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
        sys.exit(f"Error: {lines[-1]}")
    from caffe_workflow.atomic import write_atomically

    kept = {name: fp for name, fp in done.items() if name in prints}
    kept.update({name: prints[name] for name in todo})
    text = json.dumps(kept, indent=1, sort_keys=True) + "\n"
    write_atomically(record, lambda f: f.write(text.encode()))
    return json.loads(proc.stdout or "{}")


def _main(argv: list[str]) -> int:
    from caffe_workflow.inference import onnx_model

    providers = {}
    try:
        for name, spec in parse_config(json.loads(argv[0])).items():
            providers[name] = onnx_model.load(spec, threads=1).provider
    except ModelError as err:
        print(err, file=sys.stderr)
        return 3
    print(json.dumps(providers))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
