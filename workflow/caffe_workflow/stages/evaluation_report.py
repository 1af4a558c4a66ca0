"""The models side by side for the Snakemake report (rule evaluation_report).

A table (MDE overall and by glacier, season, sensor, resolution; images
without front; zone IoU) from every model's metrics.json, and figures: MDE by
glacier and season per model, and the distribution of per-image errors.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

DPI = 110


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.1f}"


def table_html(models: dict[str, dict]) -> str:
    """models: name -> metrics.json content."""
    columns = [("all", lambda m: m["mde_m"])]
    for by in ("glacier", "season", "sensor", "resolution"):
        keys = sorted({k for m in models.values() for k in m[f"by_{by}"]}, key=str)
        for k in keys:
            label = f"{k} m" if by == "resolution" else k
            columns.append((label, lambda m, by=by, k=k: m[f"by_{by}"].get(k, {}).get("mde_m")))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c, _ in columns)
    rows = []
    for name, m in sorted(models.items()):
        iou = (m.get("zones") or {}).get("iou", {}).get("mean")
        cells = "".join(f"<td>{_fmt(get(m))}</td>" for _, get in columns)
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{m['kind']}</td>{cells}"
            f"<td>{m['images_evaluated']}</td><td>{m['images_without_front']}</td>"
            f"<td>{m['images_missing']['count']}</td><td>{len(m['invalid_predictions'])}</td>"
            f"<td>{'–' if iou is None else f'{iou:.3f}'}</td></tr>"
        )
    return (
        "<html><body><p>Mean distance error (m) on the test split, pooled over "
        "front pixels as the CaFFe benchmark defines it.</p><table border='1'>"
        f"<tr><th>model</th><th>kind</th>{head}<th>images</th><th>without front</th>"
        "<th>missing</th><th>invalid</th><th>zone IoU</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )


def plot_breakdown(models: dict[str, dict], path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, by in zip(axes, ("glacier", "season")):
        keys = sorted({k for m in models.values() for k in m[f"by_{by}"]})
        width = 0.8 / max(1, len(models))
        for i, (name, m) in enumerate(sorted(models.items())):
            values = [m[f"by_{by}"].get(k, {}).get("mde_m") or 0 for k in keys]
            ax.bar([j + i * width for j in range(len(keys))], values, width, label=name)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(keys))], keys)
        ax.set_ylabel("MDE (m)")
        ax.set_title(f"MDE by {by}")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_distribution(per_image: dict[str, list[dict]], path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    data, names = [], []
    for name, rows in sorted(per_image.items()):
        values = [r["mde_m"] for r in rows if r["valid"] and r["mde_m"] is not None]
        if values:
            data.append(values)
            names.append(name)
    if data:
        ax.boxplot(data, showfliers=True)
        ax.set_xticks(range(1, len(names) + 1), names)
    else:
        ax.text(0.5, 0.5, "no image with a front", ha="center", transform=ax.transAxes)
    ax.set_ylabel("per-image mean distance error (m)")
    ax.set_title("Distribution of per-image errors")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def write_all(metrics_files, per_image_files, table, breakdown, distribution) -> None:
    models = {}
    rows = {}
    for m_path, p_path in zip(metrics_files, per_image_files):
        m = json.loads(Path(m_path).read_text())
        models[m["model"]] = m
        rows[m["model"]] = [
            r for r in pq.ParquetFile(p_path).read().to_pylist() if r["split"] == "test"
        ]
    for path in (table, breakdown, distribution):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Path(table).write_text(table_html(models))
    plot_breakdown(models, breakdown)
    plot_distribution(rows, distribution)
