"""The end-of-run summary: what a run built and how to open it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def plugin_hint(plugins: Path) -> str:
    """How the App finds the plugin @caffe/metrics: never by changing a
    FIFTYONE_PLUGINS_DIR the user set (FiftyOne reads one plugins folder)."""
    mine = os.environ.get("FIFTYONE_PLUGINS_DIR")
    if not mine:
        return (
            f"  the CaFFe metrics plugin (README: Scoring models): "
            f"export FIFTYONE_PLUGINS_DIR={plugins} before launching the App, "
            f"or link {plugins / 'caffe-metrics'} into your own plugins folder"
        )
    if Path(mine, "caffe-metrics").exists() or Path(mine).resolve() == plugins.resolve():
        return f"  the CaFFe metrics plugin is in your FIFTYONE_PLUGINS_DIR ({mine})"
    return (
        f"  the CaFFe metrics plugin is not in your FIFTYONE_PLUGINS_DIR ({mine}): "
        f"ln -s {plugins / 'caffe-metrics'} {mine}/"
    )


def summary(
    ingest_summary: str | os.PathLike,
    catalog: str | os.PathLike,
    report: str | os.PathLike,
    plugins: Path | None,
) -> str:
    """`plugins`: the plugins folder to point to (when models were scored)."""
    s = json.loads(Path(ingest_summary).read_text())
    lines = Path(report).read_text().splitlines()
    counts = lines[2] if len(lines) > 2 else ""
    text = (
        f"FiftyOne dataset '{s['dataset']}': {s['total']} samples "
        f"({s['added']} added, {s['updated']} updated, {s['deleted']} deleted, "
        f"{s['unchanged']} unchanged).\n"
        f"  {counts}\n"
        f"  catalog: {Path(catalog).absolute()}\n"
        f"  report:  {Path(report).absolute()}\n"
        f"Open it:  make app DATASET={s['dataset']}   (or {Path(sys.executable).parent / 'python'} "
        f"-m caffe_workflow.app {s['dataset']}; http://localhost:5151 until Ctrl-C)"
    )
    if plugins is not None:
        text += "\n" + plugin_hint(plugins)
    return text + "\n"
