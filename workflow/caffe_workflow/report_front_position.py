"""The report's front-position figure: the box-method position of every front
through time, one panel per glacier (:mod:`caffe_workflow.caffe.front_position`
computes it; this module reads the files and draws).

    python -m caffe_workflow.report_front_position --catalog results/catalog.parquet \
        --png results/report/front_position.png --table results/report/front_position.csv \
        [--model NAME=results/<dataset>/evaluation/NAME/per_image.parquet ...]

Rule front_position runs it with every scored model. Labelled fronts come
from the catalog's ``front_lines`` (images without labels have none); a
model's fronts from its valid per-image rows (the evaluate stage's
``per_image.parquet``: the post-processed front, on images without labels
the whole front; every front is cut to the glacier's box when measured).
The zone masks of a few labelled images per glacier (the catalog's
``zones_path``) give the downstream direction.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on cluster nodes and CI

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from caffe_workflow.caffe import front_position as fp  # noqa: E402
from caffe_workflow.caffe.names import GLACIERS  # noqa: E402

CATALOG_COLUMNS = [
    "stem",
    "glacier",
    "date_taken",
    "satellite",
    "spatial_resolution",
    "width",
    "height",
    "front_lines",
    "front_extent",
    "zones_path",
]
PREDICTION_COLUMNS = [
    "stem",
    "glacier",
    "date_taken",
    "resolution",
    "width",
    "height",
    "front_lines",
    "valid",
]
DPI = 110
LABEL_COLOUR = "black"
# Models take the tab10 colours in name order (labels are black).
_MODEL_COLOURS = plt.get_cmap("tab10").colors


def read_zones(path: str | os.PathLike) -> np.ndarray:
    """A zone mask as a 2-D uint8 array (OSError or ValueError if unreadable)."""
    from PIL import Image

    with Image.open(path) as image:
        if image.mode != "L":
            raise ValueError(f"zone mask has mode {image.mode}, expected L")
        return np.asarray(image)


def load_catalog(path: str | os.PathLike) -> pd.DataFrame:
    return pd.read_parquet(path, columns=CATALOG_COLUMNS)


def load_predictions(per_image: dict[str, str | os.PathLike]) -> dict[str, pd.DataFrame]:
    """{model: its per-image rows} from {model: per_image.parquet}, with the
    column ``labelled`` where the file has it."""
    import pyarrow.parquet as pq

    out = {}
    for model, path in per_image.items():
        optional = [c for c in ("labelled",) if c in pq.read_schema(path).names]
        out[model] = pd.read_parquet(path, columns=PREDICTION_COLUMNS + optional)
    return out


def with_image_sizes(rows: pd.DataFrame, catalog: pd.DataFrame) -> pd.DataFrame:
    """A model's rows with the catalog's width, height and resolution of the
    image where a row has none."""
    images = catalog.drop_duplicates("stem").set_index("stem")
    rows = rows.copy()
    for column, source in (
        ("width", "width"),
        ("height", "height"),
        ("resolution", "spatial_resolution"),
    ):
        rows[column] = rows[column].fillna(rows["stem"].map(images[source]))
    return rows


def _glaciers(names) -> list[str]:
    present = {g for g in names if isinstance(g, str)}
    return [g for g in GLACIERS if g in present] + sorted(present - set(GLACIERS))


def plot_front_positions(
    table: pd.DataFrame,
    refs: dict[str, fp.Reference],
    path: str | os.PathLike,
    min_coverage: float = 0.8,
) -> dict[str, dict]:
    """One panel per glacier of ``table`` (:func:`fp.positions`): the position
    of each front against its date, labelled fronts and each model as their
    own series. Returns per glacier {"panel", "reference", "series": {source:
    fronts drawn}, "left_out": {source: fronts below min_coverage}}."""
    glaciers = _glaciers(list(table["glacier"]) + list(refs))
    models = sorted(set(table["source"]) - {"label"})
    colours = {"label": LABEL_COLOUR}
    colours.update({m: _MODEL_COLOURS[i % len(_MODEL_COLOURS)] for i, m in enumerate(models)})
    ncols = 2 if len(glaciers) > 1 else 1
    nrows = max(1, -(-len(glaciers) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(11, 2.6 * nrows + 1.0), squeeze=False)
    flat = list(axes.flat)
    if not glaciers:
        flat[0].text(
            0.5,
            0.5,
            "no fronts with a glacier, a date and a resolution",
            ha="center",
            va="center",
            transform=flat[0].transAxes,
        )
        flat[0].set_axis_off()
    summary = {}
    for i, (ax, glacier) in enumerate(zip(flat, glaciers)):
        ref = refs.get(glacier)
        part = table[table["glacier"] == glacier]
        info = {"panel": i, "reference": ref, "series": {}, "left_out": {}}
        summary[glacier] = info
        if ref is None:
            info["left_out"] = part.groupby("source").size().to_dict()
            ax.text(
                0.5,
                0.5,
                f"{glacier}: no labelled front, so no reference box",
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
            ax.set_axis_off()
            continue
        for source in ["label", *models]:
            rows = part[part["source"] == source].sort_values("date")
            if rows.empty:
                continue
            shown = rows.dropna(subset=["position_m"])
            info["left_out"][source] = len(rows) - len(shown)
            info["series"][source] = len(shown)
            label = "labelled fronts" if source == "label" else source
            style = {"marker": "o", "ms": 3.5} if source == "label" else {"marker": "x", "ms": 4}
            ax.plot(
                shown["date"],
                shown["position_m"],
                lw=0.7,
                color=colours[source],
                alpha=0.8,
                label=label,
                **style,
            )
        left = sum(info["left_out"].values())
        notes = [f"{left} fronts left out"] if left else []
        if ref.extent_spread > fp.EXTENT_TOLERANCE:
            notes.append("images cover different ground")
        ax.set_title(
            f"{glacier}: box {ref.width_m / 1000:.1f} km wide, "
            f"flow {ref.flow_angle_deg:.0f}\u00b0 in the image"
            + ("\n" + ", ".join(notes) if notes else ""),
            fontsize=9,
        )
        if not sum(info["series"].values()):
            ax.text(
                0.5,
                0.5,
                f"no front crosses {min_coverage:.0%} of the box width",
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.set_ylabel(
            "position (m)\n\u2191 advance  \u2193 retreat"
            if ref.downstream_known
            else "position (m)\nflow sign unknown",
            fontsize=8,
        )
        ax.grid(alpha=0.3)
    for ax in flat[len(glaciers) :]:
        ax.set_axis_off()
    handles = [plt.Line2D([], [], color=LABEL_COLOUR, marker="o", ms=3.5, label="labelled fronts")]
    handles += [plt.Line2D([], [], color=colours[m], marker="x", ms=4, label=m) for m in models]
    if glaciers:
        fig.legend(
            handles=handles,
            loc="upper right",
            frameon=False,
            ncol=len(handles),
            bbox_to_anchor=(1, 0.985),
        )
    fig.suptitle(
        "Mean calving-front position along the flow (box method), m downstream of "
        "each glacier's reference line",
        x=0.02,
        ha="left",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return summary


def write_front_positions(
    catalog: pd.DataFrame,
    png: str | os.PathLike,
    table_path: str | os.PathLike | None = None,
    predictions: dict[str, pd.DataFrame] | None = None,
    min_coverage: float = 0.8,
) -> tuple[pd.DataFrame, dict[str, dict], list[str]]:
    """Positions of the catalog's and the models' fronts, the figure at
    ``png`` and (optionally) the table as CSV; returns (table, per-glacier
    summary, problems: one line each)."""
    problems: list[str] = []
    refs = fp.references(catalog, read_zones, problems=problems)
    predictions = {m: with_image_sizes(df, catalog) for m, df in (predictions or {}).items()}
    table = fp.positions(catalog, predictions, refs, min_coverage)
    summary = plot_front_positions(table, refs, png, min_coverage)
    if table_path is not None:
        table.assign(date=table["date"].dt.date).to_csv(table_path, index=False)
    return table, summary, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--png", required=True)
    parser.add_argument("--table")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PER_IMAGE")
    args = parser.parse_args(argv)
    models = dict(m.split("=", 1) for m in args.model)
    _, summary, problems = write_front_positions(
        load_catalog(args.catalog), args.png, args.table, load_predictions(models)
    )
    sys.stderr.writelines(f"{line}\n" for line in problems)
    for glacier, info in summary.items():
        print(f"{glacier}: {info['series']} (left out {info['left_out']})", file=sys.stderr)
    print(f"wrote {Path(args.png)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
