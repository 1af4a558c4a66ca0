"""The models side by side for the Snakemake report (rule evaluation_report).

A table (MDE overall and by glacier, season, sensor, resolution; images
without front; zone IoU) from every model's metrics.json, then one table per
breakdown glacier x season, glacier x sensor, glacier x resolution (as the
benchmark paper's tables); figures: MDE by glacier and season per model, the
distribution of per-image errors, and the per-image error over time per
glacier (test split).
"""

from __future__ import annotations

import datetime
import html
import importlib.resources
import json
import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import yaml  # noqa: E402

DPI = 110
PUBLISHED = "published_results.yaml"
NOT_SHOWN = (
    "Not shown, as not read in a source here: the baseline's 753 ± 76 m over all "
    "test images, the nnU-Net's 541 ± 84 m (Herrmann et al. 2023) and the "
    "multi-annotator study's ~38 m of human annotators, which is on a subset of the "
    "test set and so not comparable with these figures."
)


def published_results() -> list[dict]:
    """The package's published figures (data/published_results.yaml), one per entry."""
    text = importlib.resources.files("caffe_workflow").joinpath("data", PUBLISHED).read_text()
    return yaml.safe_load(text)["results"]


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.1f}"


def _sort_key(key: str):
    """Resolutions as numbers (6 before 12), everything else as text."""
    return (0, float(key), "") if key.replace(".", "", 1).isdigit() else (1, 0.0, key)


def _published_value(entry: dict) -> str:
    sd = entry.get("sd")
    return f"{entry['value']:g}" + ("" if sd is None else f" ± {sd:g}")


def _summary_table(models: dict[str, dict], published: list[dict] = ()) -> str:
    columns = [("all", lambda m: m["mde_m"], "all")]
    for by in ("glacier", "season", "sensor", "resolution"):
        keys = {k for m in models.values() for k in m[f"by_{by}"]}
        if by == "glacier":
            keys |= {e["group"] for e in published if e["group"] != "all"}
        for k in sorted(keys, key=_sort_key):
            label = f"{k} m" if by == "resolution" else k
            get = lambda m, by=by, k=k: m[f"by_{by}"].get(k, {}).get("mde_m")  # noqa: E731
            columns.append((label, get, k if by == "glacier" else None))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c, _, _ in columns)
    rows = []
    for name, m in sorted(models.items()):
        iou = (m.get("zones") or {}).get("iou", {}).get("mean")
        ignored = (m.get("ignored_files") or {}).get("count", len(m.get("ignored_stems") or []))
        cells = "".join(f"<td>{_fmt(get(m))}</td>" for _, get, _ in columns)
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{m['kind']}</td>{cells}"
            f"<td>{m['images_evaluated']}</td><td>{m['images_without_front']}</td>"
            f"<td>{m['images_missing']['count']}</td><td>{len(m['invalid_predictions'])}</td>"
            f"<td>{ignored}</td><td>{'–' if iou is None else f'{iou:.3f}'}</td></tr>"
        )
    width = len(columns) + 8
    if published:
        rows.append(
            f"<tr><th colspan='{width}'>Published (reference rows: figures as the "
            "papers give them, read in the sources below; not computed here)</th></tr>"
        )
        sources = _sources(published)
        by_model: dict[str, dict] = {}
        for e in published:
            by_model.setdefault(e["model"], {})[e["group"]] = e
        for model, groups in by_model.items():
            refs = sorted({sources[e["doi"]] for e in groups.values()})
            cells = "".join(
                f"<td><i>{_published_value(groups[group])}</i></td>"
                if group in groups
                else "<td></td>"
                for _, _, group in columns
            )
            label = f"{html.escape(model)} <sup>[{', '.join(map(str, refs))}]</sup>"
            rows.append(
                f"<tr class='published'><td><i>{label}</i></td><td>published</td>{cells}"
                + "<td></td>" * 6
                + "</tr>"
            )
    return (
        "<table border='1'>"
        f"<tr><th>model</th><th>kind</th>{head}<th>images</th><th>without front</th>"
        "<th>missing</th><th>invalid</th><th>ignored files</th><th>zone IoU</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _sources(published) -> dict[str, int]:
    """doi -> reference number, in order of first appearance."""
    numbers: dict[str, int] = {}
    for e in published:
        numbers.setdefault(e["doi"], len(numbers) + 1)
    return numbers


def sources_html(published: list[dict]) -> str:
    """The published rows' sources: citation, DOI, where in the paper, and
    the text each figure was read in."""
    if not published:
        return ""
    items = []
    for doi, number in _sources(published).items():
        entries = [e for e in published if e["doi"] == doi]
        read = "; ".join(
            f"{html.escape(e['group'])}: {_published_value(e)} m, read in "
            f"{html.escape(' '.join(e['verified'].split()))}"
            for e in entries
        )
        where = entries[0].get("where")
        items.append(
            f"<li>[{number}] {html.escape(entries[0]['citation'])}, "
            f"doi:<a href='https://doi.org/{html.escape(doi)}'>{html.escape(doi)}</a>"
            + (f", {html.escape(where)}" if where else "")
            + f". {read}</li>"
        )
    return (
        "<p>Published figures (MDE in m on the test set, as given by their authors; "
        "no breakdown by season, sensor or resolution was read in a source, so the "
        "tables below hold computed figures only):</p><ol style='list-style:none'>"
        + "".join(items)
        + f"</ol><p>{html.escape(NOT_SHOWN)}</p>"
    )


def glacier_breakdown(models: dict[str, dict], by: str) -> dict:
    """{glacier: {model: {value: entry}}} from ``by_glacier_<by>`` (keys
    "<glacier>/<value>"; a value may hold "/" itself, as "TSX/TDX")."""
    out: dict = {}
    for name, m in models.items():
        for key, entry in (m.get(f"by_glacier_{by}") or {}).items():
            glacier, value = key.split("/", 1)
            out.setdefault(glacier, {}).setdefault(name, {})[value] = entry
    return out


def _cell(entry: dict | None) -> str:
    if not entry:
        return "<td></td>"
    without = entry.get("images_without_front") or 0
    count = f"{entry['images']}" + (f", {without} without front" if without else "")
    return f"<td>{_fmt(entry['mde_m'])} <small>({count})</small></td>"


def breakdown_table(models: dict[str, dict], by: str) -> str:
    """One row per glacier and model, one column per value of `by`; cells
    "MDE (images)", empty where the glacier has no image of that value."""
    table = glacier_breakdown(models, by)
    values = sorted(
        {v for per_model in table.values() for got in per_model.values() for v in got},
        key=_sort_key,
    )
    label = {"resolution": lambda v: f"{v} m"}.get(by, str)
    head = "".join(f"<th>{html.escape(label(v))}</th>" for v in values)
    rows = []
    for glacier in sorted(table):
        for name in sorted(table[glacier]):
            got = table[glacier][name]
            cells = "".join(_cell(got.get(v)) for v in values)
            rows.append(
                f"<tr><td>{html.escape(glacier)}</td><td>{html.escape(name)}</td>{cells}</tr>"
            )
    return (
        f"<h3>MDE (m) by glacier and {by}</h3><table border='1'>"
        f"<tr><th>glacier</th><th>model</th>{head}</tr>" + "".join(rows) + "</table>"
    )


def table_html(models: dict[str, dict], published: list[dict] | None = None) -> str:
    """models: name -> metrics.json content; published: published_results()
    (None: the package's)."""
    published = published_results() if published is None else published
    return (
        "<html><body><p>Mean distance error (m) on the test split, pooled over "
        "front pixels as the CaFFe benchmark defines it.</p>"
        + _summary_table(models, published)
        + sources_html(published)
        + _ignored_html(models)
        + "<p>By glacier and season, sensor (TSX and TDX together) and resolution: "
        "MDE in m (images of the group; those without a front are left out of its "
        "MDE).</p>"
        + "".join(breakdown_table(models, by) for by in ("season", "sensor", "resolution"))
        + "</body></html>"
    )


def _ignored_html(models: dict[str, dict]) -> str:
    """Per model, the files of its folder that were not scored (the first few)."""
    items = []
    for name, m in sorted(models.items()):
        files = (m.get("ignored_files") or {}).get("files") or []
        if files:
            shown = ", ".join(
                f"{html.escape(Path(f['file']).name)} ({html.escape(f['reason'])})"
                for f in files[:5]
            )
            more = f" and {len(files) - 5} more (metrics.json)" if len(files) > 5 else ""
            items.append(f"<li>{html.escape(name)}: {len(files)}: {shown}{more}</li>")
    return f"<p>Files not scored:</p><ul>{''.join(items)}</ul>" if items else ""


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


def _date(value):
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, str):
        return datetime.date.fromisoformat(value)
    return value


def plot_over_time(per_image: dict[str, list[dict]], path) -> dict:
    """One panel per glacier: each model's per-image MDE against the date
    (valid images; those without a front as crosses on the date axis).

    Returns {glacier: {model: {"scored": n, "no_front": n}}}, what was drawn.
    """
    points: dict = {}
    for name, rows in sorted(per_image.items()):
        for r in rows:
            if not r["valid"] or r.get("date_taken") is None or not r.get("glacier"):
                continue
            got = points.setdefault(r["glacier"], {}).setdefault(name, {"scored": [], "none": []})
            if r["mde_m"] is None:
                got["none"].append(_date(r["date_taken"]))
            else:
                got["scored"].append((_date(r["date_taken"]), r["mde_m"]))
    glaciers = sorted(points)
    ncols = min(3, max(1, len(glaciers)))
    nrows = max(1, math.ceil(len(glaciers) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(5 * ncols, 3.4 * nrows), squeeze=False)
    colours = {name: f"C{i % 10}" for i, name in enumerate(sorted(per_image))}
    drawn: dict = {}
    for ax, glacier in zip(axes.flat, glaciers):
        for name, got in sorted(points[glacier].items()):
            scored = sorted(got["scored"])
            if scored:
                ax.plot(
                    [d for d, _ in scored],
                    [v for _, v in scored],
                    "-o",
                    ms=3,
                    lw=0.8,
                    color=colours[name],
                    label=name,
                )
            if got["none"]:
                ax.plot(
                    got["none"],
                    [0.02] * len(got["none"]),
                    "x",
                    color=colours[name],
                    transform=ax.get_xaxis_transform(),
                    clip_on=False,
                    label=f"{name}: no front",
                )
            drawn.setdefault(glacier, {})[name] = {
                "scored": len(scored),
                "no_front": len(got["none"]),
            }
        ax.set_title(glacier)
        ax.set_ylabel("per-image MDE (m)")
        ax.set_ylim(bottom=0)
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.tick_params(axis="x", labelsize=8)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(glaciers) :]:
        ax.set_visible(False)
    if not glaciers:
        axes[0, 0].set_visible(True)
        axes[0, 0].text(
            0.5, 0.5, "no valid test image", ha="center", transform=axes[0, 0].transAxes
        )
    fig.suptitle("Per-image error over time, test split")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return drawn


def write_all(metrics_files, per_image_files, table, breakdown, distribution, over_time) -> None:
    models = {}
    rows = {}
    for m_path, p_path in zip(metrics_files, per_image_files):
        m = json.loads(Path(m_path).read_text())
        models[m["model"]] = m
        rows[m["model"]] = [
            r for r in pq.ParquetFile(p_path).read().to_pylist() if r["split"] == "test"
        ]
    for path in (table, breakdown, distribution, over_time):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Path(table).write_text(table_html(models))
    plot_breakdown(models, breakdown)
    plot_distribution(rows, distribution)
    plot_over_time(rows, over_time)
