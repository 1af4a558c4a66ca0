"""One line per scored model for the end of a run (print_summary in
workflow/rules/common.smk) and the merge job's log."""

from __future__ import annotations

import json
from pathlib import Path

from caffe_workflow.predictions import shown


def model_line(m: dict) -> str:
    """MDE, images scored, without a front, missing, invalid, ignored files."""
    mde = "no front to score" if m.get("mde_m") is None else f"MDE {m['mde_m']:.1f} m"
    ignored = m.get("ignored_files") or {"count": len(m.get("ignored_stems") or []), "files": []}
    line = (
        f"{m['model']} ({m['kind']}): {mde} over {m['images_evaluated']} test images scored, "
        f"{m['images_without_front']} without a front, {m['images_missing']['count']} missing, "
        f"{len(m['invalid_predictions'])} invalid, "
        f"{ignored['count']} file{'' if ignored['count'] == 1 else 's'} ignored"
    )
    if ignored["files"]:
        line += f" ({shown(Path(f['file']).name for f in ignored['files'])})"
    unlabelled = m.get("unlabelled_images_predicted") or 0
    if unlabelled:
        line += f"; {unlabelled} images without labels predicted (fronts shown, not scored)"
    other = (m.get("source") or {}).get("other_kind") or 0
    if other:
        line += f"; {other} files of the other kind not read (as `kind` says)"
    return line


def summary_lines(metrics_paths) -> list[str]:
    """The line of each model whose metrics.json exists, with a heading."""
    found = [json.loads(Path(p).read_text()) for p in metrics_paths if Path(p).exists()]
    if not found:
        return []
    return ["Models scored (test split; metrics.json beside each model's per_image.parquet):"] + [
        "  " + model_line(m) for m in found
    ]
