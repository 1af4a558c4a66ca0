"""Figures and the validation table for the Snakemake report, from the catalog.

    python -m caffe_workflow.stages.plots --catalog results/catalog.parquet \
        --out-dir results/report [--model NAME=results/<dataset>/evaluation/NAME/per_image.parquet]

Writes into --out-dir (names in OUTPUTS): images per glacier over time by
sensor, the quality-factor and resolution mix, front length over time per
glacier, the traced fronts per glacier drawn over a thumbnail and coloured by
date, and an HTML table of every image with a problem or warning. Rows whose
name could not be parsed (no glacier or date) appear only in the table.

With --model (rule model_fronts, one job per model), also
``fronts_over_time/NAME.png``: per glacier the model scored, its fronts
through time beside the labelled fronts of the same images
(:func:`write_model_fronts`).
"""

from __future__ import annotations

import argparse
import html
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on cluster nodes and CI

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from caffe_workflow.caffe.names import GLACIERS, SENSOR_BANDS  # noqa: E402

OUTPUTS = {
    "timeline": "images_over_time.png",
    "mix": "quality_resolution.png",
    "fronts": "front_length.png",
    "front_maps": "fronts_over_time.png",
    "validation": "validation.html",
}
# Rule model_fronts: <out-dir>/fronts_over_time/<model>.png, one per model.
MODEL_FRONTS_DIR = "fronts_over_time"

# One fixed colour per known sensor, so all figures agree.
_PALETTE = plt.get_cmap("tab10").colors
SAT_COLOURS = {sat: _PALETTE[i] for i, sat in enumerate(SENSOR_BANDS)}
OTHER = "#7f7f7f"
DPI = 110


def load(path: str | os.PathLike) -> pd.DataFrame:
    cols = [
        "stem",
        "split",
        "glacier",
        "date_taken",
        "satellite",
        "spatial_resolution",
        "quality_factor",
        "front_length_km",
        "valid",
        "labelled",
        "problems",
        "warnings",
        "filepath",
    ]
    df = pd.read_parquet(path, columns=cols)
    df["date_taken"] = pd.to_datetime(df["date_taken"])
    return df


def _in_order(values: pd.Series, known) -> list[str]:
    """The values present: known ones in the order of `known`, then unknown ones sorted."""
    present = set(values.dropna())
    return [v for v in known if v in present] + sorted(present - set(known))


def _glaciers(df: pd.DataFrame) -> list[str]:
    return _in_order(df["glacier"], GLACIERS)


def _satellites(df: pd.DataFrame) -> list[str]:
    return _in_order(df["satellite"], SENSOR_BANDS)


def _count(n: int, word: str) -> str:
    """1 front, 2 fronts."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _years(dates: pd.Series) -> str:
    """The years of `dates`: 2004, or 2004\u20132011."""
    first, last = dates.dt.year.min(), dates.dt.year.max()
    return f"{first}" if first == last else f"{first}\u2013{last}"


def _colour(sat: str):
    return SAT_COLOURS.get(sat, OTHER)


def _empty(ax, text="no images with a parsed glacier and date") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def plot_timeline(df: pd.DataFrame, path: Path) -> None:
    """One row per glacier, one dot per image at its date, coloured by sensor."""
    dated = df.dropna(subset=["glacier", "date_taken"])
    glaciers = _glaciers(dated)
    sats = _satellites(dated)
    fig, ax = plt.subplots(figsize=(10, 0.55 * max(len(glaciers), 2) + 1.6))
    if dated.empty:
        _empty(ax)
    for sat in sats:
        part = dated[dated["satellite"] == sat]
        # Each sensor gets its own lane within the glacier's row, so sensors
        # that imaged the same glacier in the same months stay apart.
        offset = (sats.index(sat) - (len(sats) - 1) / 2) * 0.6 / max(len(sats), 1)
        y = [glaciers.index(g) + offset for g in part["glacier"]]
        ax.scatter(
            part["date_taken"],
            y,
            s=14,
            color=_colour(sat),
            label=f"{sat} ({len(part)})",
            alpha=0.85,
            linewidths=0,
        )
    if not dated.empty:
        counts = dated.groupby("glacier").size()
        splits = dated.groupby("glacier")["split"].agg(lambda s: "/".join(sorted(set(s))))
        ax.set_yticks(range(len(glaciers)))
        ax.set_yticklabels([f"{g} ({splits[g]}, {counts[g]})" for g in glaciers])
        ax.set_ylim(len(glaciers) - 0.5, -0.5)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(
            title="sensor (images)", loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False
        )
    ax.set_xlabel("acquisition date")
    ax.set_title(f"{_count(len(dated), 'image')} per glacier over time, by sensor")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def _stacked_bars(ax, table: pd.DataFrame, colours: dict, title: str, xlabel: str):
    bottom = pd.Series(0, index=table.index)
    for col in table.columns:
        ax.bar(
            [str(i) for i in table.index],
            table[col],
            bottom=bottom,
            color=colours.get(col, OTHER),
            label=str(col),
        )
        bottom += table[col]
    for x, total in enumerate(bottom):
        ax.text(x, total, str(int(total)), ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, bottom.max() * 1.12)  # room for the totals
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("images")
    ax.legend(fontsize=8, frameon=False)


def plot_mix(df: pd.DataFrame, path: Path) -> None:
    """Quality factor by glacier, and spatial resolution by sensor."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    quality = df.dropna(subset=["quality_factor", "glacier"])
    if quality.empty:
        _empty(left)
    else:
        table = pd.crosstab(quality["quality_factor"].astype(int), quality["glacier"])
        table = table.reindex(columns=_glaciers(quality))
        cmap = plt.get_cmap("Dark2").colors
        colours = {g: cmap[i % len(cmap)] for i, g in enumerate(table.columns)}
        _stacked_bars(
            left,
            table,
            colours,
            "Label quality factor (1 best, 6 worst) by glacier",
            "quality factor",
        )
    res = df.dropna(subset=["spatial_resolution", "satellite"])
    if res.empty:
        _empty(right)
    else:
        table = pd.crosstab(res["spatial_resolution"].astype(int), res["satellite"])
        table = table.reindex(columns=_satellites(res))
        _stacked_bars(
            right,
            table,
            {s: _colour(s) for s in table.columns},
            "Spatial resolution by sensor",
            "metres per pixel",
        )
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_front_length(df: pd.DataFrame, path: Path) -> None:
    """Front length over time, one panel per glacier, dots coloured by sensor."""
    fronts = df.dropna(subset=["glacier", "date_taken", "front_length_km"])
    glaciers = _glaciers(fronts)
    ncols = 2 if len(glaciers) > 1 else 1
    nrows = max(1, -(-len(glaciers) // ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(11, 2.3 * nrows + 0.8), sharex=True, squeeze=False
    )
    flat = list(axes.flat)
    if fronts.empty:
        _empty(flat[0], "no images with a front length")
    shown = set()
    for ax, glacier in zip(flat, glaciers):
        part = fronts[fronts["glacier"] == glacier].sort_values("date_taken")
        ax.plot(part["date_taken"], part["front_length_km"], color="0.75", lw=0.8, zorder=1)
        for sat, group in part.groupby("satellite"):
            ax.scatter(
                group["date_taken"],
                group["front_length_km"],
                s=14,
                color=_colour(sat),
                zorder=2,
                linewidths=0,
                label=None if sat in shown else sat,
            )
            shown.add(sat)
        ax.set_title(f"{glacier} ({_count(len(part), 'image')})", fontsize=10)
        ax.set_ylabel("front length (km)")
        ax.grid(alpha=0.3)
    for ax in flat[len(glaciers) :]:
        if not fronts.empty:
            ax.set_axis_off()
            # The panel above now ends its column: give it the date labels.
            flat[flat.index(ax) - ncols].xaxis.set_tick_params(labelbottom=True)
    if shown:
        handles = [
            plt.Line2D([], [], marker="o", ls="", color=_colour(s), label=s)
            for s in _satellites(fronts)
        ]
        fig.legend(
            handles=handles, title="sensor", loc="upper right", frameon=False, ncol=len(handles)
        )
    fig.suptitle("Calving front length over time", x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


FRONT_MAP_COLUMNS = [
    "stem",
    "glacier",
    "date_taken",
    "satellite",
    "spatial_resolution",
    "width",
    "height",
    "front_lines",
    "thumbnail_path",
]
# A model's per-image rows (the evaluate stage's per_image.parquet) the model's
# figure reads; ``labelled`` (False: an image without labels) is optional.
MODEL_FRONT_COLUMNS = ["stem", "glacier", "date_taken", "width", "height", "front_lines", "valid"]


# Fronts drawn per panel at most; beyond that, evenly spaced in time (the first
# and last always), so the figure stays readable and its cost flat as an
# archive grows (at 20,000 images a panel had up to 4,670 fronts: 4 s).
MAX_FRONTS = 200


def drawn_fronts(group: pd.DataFrame, limit: int = MAX_FRONTS) -> pd.DataFrame:
    """The images of a footprint group (in date order) whose fronts are drawn:
    all of them up to `limit`, else `limit` of them evenly spaced."""
    if len(group) <= limit:
        return group
    return group.iloc[np.linspace(0, len(group) - 1, limit).round().astype(int)]


def _without_lines(table) -> tuple[pd.DataFrame, object]:
    """(the table's other columns as a frame, with ``has_front`` and
    ``date_taken`` as datetimes; its ``front_lines`` column, still Arrow)."""
    import pyarrow.compute as pc

    lines = table.column("front_lines")
    df = table.drop_columns(["front_lines"]).to_pandas()
    df["date_taken"] = pd.to_datetime(df["date_taken"])
    df["has_front"] = pc.fill_null(pc.list_value_length(lines), 0).to_numpy() > 0
    return df, lines


def _with_lines(df: pd.DataFrame, lines, groups) -> pd.DataFrame:
    """``df`` with ``front_lines`` of the rows of ``groups`` (frames of its
    rows, by index) as Python lists, None elsewhere."""
    groups = [g for g in groups if not g.empty]
    drawn = np.unique(np.concatenate([g.index.to_numpy() for g in groups])) if groups else []
    df["front_lines"] = None
    if len(drawn):
        df.loc[drawn, "front_lines"] = pd.Series(lines.take(drawn).to_pylist(), index=drawn)
    return df


def load_front_maps(path: str | os.PathLike) -> pd.DataFrame:
    """The figure's columns, with ``has_front``; ``front_lines`` only for the
    images drawn (footprint_groups, drawn_fronts), None elsewhere: as Python
    lists every image's lines made this the largest process of a rerun at
    20,000 images (381 MB), while they are compact in Arrow until then."""
    import pyarrow.parquet as pq

    df, lines = _without_lines(pq.read_table(path, columns=FRONT_MAP_COLUMNS))
    return _with_lines(df, lines, [drawn_fronts(g) for g in footprint_groups(df).values()])


def footprint_groups(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per glacier (every glacier with a parsed name and date), the images of
    its largest footprint that have a traced front, in date order.

    A footprint is an image size (width, height): a glacier's images cover the
    same ground, so one size is one sensor resolution and one pixel grid, and
    normalised front coordinates of such images are comparable. Ties go to the
    larger size (the finer resolution). A glacier without any traced front
    gets an empty frame.
    """
    dated = df.dropna(subset=["glacier", "date_taken"])
    usable = dated.dropna(subset=["width", "height"])
    usable = usable[usable["has_front"]]
    groups = {}
    for glacier in _glaciers(dated):
        part = usable[usable["glacier"] == glacier]
        if part.empty:
            groups[glacier] = part
            continue
        sizes = part.groupby(["width", "height"]).size()
        width, height = max(sizes.index, key=lambda wh: (sizes[wh], wh[0] * wh[1]))
        same = (part["width"] == width) & (part["height"] == height)
        groups[glacier] = part[same].sort_values(["date_taken", "stem"])
    return groups


def _background(group: pd.DataFrame):
    """(stem, grayscale array) of the latest image of the group whose
    thumbnail can be read, or (None, None)."""
    from PIL import Image

    for stem, path in zip(group["stem"][::-1], group["thumbnail_path"][::-1]):
        if isinstance(path, str) and path and os.path.exists(path):
            try:
                with Image.open(path) as image:
                    return stem, image.convert("L")
            except OSError:
                continue
    return None, None


def _date_ticks(dates: pd.Series) -> list[float]:
    """Colour-bar ticks (matplotlib date numbers): 1 January of every k-th
    year (at most 6 ticks) when the dates span three years or more, else the
    first and last date. Computed here: AutoDateLocator warns on short bars."""
    import matplotlib.dates as mdates

    first, last = dates.min(), dates.max()
    years = list(range(first.year + 1, last.year + 1))
    if len(years) < 3:
        return sorted({float(mdates.date2num(first)), float(mdates.date2num(last))})
    step = -(-len(years) // 6)
    return [float(mdates.date2num(pd.Timestamp(y, 1, 1))) for y in years[::step]]


# Truncated so the earliest fronts are not near-black on dark SAR ocean.
_FRONT_CMAP = matplotlib.colors.ListedColormap(plt.get_cmap("plasma")(np.linspace(0.15, 1, 256)))


def _date_norm(dates: pd.Series):
    """The colour scale of fronts dated `dates` (one day wide for one date)."""
    import matplotlib.dates as mdates

    days = mdates.date2num(dates.dt.to_pydatetime())
    lo, hi = float(days.min()), float(days.max())
    return matplotlib.colors.Normalize(lo - (hi == lo), hi + (hi == lo))


def _segments(shown: pd.DataFrame, width: int, height: int, norm) -> tuple[list, list]:
    """(segments in pixels, their colours) of the fronts of `shown`."""
    import matplotlib.dates as mdates

    days = mdates.date2num(shown["date_taken"].dt.to_pydatetime())
    segments, colours = [], []
    for lines, day in zip(shown["front_lines"], days):
        for line in lines if lines is not None else ():
            points = np.asarray([tuple(p) for p in line], dtype=float).reshape(-1, 2)
            if len(points) >= 2:
                segments.append(points * (width, height))
                colours.append(_FRONT_CMAP(norm(day)))
    return segments, colours


def _draw_fronts(
    fig, ax, segments, colours, size, thumb, norm, dates: pd.Series, zoom_to=None
) -> None:
    """Fronts over a thumbnail (grey without one), zoomed to the points of
    `zoom_to` (default: the segments) with a margin, and a date colour bar."""
    import matplotlib.dates as mdates
    from matplotlib.collections import LineCollection

    width, height = size
    if thumb is not None:
        ax.imshow(
            np.asarray(thumb),
            cmap="gray",
            vmin=0,
            vmax=255,
            extent=(0, width, height, 0),
            interpolation="bilinear",
        )
    else:
        ax.set_facecolor("0.85")
    ax.add_collection(LineCollection(segments, colors=colours, linewidths=1.3))
    zoom = segments if zoom_to is None else zoom_to
    if zoom:
        allpts = np.concatenate(zoom)
        (x0, y0), (x1, y1) = allpts.min(axis=0), allpts.max(axis=0)
        pad = max(0.15 * max(x1 - x0, y1 - y0), 0.05 * max(width, height))
        ax.set_xlim(max(0, x0 - pad), min(width, x1 + pad))
        ax.set_ylim(min(height, y1 + pad), max(0, y0 - pad))  # image y runs downwards
    else:
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    bar = fig.colorbar(
        matplotlib.cm.ScalarMappable(norm=norm, cmap=_FRONT_CMAP), ax=ax, fraction=0.046, pad=0.02
    )
    bar.set_ticks(_date_ticks(dates))
    bar.ax.yaxis.set_major_formatter(
        mdates.DateFormatter("%Y" if len(bar.get_ticks()) > 2 else "%Y-%m-%d")
    )
    bar.ax.tick_params(labelsize=7)


def _fronts_count(shown: pd.DataFrame, group: pd.DataFrame) -> str:
    """'12 fronts', or '200 of 4670 fronts' when not all are drawn."""
    if len(shown) < len(group):
        return f"{len(shown)} of {_count(len(group), 'front')}"
    return _count(len(group), "front")


def _footprint_line(size, rows: pd.DataFrame) -> str:
    """'960×720 px (7/20 m, 2004–2011)': the image size, resolutions, years."""
    resolutions = sorted(set(rows["spatial_resolution"].dropna().astype(int)))
    res = "/".join(str(r) for r in resolutions) + " m, " if resolutions else ""
    return f"{size[0]}\u00d7{size[1]} px ({res}{_years(rows['date_taken'])})"


def _no_fronts() -> dict:
    return {
        "size": None,
        "images": 0,
        "of": 0,
        "polylines": 0,
        "sensors": [],
        "first": None,
        "last": None,
        "thumbnail": None,
    }


def _grid(panels: int, per_row: int, width: float = 4.6):
    """A figure of `panels` panels, `per_row` a row: (fig, flat list of axes)."""
    ncols = min(per_row, max(panels, 1))
    nrows = max(1, -(-panels // ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width * ncols + 1, 4.2 * nrows + 0.6), squeeze=False
    )
    return fig, list(axes.flat)


def _save(fig, path, title: str) -> None:
    fig.suptitle(title, x=0.02, ha="left", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_front_maps(df: pd.DataFrame, path: Path, max_fronts: int = MAX_FRONTS) -> dict[str, dict]:
    """One panel per glacier: the fronts of its largest footprint group over
    the latest readable thumbnail of that group, coloured by date, each panel
    with its own colour bar, zoomed to the fronts. Returns per glacier what
    was drawn: {"size", "images" (drawn), "of" (in the group), "polylines",
    "sensors", "first", "last", "thumbnail"} (size None and images 0 for a
    glacier without fronts)."""
    groups = footprint_groups(df)
    fig, flat = _grid(len(groups), 3)
    if not groups:
        _empty(flat[0])
    drawn = {}
    for ax, (glacier, group) in zip(flat, groups.items()):
        if group.empty:
            _empty(ax, f"{glacier}: no traced fronts")
            drawn[glacier] = _no_fronts()
            continue
        size = (int(group["width"].iloc[0]), int(group["height"].iloc[0]))
        shown = drawn_fronts(group, max_fronts)
        stem, thumb = _background(group)
        norm = _date_norm(shown["date_taken"])  # the group's: first and last are shown
        segments, colours = _segments(shown, *size, norm)
        _draw_fronts(fig, ax, segments, colours, size, thumb, norm, group["date_taken"])
        sensors = _in_order(group["satellite"], SENSOR_BANDS)
        ax.set_title(
            f"{glacier}: {_fronts_count(shown, group)}, {'/'.join(sensors)}\n"
            + _footprint_line(size, group),
            fontsize=9,
        )
        drawn[glacier] = {
            "size": size,
            "images": len(shown),
            "of": len(group),
            "polylines": len(segments),
            "sensors": sensors,
            "first": shown["date_taken"].min().date(),
            "last": shown["date_taken"].max().date(),
            "thumbnail": stem,
        }
    for ax in flat[len(groups) :]:
        ax.set_axis_off()
    _save(
        fig,
        path,
        "Calving fronts over time: per glacier, the images of its most common "
        "image size, coloured by date",
    )
    return drawn


# ---------------------------------------------------------------- a model's fronts


def load_model_fronts(
    per_image: str | os.PathLike, labels: pd.DataFrame
) -> tuple[pd.DataFrame, object]:
    """A model's valid per-image rows without their lines, with ``has_front``,
    ``labelled`` (True where the file has no such column) and, from the
    catalog's rows ``labels``, each image's satellite, resolution, thumbnail
    and (where the row has none) size; and the lines (Arrow) to take the
    drawn ones from."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    names = pq.read_schema(per_image).names
    missing = [c for c in MODEL_FRONT_COLUMNS if c not in names]
    if missing:
        raise ValueError(
            f"{per_image}: no column {', '.join(missing)}: not a per_image.parquet of "
            "the evaluate stage; delete it and rerun the workflow to score the model again"
        )
    columns = MODEL_FRONT_COLUMNS + (["labelled"] if "labelled" in names else [])
    table = pq.read_table(per_image, columns=columns)
    table = table.filter(pc.fill_null(table.column("valid"), False))
    df, lines = _without_lines(table)
    df["labelled"] = df["labelled"].fillna(True).astype(bool) if "labelled" in df else True
    images = labels.drop_duplicates("stem").set_index("stem")
    for column in ("satellite", "spatial_resolution", "thumbnail_path"):
        df[column] = df["stem"].map(images[column])
    for column in ("width", "height"):  # a row without one: the image's
        df[column] = df[column].fillna(df["stem"].map(images[column]))
    return df, lines


def pair_groups(labels: pd.DataFrame, model: pd.DataFrame) -> dict[str, dict]:
    """Per glacier the model has valid rows of (in GLACIERS order): {"size",
    "model", "labels", "scored"} where "model" are the model's images of that
    footprint with a front and "labels" the labelled images the model scored
    of the same footprint with a traced front, both in date order, and
    "scored" the model's valid images of the glacier. The footprint is the
    model's largest (footprint_groups), else, when the model found no front,
    that of the labels; size is None when neither has a front."""
    model_groups = footprint_groups(model)
    scored = labels[labels["stem"].isin(set(model["stem"]))]
    label_groups = footprint_groups(scored)
    usable = scored.dropna(subset=["width", "height"])
    usable = usable[usable["has_front"]]
    pairs = {}
    for glacier, mine in model_groups.items():
        theirs = label_groups.get(glacier, usable.iloc[:0])
        source = mine if not mine.empty else theirs
        size = (
            None if source.empty else (int(source["width"].iloc[0]), int(source["height"].iloc[0]))
        )
        if size is not None:
            same = (
                (usable["glacier"] == glacier)
                & (usable["width"] == size[0])
                & (usable["height"] == size[1])
            )
            theirs = usable[same].sort_values(["date_taken", "stem"])
        pairs[glacier] = {
            "size": size,
            "model": mine,
            "labels": theirs,
            "scored": model[model["glacier"] == glacier],
        }
    return pairs


def plot_model_fronts(
    labels: pd.DataFrame,
    model: pd.DataFrame,
    name: str,
    path: Path,
    max_fronts: int = MAX_FRONTS,
) -> dict[str, dict]:
    """Per glacier the model scored, two panels side by side: the labelled
    fronts of the images the model scored and the model's fronts, both of
    one footprint (pair_groups), over the same thumbnail, zoomed alike and
    coloured on one date scale. ``labels``: rows as load_front_maps gives
    (with lines where drawn); ``model``: the model's valid rows with
    front_lines, has_front, labelled and thumbnail_path. Returns per glacier
    {"size", "model", "model_of", "unlabelled", "labels", "labels_of",
    "scored", "thumbnail"}: fronts drawn, in the footprint group, the model's
    drawn fronts on images without labels, the model's valid images of the
    glacier, and the stem of the background (the latest readable thumbnail
    of either side)."""
    pairs = pair_groups(labels, model)
    fig, flat = _grid(2 * len(pairs), 4 if len(pairs) > 1 else 2)
    if not pairs:
        _empty(flat[0], f"{name}: no valid predictions of an image with a glacier and date")
        for ax in flat[1:]:
            ax.set_axis_off()
    drawn = {}
    for k, (glacier, pair) in enumerate(pairs.items()):
        left, right = flat[2 * k], flat[2 * k + 1]
        size, mine, theirs = pair["size"], pair["model"], pair["labels"]
        scored = len(pair["scored"])
        shown_m, shown_l = drawn_fronts(mine, max_fronts), drawn_fronts(theirs, max_fronts)
        drawn[glacier] = {
            "size": size,
            "model": len(shown_m),
            "model_of": len(mine),
            "unlabelled": int((~shown_m["labelled"].astype(bool)).sum()) if len(shown_m) else 0,
            "labels": len(shown_l),
            "labels_of": len(theirs),
            "scored": scored,
            "thumbnail": None,
        }
        if size is None:
            _empty(left, f"{glacier}: no labelled fronts\nof the images {name} scored")
            _empty(right, f"{glacier}: {name} found no front\nin {_count(scored, 'image')}")
            continue
        both = pd.concat([shown_l, shown_m])
        norm = _date_norm(both["date_taken"])
        stem, thumb = _background(pd.concat([theirs, mine]).sort_values(["date_taken", "stem"]))
        drawn[glacier]["thumbnail"] = stem
        seg_l, col_l = _segments(shown_l, *size, norm)
        seg_m, col_m = _segments(shown_m, *size, norm)
        zoom = seg_l + seg_m
        for ax, shown, group, segments, colours, what in (
            (left, shown_l, theirs, seg_l, col_l, "labelled"),
            (right, shown_m, mine, seg_m, col_m, name),
        ):
            if group.empty:
                text = (
                    f"{glacier}: no labelled fronts\nof the images {name} scored\nat this size"
                    if what == "labelled"
                    else f"{glacier}: {name} found no front\nin {_count(scored, 'image')}"
                )
                _empty(ax, text)
                continue
            _draw_fronts(fig, ax, segments, colours, size, thumb, norm, both["date_taken"], zoom)
            extra = ""
            if what != "labelled" and drawn[glacier]["unlabelled"]:
                extra = f", {drawn[glacier]['unlabelled']} on images without labels"
            ax.set_title(
                f"{glacier}, {what}: {_fronts_count(shown, group)}{extra}\n"
                + _footprint_line(size, group),
                fontsize=9,
            )
    for ax in flat[2 * len(pairs) :]:
        ax.set_axis_off()
    _save(
        fig,
        path,
        f"Calving fronts over time, model {name}: per glacier, labelled fronts (left) "
        "and the model's (right) of one image size, coloured by date",
    )
    return drawn


def write_model_fronts(
    catalog: str | os.PathLike,
    per_image: str | os.PathLike,
    name: str,
    path: str | os.PathLike,
    max_fronts: int = MAX_FRONTS,
) -> dict[str, dict]:
    """The figure of model `name` (plot_model_fronts) from the catalog and
    the model's per_image.parquet; reads only the lines it draws."""
    import pyarrow.parquet as pq

    labels, label_lines = _without_lines(pq.read_table(catalog, columns=FRONT_MAP_COLUMNS))
    model, model_lines = load_model_fronts(per_image, labels)
    pairs = pair_groups(labels, model)
    labels = _with_lines(
        labels, label_lines, [drawn_fronts(p["labels"], max_fronts) for p in pairs.values()]
    )
    model = _with_lines(
        model, model_lines, [drawn_fronts(p["model"], max_fronts) for p in pairs.values()]
    )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return plot_model_fronts(labels, model, name, Path(path), max_fronts)


_STYLE = """
body { font-family: sans-serif; font-size: 14px; margin: 1em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #eee; }
"""
_COLUMNS = {"split": "split", "stem": "image", "kind": "kind", "what": "what", "filepath": "file"}


def source_folders(df: pd.DataFrame) -> list[str]:
    """The data folders the catalog's images come from (each image is
    ``<data_dir>/sar_images/<split>/<stem>.png``, its path resolved)."""
    paths = df["filepath"].dropna()
    return sorted({str(Path(p).parents[2]) for p in paths})


def validation_html(df: pd.DataFrame) -> str:
    """A self-contained HTML page: the data folder and the counts, then one
    row per problem or warning."""
    invalid = df[~df["valid"].astype(bool)]
    unlabelled = int(df["labelled"].eq(False).sum())
    warned = df[df["warnings"].map(lambda w: w is not None and len(w) > 0)]
    items = pd.concat(
        part.sort_values(["split", "stem"]).assign(kind=kind, what=part[column]).explode("what")
        for kind, part, column in (
            ("problem", invalid, "problems"),
            ("warning", warned, "warnings"),
        )
    ).dropna(subset=["what"])
    body = (
        items[list(_COLUMNS)].rename(columns=_COLUMNS).to_html(index=False, border=0)
        if len(items)
        else "<p>Every image passed validation, with no warnings.</p>"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>CaFFe validation</title><style>{_STYLE}</style></head><body>"
        f"<p>Images from <code>{', '.join(map(html.escape, source_folders(df)))}</code>.</p>"
        f"<p><b>{len(df)}</b> images: <b>{len(df) - len(invalid)}</b> valid, "
        f"<b>{len(invalid)}</b> invalid (tagged <code>invalid</code> in the dataset), "
        f"<b>{unlabelled}</b> unlabelled (valid, without label files: tagged "
        f"<code>unlabelled</code>), "
        f"<b>{len(warned)}</b> with warnings.</p>{body}</body></html>\n"
    )


def write_all(
    catalog: str | os.PathLike, paths: dict[str, str | os.PathLike], progress: bool = True
) -> None:
    """Write every item of OUTPUTS to `paths` ({key: file}), with a progress
    bar (one step per item) on stderr unless not `progress`."""
    from tqdm import tqdm

    df = load(catalog)
    paths = {key: Path(paths[key]) for key in OUTPUTS}
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    steps = {
        "timeline": lambda path: plot_timeline(df, path),
        "mix": lambda path: plot_mix(df, path),
        "fronts": lambda path: plot_front_length(df, path),
        "front_maps": lambda path: plot_front_maps(load_front_maps(catalog), path),
        "validation": lambda path: path.write_text(validation_html(df), encoding="utf-8"),
    }
    # A handful of updates, each shown (mininterval 0): the bar says which
    # figure is being drawn, in the console and in the rule's log.
    with tqdm(
        total=len(steps),
        desc="plots",
        unit="figure",
        file=sys.stderr,
        mininterval=0,
        disable=not progress,
        bar_format="{desc}: {n_fmt}/{total_fmt} figures{postfix}",
    ) as bar:
        for key, step in steps.items():
            bar.set_postfix_str(paths[key].name, refresh=True)
            step(paths[key])
            bar.update()
        bar.set_postfix_str("", refresh=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PER_IMAGE")
    args = parser.parse_args(argv)
    paths = {key: Path(args.out_dir) / name for key, name in OUTPUTS.items()}
    write_all(args.catalog, paths)
    for model in args.model:
        name, per_image = model.split("=", 1)
        paths[name] = Path(args.out_dir) / MODEL_FRONTS_DIR / f"{name}.png"
        write_model_fronts(args.catalog, per_image, name, paths[name])
    for path in paths.values():
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
