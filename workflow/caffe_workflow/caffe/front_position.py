"""Calving-front position through time: the box method, per glacier.

The measure (docs/front_position.md has the method, its source and limits):
Moon & Joughin (2008, J. Geophys. Res. 113, F02022) draw a rectangle whose
long sides run along the glacier's flow and whose upstream end is fixed; the
area of the box between that end and the front, divided by the box width, is
the front's mean position along the flow. It is the mean distance of the
front from the upstream end, averaged over the box width, so a ragged front
counts by its area, not by how many points trace it.

CaFFe has no flow direction, so each glacier's box is derived from its
labelled fronts (:func:`glacier_reference`):

- the frame is metres in the image, x = column * resolution and y = row *
  resolution from the image's top-left corner: a glacier's images cover the
  same ground at every resolution (the image size scales with
  1/resolution), so the frame is shared by all images of one glacier;
- fronts are first cut to the glacier's CaFFe bounding box (the region in
  which the front moves; the median of its images' boxes);
- the flow axis is perpendicular to the mean orientation of all labelled
  fronts: the axial mean (angles doubled) of each front's diameter (its two
  points farthest apart), weighted by its length (:func:`front_orientation`).
  Not the principal axis of all fronts' points: fronts that retreat along a
  fjord by more than its width would turn that axis along the flow;
- downstream is the side of the fronts where the zone masks have ocean
  (:func:`downstream_vector`); without zone masks the sign is unknown and
  :attr:`Reference.downstream_known` is False;
- the box width is the across-flow interval that most labelled fronts span
  (``span``), and its upstream end passes through the most upstream point of
  any labelled front inside it: positions of labelled fronts are >= 0 and
  only differences between dates carry meaning.

:func:`front_position` integrates along a front (a line integral of the
along-flow distance over the across-flow coordinate; by Green's theorem it is
the area between the upstream end and the front, the box's long sides adding
nothing), so folds and fronts drawn as several pieces come out right. A
front that crosses only part of the box gives the mean over that part and a
``coverage`` below 1; :func:`positions` leaves out fronts below
``min_coverage``.

numpy and pandas only: the caller reads files (see
caffe_workflow.report_front_position).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from caffe_workflow.caffe.labels import GLACIER, OCEAN
from caffe_workflow.caffe.names import parse_stem

Lines = Sequence[np.ndarray]  # polylines, each an (n, 2) array of (x, y)
Box = tuple[float, float, float, float]  # (x0, y0, x1, y1), metres


@dataclass(frozen=True)
class Reference:
    """A glacier's box in its metre frame (x right, y down, image top-left)."""

    glacier: str
    origin: tuple[float, float]  # middle of the box's upstream end, metres
    flow: tuple[float, float]  # unit vector along the flow (downstream if known)
    width_m: float  # box width across the flow
    downstream_known: bool  # flow points to the ocean (from zone masks)
    orientation_strength: float  # mean resultant length of front orientations, 0..1
    fronts: int  # labelled fronts the box was derived from
    box: Box | None = None  # the CaFFe bounding box fronts are cut to
    downstream_agreement: float | None = None  # share of zone masks agreeing on the sign
    # Largest relative difference of an image's ground extent (size times
    # resolution) from the glacier's median: 0 when all images share a frame.
    extent_spread: float = 0.0

    @property
    def across(self) -> tuple[float, float]:
        """Unit vector along the upstream end (the flow turned by +90 degrees)."""
        return (-self.flow[1], self.flow[0])

    @property
    def flow_angle_deg(self) -> float:
        """Direction of the flow axis in the image: 0 = right, 90 = down."""
        return math.degrees(math.atan2(self.flow[1], self.flow[0]))


class Position(NamedTuple):
    position_m: float  # mean distance downstream of the upstream end; nan if none
    coverage: float  # share of the box width the front crosses, 0..1


# ---------------------------------------------------------------- geometry


def lines_to_metres(lines, width: float, height: float, resolution_m: float) -> list[np.ndarray]:
    """Normalised polylines (the catalog's ``front_lines``) -> metres."""
    scale = np.array([width * resolution_m, height * resolution_m], dtype=float)
    out = []
    for line in lines if lines is not None else ():
        points = np.asarray([tuple(p) for p in line], dtype=float).reshape(-1, 2)
        if len(points):
            out.append(points * scale)
    return out


def box_to_metres(extent, width: float, height: float, resolution_m: float) -> Box:
    """The catalog's ``front_extent`` (normalised x, y, w, h) -> (x0, y0, x1, y1) m."""
    x, y, w, h = (float(v) for v in extent)
    sx, sy = width * resolution_m, height * resolution_m
    return (x * sx, y * sy, (x + w) * sx, (y + h) * sy)


def _segments(lines: Lines) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, ends, polyline index) of all segments of ``lines``."""
    starts, ends, owner = [], [], []
    for k, line in enumerate(lines):
        line = np.asarray(line, dtype=float).reshape(-1, 2)
        if len(line) >= 2:
            starts.append(line[:-1])
            ends.append(line[1:])
            owner.append(np.full(len(line) - 1, k))
    if not starts:
        empty = np.zeros((0, 2))
        return empty, empty, np.zeros(0, dtype=int)
    return np.concatenate(starts), np.concatenate(ends), np.concatenate(owner)


def _clip(a: np.ndarray, b: np.ndarray, owner: np.ndarray, planes):
    """Cut segments a->b to the convex region {p: n . p <= c for (n, c) in planes}
    (Cyrus-Beck); returns the kept parts and their owners."""
    enter = np.zeros(len(a))
    leave = np.ones(len(a))
    keep = np.ones(len(a), dtype=bool)
    for normal, c in planes:
        da = a @ normal - c
        db = b @ normal - c
        keep &= ~((da > 0) & (db > 0))
        cross = (da > 0) != (db > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(cross, da / (da - db), 0.0)
        enter = np.where(cross & (da > 0), np.maximum(enter, t), enter)
        leave = np.where(cross & (db > 0), np.minimum(leave, t), leave)
    keep &= enter <= leave
    d = b - a
    return (a + enter[:, None] * d)[keep], (a + leave[:, None] * d)[keep], owner[keep]


def _box_planes(box: Box | None):
    if box is None:
        return []
    x0, y0, x1, y1 = box
    return [
        (np.array([-1.0, 0.0]), -x0),
        (np.array([1.0, 0.0]), x1),
        (np.array([0.0, -1.0]), -y0),
        (np.array([0.0, 1.0]), y1),
    ]


def front_orientation(fronts: Iterable[Lines]) -> tuple[float, float]:
    """(angle in radians in [-pi/2, pi/2), strength in [0, 1]) of the mean
    course of some fronts: the axial mean (angles doubled, so either end may
    come first) of each front's diameter, the line between its two points
    farthest apart, weighted by its length. Strength is the mean resultant
    length of the doubled angles: 1 when all diameters are parallel."""
    diameters = []
    for lines in fronts:
        a, b, _ = _segments(lines)
        diameters.append(_diameter(np.concatenate([a, b])))
    return _orientation(np.array(diameters).reshape(-1, 2))


# Directions whose extreme points are searched for the farthest pair: the
# diameter found is at least cos(pi / 2 / 90) = 99.98 % of the true one.
_SUPPORT = np.stack([np.cos(np.arange(90) * np.pi / 90), np.sin(np.arange(90) * np.pi / 90)])


def _diameter(points: np.ndarray) -> np.ndarray:
    """The vector between the two points farthest apart (approximately)."""
    if len(points) < 2:
        return np.zeros(2)
    proj = points @ _SUPPORT
    cand = points[np.unique(np.concatenate([proj.argmin(axis=0), proj.argmax(axis=0)]))]
    d = cand[:, None, :] - cand[None, :, :]
    k = int(np.argmax((d**2).sum(axis=-1)))
    return d.reshape(-1, 2)[k]


def _orientation(chords: np.ndarray) -> tuple[float, float]:
    # Diameters, not the segments' own directions: along a ragged front the
    # small steps point every way (on a rough front most of its length can
    # run along the flow), nor the chords of the traced polylines: a
    # branched front is traced as pieces that start at junctions.
    length = np.hypot(chords[:, 0], chords[:, 1])
    total = float(length.sum())
    if total <= 0:
        return math.nan, 0.0
    theta2 = 2 * np.arctan2(chords[:, 1], chords[:, 0])
    c, s = float((length * np.cos(theta2)).sum()), float((length * np.sin(theta2)).sum())
    angle = math.atan2(s, c) / 2
    if angle >= math.pi / 2:
        angle -= math.pi
    return angle, math.hypot(c, s) / total


def downstream_vector(zones: np.ndarray, lines_px: Lines, distance_px: float) -> np.ndarray:
    """Which side of a front the ocean is on, from its zone mask.

    At points every pixel along each front segment, the zone mask is read
    ``distance_px`` to either side along the segment's normal; where one side
    is ocean and the other glacier, the unit normal towards the ocean is
    added. Returns the sum (pixel frame, x right, y down); its direction is
    the downstream direction, zero when no point tells.
    """
    a, b, _ = _segments(lines_px)
    zones = np.asarray(zones)
    if not len(a) or zones.ndim != 2:
        return np.zeros(2)
    d = b - a
    length = np.hypot(d[:, 0], d[:, 1])
    ok = length > 0
    a, d, length = a[ok], d[ok], length[ok]
    n = np.maximum(1, np.ceil(length)).astype(int)
    seg = np.repeat(np.arange(len(a)), n)
    t = (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n) + 0.5) / n[seg]
    points = a[seg] + t[:, None] * d[seg]
    normal = np.stack([-d[:, 1], d[:, 0]], axis=1) / length[:, None]
    normal = normal[seg]
    h, w = zones.shape

    def zone_at(p):
        col, row = np.floor(p[:, 0]).astype(int), np.floor(p[:, 1]).astype(int)
        inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
        out = np.zeros(len(p), dtype=zones.dtype)
        out[inside] = zones[row[inside], col[inside]]
        return out

    plus = zone_at(points + distance_px * normal)
    minus = zone_at(points - distance_px * normal)
    sign = ((plus == OCEAN) & (minus == GLACIER)).astype(float)
    sign -= (plus == GLACIER) & (minus == OCEAN)
    return (sign[:, None] * normal).sum(axis=0)


# ---------------------------------------------------------------- the measure


def _in_frame(a, b, reference: Reference):
    """Segments in box coordinates: u along the flow from the upstream end,
    v across it from the box's middle."""
    origin = np.asarray(reference.origin, dtype=float)
    basis = np.array([reference.flow, reference.across], dtype=float).T
    return (a - origin) @ basis, (b - origin) @ basis


def _strip_planes(reference: Reference):
    half = reference.width_m / 2
    across = np.asarray(reference.across, dtype=float)
    origin = np.asarray(reference.origin, dtype=float)
    c = float(across @ origin)
    return [(across, c + half), (-across, -c + half)]


def front_position_m(lines_m: Lines, reference: Reference) -> Position:
    """The box-method position of one front (polylines in the metre frame)."""
    a, b, owner = _segments(lines_m)
    a, b, owner = _clip(a, b, owner, _box_planes(reference.box) + _strip_planes(reference))
    if not len(a) or reference.width_m <= 0:
        return Position(math.nan, 0.0)
    ua, ub = _in_frame(a, b, reference)
    dv = ub[:, 1] - ua[:, 1]
    area = (ua[:, 0] + ub[:, 0]) / 2 * dv  # trapezoids: exact on straight segments
    # Each polyline is walked across the box in whichever direction it was
    # traced: orient it so that its net across-flow extent is positive.
    pieces = owner.max() + 1
    net = np.bincount(owner, dv, pieces)
    sign = np.where(net < 0, -1.0, 1.0)
    span = float((sign * net).sum())
    # Coverage: the part of the box width the front crosses, net. A piece
    # that enters and leaves on the same side crosses nothing, so a front
    # made of such pieces has no position however much of the width it spans.
    union = _union_length(np.minimum(ua[:, 1], ub[:, 1]), np.maximum(ua[:, 1], ub[:, 1]))
    coverage = min(1.0, union / reference.width_m, span / reference.width_m)
    if span <= 1e-9 * reference.width_m:
        return Position(math.nan, coverage)
    return Position(float((sign * np.bincount(owner, area, pieces)).sum()) / span, coverage)


def front_position(lines_px: Lines, resolution_m: float, reference: Reference) -> Position:
    """The box-method position of one front given in pixel coordinates
    (x = column, y = row) of an image of ``resolution_m`` metres per pixel."""
    return front_position_m(
        [np.asarray(p, dtype=float) * resolution_m for p in lines_px], reference
    )


def _union_length(lo: np.ndarray, hi: np.ndarray) -> float:
    """Total length of the union of the intervals [lo, hi]."""
    if not len(lo):
        return 0.0
    order = np.argsort(lo)
    lo, hi = lo[order], hi[order]
    reach = np.maximum.accumulate(hi)
    # an interval starts a new run where it begins beyond all before it
    new = np.concatenate([[True], lo[1:] > reach[:-1]])
    starts = lo[new]
    ends = np.maximum.reduceat(hi, np.flatnonzero(new))
    return float((ends - starts).sum())


def glacier_reference(
    fronts: Iterable[Lines],
    box: Box | None = None,
    downstream: Sequence[float] | None = None,
    span: float = 0.9,
    glacier: str = "",
    downstream_agreement: float | None = None,
) -> Reference | None:
    """The box of a glacier from its labelled fronts (each a list of
    polylines in the metre frame), or None without a usable front.

    ``box``: the CaFFe bounding box (metres) fronts are cut to first.
    ``downstream``: a vector towards the ocean (e.g. the sum of
    :func:`downstream_vector` over some images); it sets the flow's sign.
    ``span``: the box's across-flow ends are the ``span`` quantile of the
    fronts' near ends and the 1 - ``span`` quantile of their far ends, so
    about that share of the fronts reaches each side of the box.
    """
    if not 0 < span <= 1:
        raise ValueError(f"span must be in (0, 1], not {span}")
    cut = []
    for lines in fronts:
        a, b, owner = _segments(lines)
        a, b, owner = _clip(a, b, owner, _box_planes(box))
        if len(a) and np.hypot(*(b - a).T).sum() > 0:
            cut.append((a, b, _diameter(np.concatenate([a, b]))))
    if not cut:
        return None
    angle, strength = _orientation(np.array([diameter for _, _, diameter in cut]))
    flow = np.array([-math.sin(angle), math.cos(angle)])
    known = False
    if downstream is not None and float(np.dot(flow, downstream)) != 0:
        known = True
        flow = flow if float(np.dot(flow, downstream)) > 0 else -flow
    else:
        # No sign from the zones: fix one so the frame is reproducible.
        flow = flow if flow[np.argmax(np.abs(flow))] > 0 else -flow
    across = np.array([-flow[1], flow[0]])
    centre = np.mean(np.concatenate([np.concatenate([a, b]) for a, b, _ in cut]), axis=0)
    near = np.array(
        [min(((a - centre) @ across).min(), ((b - centre) @ across).min()) for a, b, _ in cut]
    )
    far = np.array(
        [max(((a - centre) @ across).max(), ((b - centre) @ across).max()) for a, b, _ in cut]
    )
    v0, v1 = float(np.quantile(near, span)), float(np.quantile(far, 1 - span))
    if v1 <= v0:  # the fronts do not overlap across the flow: use them all
        v0, v1 = float(near.min()), float(far.max())
    middle = centre + (v0 + v1) / 2 * across
    provisional = Reference(
        glacier, tuple(middle), tuple(flow), v1 - v0, known, strength, len(cut), box
    )
    a = np.concatenate([a for a, _, _ in cut])
    b = np.concatenate([b for _, b, _ in cut])
    a, b, _ = _clip(a, b, np.zeros(len(a), dtype=int), _strip_planes(provisional))
    if not len(a) or v1 <= v0:  # fronts with no across-flow extent: no box
        return None
    upstream = float(min(((a - middle) @ flow).min(), ((b - middle) @ flow).min()))
    return Reference(
        glacier=glacier,
        origin=tuple(float(v) for v in middle + upstream * flow),
        flow=tuple(float(v) for v in flow),
        width_m=v1 - v0,
        downstream_known=known,
        orientation_strength=strength,
        fronts=len(cut),
        box=box,
        downstream_agreement=downstream_agreement,
    )


# ---------------------------------------------------------------- tables

POSITION_COLUMNS = [
    "stem",
    "glacier",
    "date",
    "source",
    "satellite",
    "resolution_m",
    "position_m",
    "coverage",
    "labelled",  # the image has labels (a model's fronts may be on images without)
]


def _labelled(catalog: pd.DataFrame) -> pd.DataFrame:
    """Rows with a glacier, a date, a size, a resolution and a traced front."""
    need = ["glacier", "date_taken", "width", "height", "spatial_resolution", "front_lines"]
    df = catalog.dropna(subset=need)
    has = df["front_lines"].map(lambda v: v is not None and len(v) > 0).astype(bool)
    return df[has]


def _median_box(rows: pd.DataFrame) -> Box | None:
    boxes = [
        box_to_metres(e, w, h, r)
        for e, w, h, r in zip(
            rows["front_extent"], rows["width"], rows["height"], rows["spatial_resolution"]
        )
        if e is not None and len(e) == 4
    ]
    if not boxes:
        return None
    return tuple(float(v) for v in np.median(np.asarray(boxes), axis=0))


# Ground extents differing by more than this share break the shared frame:
# a one-pixel rounding of the smallest real CaFFe image (382 px) is 0.3 %.
EXTENT_TOLERANCE = 0.02


def extent_spread(rows: pd.DataFrame) -> float:
    """Largest relative deviation of the images' ground width and height
    (pixels times metres per pixel) from their medians."""
    if rows.empty:
        return 0.0
    res = rows["spatial_resolution"].astype(float)
    spread = 0.0
    for column in ("width", "height"):
        ground = rows[column].astype(float) * res
        median = float(ground.median())
        if median > 0:
            spread = max(spread, float((ground - median).abs().max()) / median)
    return spread


def references(
    catalog: pd.DataFrame,
    read_zones: Callable[[str], np.ndarray] | None = None,
    zone_images: int = 6,
    span: float = 0.9,
    zone_distance_m: float = 100.0,
    problems: list[str] | None = None,
) -> dict[str, Reference]:
    """A :class:`Reference` per glacier with labelled fronts in ``catalog``
    (columns glacier, date_taken, width, height, spatial_resolution,
    front_lines, front_extent, zones_path and stem).

    ``read_zones(path)`` gives a zone mask as a 2-D uint8 array; it is called
    on at most ``zone_images`` images per glacier with a zone mask, evenly
    spaced in date order, to set the downstream direction (each image's
    vote counts once). A mask that cannot be read adds a line to ``problems``.
    """
    problems = problems if problems is not None else []
    labelled = _labelled(catalog)
    out = {}
    for glacier, rows in labelled.groupby("glacier", sort=True):
        rows = rows.sort_values(["date_taken", "stem"])
        fronts = [
            lines_to_metres(v, w, h, r)
            for v, w, h, r in zip(
                rows["front_lines"], rows["width"], rows["height"], rows["spatial_resolution"]
            )
        ]
        downstream, agreement = None, None
        if read_zones is not None and "zones_path" in rows:
            votes = _zone_votes(rows, read_zones, zone_images, zone_distance_m, problems)
            if votes:
                downstream = np.sum(votes, axis=0)
        ref = glacier_reference(fronts, _median_box(rows), downstream, span, str(glacier))
        if ref is None:
            continue
        if downstream is not None and ref.downstream_known:
            agree = sum(float(np.dot(v, ref.flow)) > 0 for v in votes)
            agreement = agree / len(votes)
        spread = extent_spread(rows)
        if spread > EXTENT_TOLERANCE:
            sizes = rows["width"].astype(float) * rows["spatial_resolution"].astype(float)
            problems.append(
                f"glacier {glacier}: its images do not cover the same ground (width x "
                f"resolution from {sizes.min():.0f} to {sizes.max():.0f} m), so its front "
                "positions from different resolutions are not comparable; check the "
                "images' sizes and the resolutions in their names"
            )
        ref = dataclasses.replace(ref, downstream_agreement=agreement, extent_spread=spread)
        out[str(glacier)] = ref
    return out


def _zone_votes(rows, read_zones, limit, distance_m, problems) -> list[np.ndarray]:
    """Unit downstream vectors of up to ``limit`` images with a zone mask."""
    with_zones = rows[rows["zones_path"].map(lambda p: isinstance(p, str) and p != "")]
    if with_zones.empty or limit <= 0:
        return []
    pick = np.unique(np.linspace(0, len(with_zones) - 1, min(limit, len(with_zones))).round())
    votes = []
    for _, row in with_zones.iloc[pick.astype(int)].iterrows():
        try:
            zones = read_zones(row["zones_path"])
        except (OSError, ValueError) as err:
            problems.append(
                f"{row['zones_path']}: zone mask unreadable ({err}); the downstream "
                f"direction of {row['glacier']} is taken from its other zone masks"
            )
            continue
        w, h = float(row["width"]), float(row["height"])
        lines_px = [
            np.asarray([tuple(p) for p in line], dtype=float) * (w, h)
            for line in row["front_lines"]
        ]
        distance = max(2.0, distance_m / float(row["spatial_resolution"]))
        v = downstream_vector(zones, lines_px, distance)
        norm = float(np.hypot(*v))
        if norm > 0:
            votes.append(v / norm)  # pixel and metre frames share directions
    return votes


def _is_labelled(value) -> bool:
    """A row's ``labelled``: missing (None, NaN) means True."""
    return True if value is None or value != value else bool(value)


def _rows_positions(rows, refs, source, resolution_col, min_coverage):
    out = []
    for row in rows.itertuples(index=False):
        ref = refs.get(row.glacier)
        res = float(getattr(row, resolution_col))
        if ref is None:  # a glacier without labelled fronts: no box to measure in
            pos, coverage = math.nan, math.nan
        else:
            lines = lines_to_metres(row.front_lines, row.width, row.height, res)
            pos, coverage = front_position_m(lines, ref)
        satellite = getattr(row, "satellite", None) or parse_stem(row.stem).satellite
        out.append(
            {
                "stem": row.stem,
                "glacier": row.glacier,
                "date": pd.Timestamp(row.date_taken),
                "source": source,
                "satellite": satellite,
                "resolution_m": res,
                # NaN coverage (no reference) fails the test too
                "position_m": pos if coverage >= min_coverage else math.nan,
                "coverage": coverage,
                "labelled": _is_labelled(getattr(row, "labelled", True)),
            }
        )
    return out


def positions(
    catalog: pd.DataFrame,
    predictions: dict[str, pd.DataFrame] | None = None,
    refs: dict[str, Reference] | None = None,
    min_coverage: float = 0.8,
) -> pd.DataFrame:
    """One row per front: columns :data:`POSITION_COLUMNS`, ``source``
    "label" for the catalog's fronts and the model's name for predictions.

    ``predictions``: per model, rows with stem, glacier, date_taken, width,
    height, resolution (m/px) and front_lines (normalised), as in the
    evaluate stage's per_image.parquet, and optionally ``labelled`` (False:
    an image without labels; missing means True); rows with ``valid`` False
    are left out. A front covering less than ``min_coverage`` of its glacier's box
    width, or missing it, keeps its row with position_m NaN; so does a front
    of a glacier without a reference (coverage NaN). Rows without a glacier,
    date, size or resolution (an unparsed name, an unreadable image: the
    catalog's problems say why) have no frame and are not in the table.
    ``refs`` defaults to :func:`references` of the catalog without zone
    masks (flow sign unknown).
    """
    refs = references(catalog) if refs is None else refs
    rows = _rows_positions(_labelled(catalog), refs, "label", "spatial_resolution", min_coverage)
    for model, df in sorted((predictions or {}).items()):
        if "valid" in df:
            df = df[df["valid"].fillna(False).astype(bool)]
        need = ["glacier", "date_taken", "width", "height", "resolution", "front_lines"]
        df = df.dropna(subset=need)
        df = df[df["front_lines"].map(lambda v: v is not None and len(v) > 0).astype(bool)]
        rows += _rows_positions(df, refs, model, "resolution", min_coverage)
    table = pd.DataFrame(rows, columns=POSITION_COLUMNS)
    table["date"] = pd.to_datetime(table["date"])
    return table.sort_values(["glacier", "source", "date", "stem"], ignore_index=True)
