"""Deterministic generator of CaFFe-format sample data.

Writes the layout of the real ``data_raw/`` (:mod:`caffe_workflow.caffe.layout`).

Image ``i`` (0, 1, 2, ...) depends only on ``(seed, i, size)``: its name on
``(seed, i)``, so ``first_index`` can add images later without collisions.
Indices cycle through a fixed sequence of 681 (glacier, satellite, resolution)
slots with the real per-glacier and per-satellite counts; the first seven
slots already cover every glacier, every satellite and both splits.

CLI: ``python -m caffe_dev.sample_data OUT_DIR --count N [--seed S]
[--size small|medium|full] [--first-index K] [--force] [--jobs J]
[--predictions DIR] [--dataset-record FILE [--dataset NAME]]``.

``make demo`` also asks it for the name of the demo's dataset
(:func:`demo_dataset`): ``caffe-sample`` unless another folder's demo built
that one, then the first free of ``caffe-sample-2``, ``-3``, ...

Uses numpy (this is a data generator, not a per-image workflow job).
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import hashlib
import math
import multiprocessing
import os
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from caffe_workflow.atomic import write_atomically
from caffe_workflow.caffe.labels import FRONT, GLACIER, NA, OCEAN, ROCK
from caffe_workflow.caffe.layout import image_paths


@dataclass(frozen=True)
class Glacier:
    name: str
    split: str  # "train" or "test"
    ref_resolution: int  # metres per pixel of ref_size
    ref_size: tuple[int, int]  # (width, height) in pixels at ref_resolution
    # Orientation of the scene: the generator draws ocean on the right of a
    # local frame, then transposes / flips it into the image.
    transpose: bool
    flip_x: bool
    flip_y: bool
    # (satellite, resolution) -> images per 681-image cycle.
    sensors: dict

    @property
    def count(self) -> int:
        return sum(self.sensors.values())

    def full_size(self, resolution: int) -> tuple[int, int]:
        """Pixel size (w, h) at `resolution`: same ground at every resolution."""
        w, h = self.ref_size
        f = self.ref_resolution / resolution
        return max(1, round(w * f)), max(1, round(h * f))


# JAC, COL and Mapple sizes are those of the real images; Crane, DBE, Jorum and
# SI are plausible guesses chosen so the full 681-image set has about 2.8 GB
# of SAR PNGs. The per-glacier satellite mix is a plausible split of the real
# per-satellite totals (TSX 348, ENVISAT 82, ERS 54, RSAT 54, PALSAR 48, S1 48,
# TDX 47) over the real per-glacier totals.
GLACIERS: dict[str, Glacier] = {
    g.name: g
    for g in (
        Glacier(
            "COL", "test", 7, (4476, 2107), True, False, False, {("TDX", 7): 47, ("S1", 20): 18}
        ),
        Glacier(
            "Mapple",
            "test",
            20,
            (382, 405),
            False,
            False,
            False,
            {
                ("TSX", 7): 24,
                ("ENVISAT", 20): 10,
                ("ERS", 20): 6,
                ("PALSAR", 17): 2,
                ("S1", 20): 15,
            },
        ),
        Glacier(
            "Crane",
            "train",
            7,
            (2950, 2560),
            False,
            False,
            True,
            {("TSX", 7): 40, ("ENVISAT", 20): 12, ("ERS", 20): 8, ("PALSAR", 17): 9},
        ),
        Glacier(
            "DBE",
            "train",
            7,
            (3330, 2950),
            True,
            True,
            False,
            {
                ("TSX", 7): 45,
                ("ENVISAT", 20): 25,
                ("ERS", 20): 15,
                ("PALSAR", 17): 12,
                ("RSAT", 12): 18,
                ("RSAT", 20): 18,
            },
        ),
        Glacier("JAC", "train", 6, (2639, 3143), False, True, False, {("TSX", 6): 159}),
        Glacier(
            "Jorum",
            "train",
            7,
            (2430, 2180),
            False,
            False,
            False,
            {
                ("TSX", 7): 30,
                ("ENVISAT", 20): 15,
                ("ERS", 20): 10,
                ("PALSAR", 17): 7,
                ("S1", 20): 15,
            },
        ),
        Glacier(
            "SI",
            "train",
            7,
            (3070, 2690),
            True,
            False,
            True,
            {
                ("TSX", 7): 50,
                ("ENVISAT", 20): 20,
                ("ERS", 20): 15,
                ("PALSAR", 17): 18,
                ("RSAT", 12): 9,
                ("RSAT", 20): 9,
            },
        ),
    )
}

# Satellite -> (first date, last date, highest relative orbit number).
SATELLITES: dict[str, tuple[dt.date, dt.date, int]] = {
    "ERS": (dt.date(1995, 11, 13), dt.date(2007, 12, 31), 501),
    "ENVISAT": (dt.date(2002, 6, 1), dt.date(2012, 4, 8), 501),
    "RSAT": (dt.date(1996, 1, 1), dt.date(2008, 12, 31), 343),
    "PALSAR": (dt.date(2006, 6, 1), dt.date(2011, 4, 21), 671),
    "TSX": (dt.date(2008, 1, 1), dt.date(2020, 6, 12), 167),
    "TDX": (dt.date(2011, 1, 1), dt.date(2020, 6, 12), 167),
    "S1": (dt.date(2014, 10, 3), dt.date(2020, 6, 12), 175),
}

CYCLE = sum(g.count for g in GLACIERS.values())  # 681
SMALL_MAX_SIDE = 300  # small: the largest image's longer side
# medium: the same, 1000 px; its fronts are long enough to survive the
# benchmark's 750 m piece removal (caffe_workflow.caffe.evaluation), which
# at "small" removes nearly every front, so models can be scored on it.
MAX_SIDE = {"small": SMALL_MAX_SIDE, "medium": 1000}
SMALL_MIN_SIDE = 48  # small: no side shorter than this (keeps masks meaningful)

# First slots of the cycle: every glacier, every satellite, both splits.
_COVER = [
    ("JAC", "TSX", 6),
    ("COL", "TDX", 7),
    ("Crane", "ERS", 20),
    ("DBE", "RSAT", 12),
    ("Jorum", "S1", 20),
    ("Mapple", "PALSAR", 17),
    ("SI", "ENVISAT", 20),
]


def _build_cycle() -> list[tuple[str, str, int]]:
    """The fixed order of the 681 slots: the cover slots, then the rest
    interleaved so that every prefix has roughly the real proportions."""
    remaining = {}
    for g in GLACIERS.values():
        for (sat, res), n in g.sensors.items():
            remaining[(g.name, sat, res)] = n
    for key in _COVER:
        remaining[key] -= 1
    keys = list(remaining)
    # Stride scheduling: item j of a key with n items sits at (j + 0.5) / n.
    rest = sorted(
        ((j + 0.5) / n, keys.index(key), key) for key, n in remaining.items() for j in range(n)
    )
    return list(_COVER) + [key for _, _, key in rest]


_CYCLE_SLOTS = _build_cycle()
assert len(_CYCLE_SLOTS) == CYCLE == 681


def _occurrences():
    """For each slot: (occurrence of its key within the cycle, key count per cycle)."""
    seen: dict = {}
    occ = []
    for key in _CYCLE_SLOTS:
        occ.append(seen.get(key, 0))
        seen[key] = occ[-1] + 1
    return [(o, seen[key]) for o, key in zip(occ, _CYCLE_SLOTS)]


_OCCURRENCES = _occurrences()


def _h(*parts) -> int:
    """Stable 64-bit hash of `parts` (independent of numpy / Python versions)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass(frozen=True)
class ImageSpec:
    index: int
    stem: str
    glacier: str
    split: str
    date: dt.date
    satellite: str
    resolution: int
    quality: int
    orbit: str


def image_spec(seed: int, index: int) -> ImageSpec:
    """Name and metadata of image `index`: a function of (seed, index) only."""
    if index < 0:
        raise ValueError("index must be >= 0")
    cycle, slot = divmod(index, CYCLE)
    glacier, sat, res = _CYCLE_SLOTS[slot]
    occ, per_cycle = _OCCURRENCES[slot]
    k = cycle * per_cycle + occ  # occurrence of (glacier, sat, res) over all indices
    first, last, max_orbit = SATELLITES[sat]
    days = (last - first).days + 1
    # Past the satellite's distinct dates (JAC's TSX run out first, near
    # image 19,000), dates repeat and the optional seventh part of the name
    # (modality) keeps the stem unique: "r1", "r2", ...
    repeat, k = divmod(k, days)
    # A seeded affine bijection k -> day keeps (glacier, sat, res, date), hence
    # the stem, unique for every index while looking random.
    key = (seed, glacier, sat, res)
    a = 1 + _h("a", *key) % (days - 1)
    while math.gcd(a, days) != 1:
        a += 1
    date = first + dt.timedelta(days=(a * k + _h("b", *key) % days) % days)
    quality = (1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 5, 6)[_h("q", seed, index) % 12]
    # Each glacier is seen by a satellite from two relative orbits (tracks).
    track = _h("o", seed, index) % 2
    orbit = 1 + _h("track", seed, glacier, sat, track) % max_orbit
    stem = f"{glacier}_{date.isoformat()}_{sat}_{res}_{quality}_{orbit:03d}"
    if repeat:
        stem += f"_r{repeat}"
    return ImageSpec(
        index, stem, glacier, GLACIERS[glacier].split, date, sat, res, quality, f"{orbit:03d}"
    )


def image_size(spec: ImageSpec, size: str) -> tuple[int, int]:
    """(width, height) in pixels of the image for `size` "full", "medium" or "small"."""
    w, h = GLACIERS[spec.glacier].full_size(spec.resolution)
    if size == "full":
        return w, h
    if size not in MAX_SIDE:
        raise ValueError(f"size must be 'small', 'medium' or 'full', not {size!r}")
    f = max(MAX_SIDE[size] / _LARGEST_SIDE, SMALL_MIN_SIDE / min(w, h))
    return max(1, round(w * f)), max(1, round(h * f))


_LARGEST_SIDE = max(max(g.full_size(res)) for g in GLACIERS.values() for _, res in g.sensors)


def paths(out_dir, spec: ImageSpec) -> dict[str, Path]:
    return image_paths(Path(out_dir), spec.split, spec.stem)


# ---------------------------------------------------------------- pixels


def _smooth(rng, grid: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Smooth random field in [-1, 1]: a (gh, gw) grid of noise, resized to
    size (w, h) bilinearly. The same grid gives the same field at any size."""
    low = rng.uniform(-1.0, 1.0, grid).astype(np.float32)
    return np.array(Image.fromarray(low).resize(size, Image.BILINEAR))


def _scene(spec: ImageSpec, seed: int, w: int, h: int):
    """Zones (uint8) and mean SAR backscatter (float32) in the local frame,
    where the ice flows left to right into the ocean; plus the glacier."""
    g = GLACIERS[spec.glacier]
    hl, wl = (w, h) if g.transpose else (h, w)
    grng = np.random.default_rng(_h("glacier", seed, g.name))  # same ground
    irng = np.random.default_rng(_h("image", seed, spec.index))  # this date

    # Fixed geometry of the glacier (fractions of the frame, so it is the same
    # ground at every resolution): a fjord band of rows, a coast beyond which
    # everything is ocean, rock margins along the fjord walls and the coast.
    centre = grng.uniform(0.42, 0.58)
    half = grng.uniform(0.09, 0.17)
    y0 = int(round((centre - half) * hl))
    y1 = int(round((centre + half) * hl))
    ys = np.arange(hl)
    coast_ctrl = grng.uniform(0.66, 0.80, 7)
    coast = np.interp(ys, np.linspace(0, hl - 1, 7), coast_ctrl) * wl
    coast = coast.astype(np.int64)
    margin = (0.02 + 0.02 * _smooth(grng, (1, 9), (wl, 1))[0]) * hl
    margin = np.maximum(1, margin).astype(np.int64)
    coast_band = max(2, int(0.03 * wl))
    outcrops = _smooth(grng, (10, 10), (wl, hl)) > 0.45

    # This date's front: a base position plus wiggles at seven scales, the
    # finer ones weaker (roughly fractal), so the front winds like a real one
    # (at full size ~0.02 % of the pixels; real fronts ~0.04 %).
    t = np.linspace(0.0, 1.0, y1 - y0 + 1)
    front = irng.uniform(0.34, 0.52) * wl
    for k in range(7):
        amp = 0.07 * 2 ** (-0.7 * k) * irng.uniform(0.5, 1.0) * wl
        freq = 0.5 * 2**k * irng.uniform(0.8, 1.25)
        front = front + amp * np.sin(2 * np.pi * (freq * t + irng.uniform()))
    front = np.clip(np.round(front), 1, coast.min() - 3).astype(np.int64)
    _thin_front(front)

    yy = ys[:, None]
    xx = np.arange(wl)[None, :]
    fjord = (yy >= y0) & (yy <= y1)
    front_col = np.full(hl, -1, np.int64)
    front_col[y0 : y1 + 1] = front
    zones = np.full((hl, wl), GLACIER, np.uint8)
    zones[outcrops | (xx > coast[:, None] - coast_band)] = ROCK
    walls = ((yy < y0) & (yy >= y0 - margin[None, :])) | ((yy > y1) & (yy <= y1 + margin[None, :]))
    zones[walls] = ROCK
    zones[~fjord & (xx > coast[:, None])] = OCEAN
    in_fjord = np.broadcast_to(fjord, zones.shape)
    zones[in_fjord] = np.where(xx > front_col[:, None], OCEAN, GLACIER)[in_fjord]
    # Land ice must meet the ocean only at the calving front in the fjord.
    touch = _touches(zones == GLACIER, zones == OCEAN) & ~in_fjord
    zones[touch] = ROCK

    # No-data strip (swath edge) along one side away from the fjord and front.
    side = irng.integers(3)
    depth = irng.uniform(0.03, 0.13)
    slope = irng.uniform(-0.05, 0.05)
    if side == 0:  # inland edge
        nodata = xx < (depth + slope * yy / hl) * wl
    elif side == 1:
        nodata = yy < (depth + slope * xx / wl) * hl
    else:
        nodata = yy > (1 - depth - slope * xx / wl) * hl
    zones[nodata] = NA

    # Mean backscatter (8-bit amplitude scale) per zone, with smooth variations.
    lut = np.zeros(256, np.float32)
    lut[OCEAN] = irng.uniform(35, 70)
    lut[GLACIER] = irng.uniform(120, 165)
    lut[ROCK] = irng.uniform(80, 110)
    mean = lut[zones]
    ocean, ice = zones == OCEAN, zones == GLACIER
    texture = _smooth(grng, (40, 40), (wl, hl))  # relief on rock
    texture[ocean] = _smooth(irng, (6, 6), (wl, hl))[ocean]  # weather
    texture[ice] = 0.4 * _smooth(grng, (60, 4), (wl, hl))[ice]  # flow stripes
    mean *= 1 + 0.35 * texture
    # Ice melange: brighter ocean just beyond the front, fading seawards.
    band = mean[y0 : y1 + 1]
    dist = (xx - front[:, None]).astype(np.float32)
    fade = np.exp(-dist / (irng.uniform(0.03, 0.10) * wl))
    band += np.where(ocean[y0 : y1 + 1], 70 * fade, 0)
    return zones, mean, g


def _thin_front(front: np.ndarray) -> None:
    """Flatten two-row bumps that stick out >= 2 px beyond both neighbours:
    they are the only way the traced front (glacier pixels next to ocean)
    could contain a 2x2 block, i.e. be more than one pixel wide."""
    while True:
        lo = np.minimum(front[1:-2], front[2:-1])
        hi = np.maximum(front[:-3], front[3:])
        bad = np.flatnonzero(lo - hi >= 2)
        if bad.size == 0:
            return
        i = bad[0] + 1
        cap = max(front[i - 1], front[i + 2]) + 1
        front[i] = min(front[i], cap)
        front[i + 1] = min(front[i + 1], cap)


def _touches(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pixels of `a` with a 4-neighbour in `b`."""
    n = np.zeros_like(a)
    n[1:, :] |= b[:-1, :]
    n[:-1, :] |= b[1:, :]
    n[:, 1:] |= b[:, :-1]
    n[:, :-1] |= b[:, 1:]
    return a & n


# Speckle: inverse CDF of the amplitude of a 4-look intensity (gamma) speckle,
# tabulated for fast lookup; pixel = mean * factor[u], u uniform on 1024 bins.
_LOOKS = 4
_SPECKLE = np.sqrt(np.random.default_rng(12345).gamma(_LOOKS, 1 / _LOOKS, 1 << 18))
_SPECKLE = np.quantile(_SPECKLE, (np.arange(1024) + 0.5) / 1024).astype(np.float32)
# 64 mean levels x 1024 speckle bins -> uint8 pixel (level 0 = no data).
_LEVELS = np.arange(64, dtype=np.float32)[:, None] * 4 + 2
_SAR_LUT = np.clip(np.round(_LEVELS * _SPECKLE[None, :]), 1, 255).astype(np.uint8)
_SAR_LUT[0] = 0
_SAR_LUT = _SAR_LUT.ravel()


def render(spec: ImageSpec, seed: int, size: str):
    """Arrays for one image: SAR (uint8), zones (uint8), front (uint8) in
    image orientation, and the bounding-box corners [(x, y)] * 4."""
    w, h = image_size(spec, size)
    zones, mean, g = _scene(spec, seed, w, h)
    front = np.where(_touches(zones == GLACIER, zones == OCEAN), FRONT, 0).astype(np.uint8)
    level = np.clip(mean * 0.25, 1, 63).astype(np.uint32)
    level[zones == NA] = 0
    rng = np.random.default_rng(_h("speckle", seed, spec.index))
    idx = (level << 10) | rng.integers(0, 1024, level.shape, dtype=np.uint32)
    sar = _SAR_LUT[idx]

    arrays = []
    for a in (sar, zones, front):
        if g.transpose:
            a = a.T
        if g.flip_x:
            a = a[:, ::-1]
        if g.flip_y:
            a = a[::-1, :]
        arrays.append(np.ascontiguousarray(a))
    sar, zones, front = arrays
    assert sar.shape == (h, w)

    # Bounding box: the front's extent plus a margin; may leave the image.
    rows, cols = np.nonzero(front)
    brng = np.random.default_rng(_h("bbox", seed, spec.index))
    mx = 0.15 * w * brng.uniform(0.6, 1.4) + 2
    my = 0.15 * h * brng.uniform(0.6, 1.4) + 2
    x0, x1 = cols.min() - mx, cols.max() + mx
    ylo, yhi = rows.min() - my, rows.max() + my
    # left-upper, left-lower, right-lower, right-upper; "upper" = larger row.
    corners = [(x0, yhi), (x0, ylo), (x1, ylo), (x1, yhi)]
    return sar, zones, front, corners


# ---------------------------------------------------------------- files


def _png_writer(array, **options):
    return lambda f: Image.fromarray(array).save(f, format="PNG", **options)


def _generate_one(args) -> tuple[str, int, bool]:
    """Write the missing files of one image (all four if `force`); returns
    (stem, bytes of its four files, whether anything was written)."""
    out_dir, seed, index, size, force = args
    spec = image_spec(seed, index)
    p = paths(out_dir, spec)
    todo = {k for k, q in p.items() if force or not q.exists()}
    if todo:
        sar, zones, front, corners = render(spec, seed, size)
        text = "x,y\n" + "".join(f"{x:.2f},{y:.2f}\n" for x, y in corners)
        writers = {
            "bbox": lambda f: f.write(text.encode()),
            "zones": _png_writer(zones),
            "front": _png_writer(front),
            # Speckle leaves nothing for LZ matching to find: run-length zlib
            # gives files of the same size a third faster than the default.
            "sar": _png_writer(sar, compress_type=zlib.Z_RLE),
        }
        for key in ("bbox", "zones", "front", "sar"):  # SAR last
            if key in todo:
                write_atomically(p[key], writers[key])
    return spec.stem, sum(q.stat().st_size for q in p.values()), bool(todo)


def _worker_init() -> None:
    """Keep numpy's big temporaries (tens of MB) in the malloc heap: by default
    glibc mmaps and unmaps each one, and the page faults cost ~30 % of the run.
    Done only in worker processes, so the caller's process is not affected."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def generate(
    out_dir,
    count: int,
    seed: int = 0,
    size: str = "small",
    first_index: int = 0,
    *,
    force: bool = False,
    jobs: int | None = None,
    stats: dict | None = None,
) -> list[str]:
    """Write images first_index .. first_index + count - 1 under `out_dir`.

    Returns their stems in index order, including images whose files were
    already present: existing files are kept as they are (only missing ones
    are written) unless `force`. `jobs` worker processes (default: the CPU
    count for "full", 1 for "small", where images take milliseconds). If `stats` is a dict it
    receives "written", "skipped" and "bytes" (all four files of every image).
    Beyond about 19,000 images (28 cycles), when JAC runs out of distinct
    TSX dates, names carry a seventh part (see image_spec).
    """
    if count < 0 or first_index < 0:
        raise ValueError("count and first_index must be >= 0")
    if size not in ("small", "medium", "full"):
        raise ValueError(f"size must be 'small', 'medium' or 'full', not {size!r}")
    specs = [image_spec(seed, first_index + i) for i in range(count)]
    # Largest first so the workers finish together.
    order = sorted(specs, key=lambda s: -math.prod(image_size(s, size)))
    tasks = [(str(out_dir), seed, s.index, size, force) for s in order]
    if jobs is None:
        jobs = (os.cpu_count() or 1) if size == "full" else 1
    jobs = max(1, min(jobs, len(tasks)))
    if jobs > 1:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(jobs, initializer=_worker_init) as pool:
            results = pool.map(_generate_one, tasks, chunksize=1)
    else:
        results = [_generate_one(t) for t in tasks]
    if stats is not None:
        stats["written"] = sum(r[2] for r in results)
        stats["skipped"] = len(results) - stats["written"]
        stats["bytes"] = sum(r[1] for r in results)
    return [s.stem for s in specs]


# ---------------------------------------------------------------- a model

DEMO_MODEL = "shifted_front"


def _shift_right(array: np.ndarray, shift: int) -> np.ndarray:
    """`array` moved `shift` columns to the right; the entering columns repeat the first."""
    return np.concatenate([np.repeat(array[:, :1], shift, axis=1), array[:, :-shift]], axis=1)


def write_shifted_predictions(
    data_dir, out_dir, shift: int = 3, split: str = "test", skip_existing: bool = False
) -> list[str]:
    """Predictions of a synthetic zone model: each label's zone mask moved
    `shift` pixels to the right (the columns that enter on the left repeat the
    first column), written as ``<out_dir>/<stem>_zones.png`` for every image
    of `split`. Its fronts lie about `shift` pixels from the labels'.
    Returns the stems written (or, with `skip_existing`, already there)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stems = []
    for label in sorted((Path(data_dir) / "zones" / split).glob("*_zones.png")):
        stems.append(label.name[: -len("_zones.png")])
        if skip_existing and (out_dir / label.name).exists():
            continue
        moved = _shift_right(np.asarray(Image.open(label)), shift)
        write_atomically(out_dir / label.name, _png_writer(moved))
    return stems


def write_line_predictions(
    data_dir, out_dir, shift: int = 2, split: str = "test", skip_existing: bool = False
) -> list[str]:
    """Predictions of a synthetic front model: each label front moved `shift`
    pixels to the right and thickened to 3 pixels (0/255, as a front
    network's thresholded output), as ``<out_dir>/<stem>_front.png``; the
    evaluation skeletonizes it back to a line. Returns the stems."""
    from scipy.ndimage import binary_dilation

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stems = []
    for label in sorted((Path(data_dir) / "fronts" / split).glob("*_front.png")):
        stems.append(label.name[: -len("_front.png")])
        if skip_existing and (out_dir / label.name).exists():
            continue
        line = binary_dilation(_shift_right(np.asarray(Image.open(label)) > 0, shift))
        write_atomically(out_dir / label.name, _png_writer(line.astype(np.uint8) * 255))
    return stems


DEMO_DATASET = "caffe-sample"


def demo_dataset(
    data_dir, record, explicit: str | None = None, base: str = DEMO_DATASET, say=print
) -> str:
    """The FiftyOne dataset `make demo` builds from `data_dir`, kept in `record`.

    `explicit` (make demo DATASET=NAME) is taken as given. Otherwise the name
    recorded by an earlier demo in this folder, else `base` or, when `base`
    belongs to another folder's data (a second clone's demo: same images,
    other paths), the first of `base`-2, `base`-3, ... that is free or this
    folder's. Taking the other clone's dataset over would delete its samples,
    and with them the tags and fields a user put on them.
    """
    record = Path(record)
    if explicit:
        name = explicit
    elif record.is_file() and record.read_text().strip():
        return record.read_text().strip()
    else:
        name = _free_demo_name(data_dir, base, say)
        if name is None:
            return base  # unchecked: not recorded; the run's own check decides
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(name + "\n")
    return name


def _free_demo_name(data_dir, base: str, say) -> str | None:
    """`base` or the first `base`-N this data_dir may write into; None when
    the database cannot be asked."""
    from caffe_workflow.caffe.layout import canonical_dir, canonical_path
    from caffe_workflow.database import check_database
    from caffe_workflow.ownership import OwnershipError, check_owner

    folder = str(canonical_dir(data_dir))
    try:
        check_database()
        os.environ.setdefault("FIFTYONE_LOGGING_LEVEL", "ERROR")  # its notices are not ours
        import fiftyone as fo

        taken = []
        for n in range(1, 1000):
            name = base if n == 1 else f"{base}-{n}"
            if not fo.dataset_exists(name):
                break
            ds = fo.load_dataset(name)
            paths = [] if ds.info.get("data_dir") else ds.distinct("filepath")
            try:
                check_owner(
                    name, ds.info, [str(canonical_path(p)) for p in paths], folder, take_over=False
                )
                break
            except OwnershipError:
                taken.append(f"{name} ({ds.info.get('data_dir', 'other images')})")
    except Exception as err:  # the database: the run's ingest says what is wrong
        say(f"sample_data: demo dataset name not checked ({str(err).splitlines()[0]})")
        return None
    if taken:
        belong = (
            "belongs to another folder's demo"
            if len(taken) == 1
            else "belong to other folders' demos"
        )
        say(f"sample_data: the demo dataset is {name}: {', '.join(taken)} {belong}")
    return name


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m caffe_dev.sample_data",
        description="Generate deterministic CaFFe-format sample data.",
    )
    ap.add_argument("out_dir")
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", choices=("small", "medium", "full"), default="small")
    ap.add_argument("--first-index", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="rewrite existing files")
    ap.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="worker processes (default: CPU count for full, 1 for small)",
    )
    ap.add_argument(
        "--predictions",
        metavar="DIR",
        help=f"also write the test-split predictions of the synthetic model {DEMO_MODEL} "
        "(labels with the zones shifted 3 pixels) to DIR",
    )
    ap.add_argument(
        "--dataset-record",
        metavar="FILE",
        help="choose the demo's dataset name (see demo_dataset) and write it to FILE",
    )
    ap.add_argument("--dataset", metavar="NAME", help="with --dataset-record: this name")
    a = ap.parse_args(argv)
    start = time.perf_counter()
    stats: dict = {}
    generate(
        a.out_dir,
        a.count,
        seed=a.seed,
        size=a.size,
        first_index=a.first_index,
        force=a.force,
        jobs=a.jobs,
        stats=stats,
    )
    secs = time.perf_counter() - start
    print(
        f"sample_data: {a.count} images ({stats['written']} written, "
        f"{stats['skipped']} already present), {stats['bytes']} bytes, "
        f"{secs:.1f} s, {a.count / secs if secs else 0:.1f} images/s "
        f"-> {a.out_dir}"
    )
    if a.predictions:
        stems = write_shifted_predictions(a.out_dir, a.predictions)
        print(f"sample_data: {len(stems)} predictions of {DEMO_MODEL} -> {a.predictions}")
    if a.dataset_record:
        demo_dataset(a.out_dir, a.dataset_record, a.dataset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
