"""The official CaFFe scoring protocol, fast and exact (numpy/scipy/scikit-image).

Everything here follows the official evaluation code, github
``Nora-Go/Calving_Fronts_and_Where_to_Find_Them`` (cited below as
``validate_or_test.py`` and ``data_postprocessing.py`` =
``data_processing/data_postprocessing.py``), re-implemented without its
per-pixel costs:

- zone metrics from one confusion count (``np.bincount``) instead of four
  scikit-learn calls over every pixel;
- component sizes from ``np.bincount`` of one labelling instead of one
  ``labels == k`` pass over the image per component;
- nearest distances with a KD-tree instead of an all-pairs ``cdist`` matrix
  (5,000 x 5,000 front pixels would be 200 MB).

The one step not taken verbatim is ``fil_finder.FilFinder2D`` (front models):
its longest-path analysis is ported in :func:`longest_paths` (see there for
what is kept). The module imports neither
fiftyone nor scikit-learn; :mod:`caffe_dev.official_evaluation` is the
slow reference written from the same description.

Arrays are 2-D ``uint8`` images as read from the PNGs (row, column);
fronts returned here are boolean masks.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping

import numpy as np
from scipy import ndimage as ndi
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra, minimum_spanning_tree
from scipy.spatial import cKDTree
from skimage.morphology import medial_axis, skeletonize

from caffe_workflow.caffe.labels import FRONT, GLACIER, NO_FRONT, OCEAN, ZONE_CLASSES
from caffe_workflow.caffe.names import GLACIERS, parse_stem, season_of

ZONE_VALUES = tuple(ZONE_CLASSES)
ZONE_NAMES = tuple(ZONE_CLASSES.values())
FRONT_VALUES = (NO_FRONT, FRONT)
FRONT_LENGTH_THRESHOLD_M = 750  # validate_or_test.py: post_processing, meter_threshold
METRICS = ("precision", "recall", "f1", "iou")

_EIGHT = np.ones((3, 3), dtype=bool)
_ZONE_INDEX = np.full(256, 255, dtype=np.uint8)
_ZONE_INDEX[list(ZONE_VALUES)] = np.arange(4, dtype=np.uint8)


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def validate_prediction(
    prediction: np.ndarray, label_shape: tuple[int, int], kind: str
) -> str | None:
    """One-line reason why a prediction cannot be scored, or None if it can.

    ``kind`` is "zones" (values {0, 64, 127, 254}) or "front" ({0, 255}).
    The official code asserts the same value sets when it writes predictions
    (data_postprocessing.py: reconstruct_from_patches_and_binarize); a file
    from elsewhere is checked here so that one bad image does not stop the run.
    """
    allowed = _allowed_values(kind)
    if prediction.ndim != 2:
        return f"not a single-channel image (array shape {prediction.shape})"
    if prediction.shape != tuple(label_shape):
        (h, w), (lh, lw) = prediction.shape, label_shape
        return f"size {w}x{h} differs from the label's {lw}x{lh}"
    if prediction.dtype != np.uint8:
        return f"pixel type {prediction.dtype}, expected 8-bit"
    counts = np.bincount(prediction.ravel(), minlength=256)
    counts[list(allowed)] = 0
    bad = np.flatnonzero(counts)
    if bad.size:
        shown = ", ".join(str(v) for v in bad[:5]) + (", ..." if bad.size > 5 else "")
        return f"values outside {{{', '.join(map(str, allowed))}}}: {shown}"
    return None


def _allowed_values(kind: str) -> tuple[int, ...]:
    if kind == "zones":
        return ZONE_VALUES
    if kind == "front":
        return FRONT_VALUES
    raise ValueError(f"kind must be 'zones' or 'front', not {kind!r}")


# --------------------------------------------------------------------------
# Zone metrics
# --------------------------------------------------------------------------


def zone_confusion(prediction: np.ndarray, label: np.ndarray, chunk: int = 1 << 22) -> np.ndarray:
    """4x4 confusion counts [label class, predicted class], classes NA, rock, glacier, ocean.

    Counted in chunks so that peak memory stays a few MB above the images.
    Both arrays must hold only zone values (see :func:`validate_prediction`).
    """
    if prediction.shape != label.shape:
        raise ValueError(f"shapes differ: {prediction.shape} vs {label.shape}")
    p = _ZONE_INDEX[prediction.ravel()]
    t = _ZONE_INDEX[label.ravel()]
    if (p == 255).any() or (t == 255).any():
        raise ValueError("zone masks must hold only the values 0, 64, 127, 254")
    counts = np.zeros(16, dtype=np.int64)
    for start in range(0, p.size, chunk):
        code = t[start : start + chunk] * np.uint8(4) + p[start : start + chunk]
        counts += np.bincount(code, minlength=16)
    return counts.reshape(4, 4)


def zone_metrics(prediction: np.ndarray, label: np.ndarray) -> dict:
    """Per-class precision, recall, F1, IoU of one image, their mean, and the raw counts.

    Follows validate_or_test.py: calculate_segmentation_metrics /
    multi_class_metric (scikit-learn ``average=None`` on the raw prediction,
    before any post-processing), with these definitions made explicit:

    - a class absent from both prediction and label has no value (None) and
      is left out of the mean (the official code would fail to unpack three
      values there; its means over images skip NaN, print_zone_metrics);
    - 0/0 for a class present on one side only is 0.0, scikit-learn's
      ``zero_division`` default;
    - F1 = 2 tp / (2 tp + fp + fn), IoU = tp / (tp + fp + fn);
    - "mean" is the unweighted mean over the classes that have a value.

    Returns ``{"precision"|"recall"|"f1"|"iou": {"NA", "rock", "glacier",
    "ocean", "mean"}, "tp"|"fp"|"fn": {class: int}, "confusion": 4x4 array}``;
    the counts let pooled figures be computed later.
    """
    confusion = zone_confusion(prediction, label)
    tp = np.diag(confusion)
    fp = confusion.sum(axis=0) - tp
    fn = confusion.sum(axis=1) - tp
    out: dict = {name: {} for name in METRICS}
    for i, cls in enumerate(ZONE_NAMES):
        values = _class_metrics(int(tp[i]), int(fp[i]), int(fn[i]))
        for name in METRICS:
            out[name][cls] = values[name]
    for name in METRICS:
        present = [v for v in out[name].values() if v is not None]
        out[name]["mean"] = sum(present) / len(present) if present else None
    for key, arr in (("tp", tp), ("fp", fp), ("fn", fn)):
        out[key] = {cls: int(arr[i]) for i, cls in enumerate(ZONE_NAMES)}
    out["confusion"] = confusion
    return out


def _class_metrics(tp: int, fp: int, fn: int) -> dict:
    if tp + fp + fn == 0:
        return dict.fromkeys(METRICS)
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn),
        "iou": tp / (tp + fp + fn),
    }


def mean_zone_metrics(per_image: Iterable[Mapping]) -> dict:
    """Mean over images of each class's metric, skipping images where it has no value.

    validate_or_test.py: print_zone_metrics (means over images, NaN left out).
    Input: :func:`zone_metrics` results. A class with no value anywhere is None.
    """
    sums: dict = {m: {} for m in METRICS}
    for metrics in per_image:
        for m in METRICS:
            for cls, v in metrics[m].items():
                if v is not None and not (isinstance(v, float) and math.isnan(v)):
                    s, n = sums[m].get(cls, (0.0, 0))
                    sums[m][cls] = (s + v, n + 1)
    keys = [*ZONE_NAMES, "mean"]
    return {
        m: {k: (sums[m][k][0] / sums[m][k][1] if k in sums[m] else None) for k in keys}
        for m in METRICS
    }


# --------------------------------------------------------------------------
# Post-processing: prediction -> front
# --------------------------------------------------------------------------


def front_length_threshold(resolution: float) -> float:
    """Front pieces of at most this many pixels are removed: 750 m / resolution.

    validate_or_test.py: post_processing (``pixel_threshold = meter_threshold /
    resolution``, a float; pieces with ``size <= threshold`` go).
    """
    return FRONT_LENGTH_THRESHOLD_M / resolution


def _label8(mask: np.ndarray, compact: bool = False) -> tuple[np.ndarray, int]:
    """8-connected labels numbered in raster order of each component's first pixel.

    Same numbering as skimage.measure.label(connectivity=2), which the
    official code uses; that order decides ties of the largest component.
    ``compact``: 16-bit labels where they suffice (SciPy refuses otherwise),
    half the memory of 32-bit ones, for whole-image labels that are only
    compared and counted (the largest arrays of an evaluation).
    """
    if compact:
        try:
            return ndi.label(mask, structure=_EIGHT, output=np.uint16)
        except RuntimeError:  # "insufficient bit-depth": over 65,535 components
            pass
    return ndi.label(mask, structure=_EIGHT, output=np.int32)


def _largest(labels: np.ndarray, n: int) -> int:
    """Label of the largest component; ties go to the lowest label, as np.argmax
    over cluster sizes in data_postprocessing.py: postprocess_zone_segmenation."""
    # In chunks: bincount copies the labels to int64, 2-4 times their
    # memory at once (the largest part of an evaluation job's peak).
    flat, sizes = labels.ravel(), np.zeros(n + 1, dtype=np.int64)
    for start in range(0, flat.size, 1 << 22):
        sizes += np.bincount(flat[start : start + (1 << 22)], minlength=n + 1)
    sizes[0] = 0
    return int(np.argmax(sizes))


def remove_short_fronts(front: np.ndarray, threshold: float) -> np.ndarray:
    """Drop 8-connected pieces of at most ``threshold`` pixels.

    data_postprocessing.py: extract_front_from_zones / postprocess_front_segmenation
    (``cluster_size <= front_length_threshold`` -> 0).
    """
    out = np.zeros(front.shape, dtype=bool)
    if not front.any():
        return out
    # A front is a thin line: labelling its bounding box only is the same
    # and ~15x less work than the whole image.
    window = _crop_window(front, pad=0)
    labels, n = _label8(front[window], compact=True)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    keep = sizes > threshold
    keep[0] = False
    out[window] = keep[labels]
    return out


def postprocess_zones(zones: np.ndarray) -> np.ndarray:
    """One ocean: data_postprocessing.py: postprocess_zone_segmenation, on a copy.

    (1) Non-ocean means NA, rock and glacier together (the official code
    labels ``mask != 254``); of its 8-connected components all but the largest
    become ocean (islands, icebergs). (2) Of the 8-connected ocean components
    the largest stays ocean; every other ocean pixel becomes glacier (lakes,
    holes). Ties of "largest": the component met first in raster order.
    """
    out = zones.copy()
    labels, n = _label8(out != OCEAN, compact=True)
    if n > 1:
        out[_others(labels, n)] = OCEAN
    del labels  # not two label images at once
    labels, n = _label8(out == OCEAN, compact=True)
    if n == 0:
        return out
    out[_others(labels, n)] = GLACIER
    return out


def _others(labels: np.ndarray, n: int) -> np.ndarray:
    """Pixels of every component but the largest (one mask, built in place)."""
    mask = labels != 0
    mask &= labels != _largest(labels, n)
    return mask


def front_from_zones(zones: np.ndarray, threshold: float) -> np.ndarray:
    """Zone prediction -> front mask (bool), as the official zone pipeline.

    validate_or_test.py: post_processing calls postprocess_zone_segmenation,
    then extract_front_from_zones: the front is every ocean pixel with a
    4-neighbour glacier pixel (the image is padded with 0 = NA, so the
    outside is never glacier); then pieces of at most ``threshold`` pixels go.
    """
    z = postprocess_zones(zones)
    glacier = np.pad(z == GLACIER, 1)
    touches = glacier[:-2, 1:-1] | glacier[2:, 1:-1] | glacier[1:-1, :-2] | glacier[1:-1, 2:]
    return remove_short_fronts((z == OCEAN) & touches, threshold)


def front_from_front_prediction(prediction: np.ndarray, threshold: float) -> np.ndarray:
    """Front prediction (0/255) -> front mask (bool), as the official front pipeline.

    data_postprocessing.py: postprocess_front_segmenation. A single-valued
    image is returned as it is (all 0: no front; all 255: every pixel is
    front, not thresholded). Otherwise skeletonize, keep each skeleton's
    longest path (FilFinder2D, see :func:`longest_paths`), and drop pieces of
    at most ``threshold`` pixels.
    """
    foreground = prediction != 0
    if foreground.all() or not foreground.any():
        return foreground
    window = _crop_window(foreground, pad=2)
    skeleton = np.zeros_like(foreground)
    skeleton[window] = longest_paths(skeletonize(foreground[window]))
    return remove_short_fronts(skeleton, threshold)


def _crop_window(mask: np.ndarray, pad: int) -> tuple[slice, slice]:
    """Bounding box of the True pixels widened by ``pad`` (clipped to the image).

    Skeletonize, the medial axis and the labelling only look at 3x3
    neighbourhoods with the outside as background, so working in this window
    gives the same result as the whole image, faster.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return (
        slice(max(rows[0] - pad, 0), min(rows[-1] + pad + 1, mask.shape[0])),
        slice(max(cols[0] - pad, 0), min(cols[-1] + pad + 1, mask.shape[1])),
    )


# --------------------------------------------------------------------------
# FilFinder2D's longest path, ported
# --------------------------------------------------------------------------

# Neighbour ring used by fil_finder's pixel classification
# (pixel_ident.py: find_filpix), as (row, column) offsets.
_RING = ((-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0))
_SIDES = ((0, 6, 7), (0, 1, 2), (2, 3, 4), (4, 5, 6))  # pixel_ident.py: is_tpoint
_BLOCKS = ((0, 1, 7), (1, 2, 3), (3, 4, 5), (5, 6, 7))  # pixel_ident.py: is_blockpoint


def _ring_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per 8-bit neighbourhood code: runs (0->1 transitions), count, T and block flags."""
    codes = np.arange(256)
    bits = (codes[:, None] >> np.arange(8)) & 1
    runs = ((bits == 1) & (np.roll(bits, 1, axis=1) == 0)).sum(axis=1)
    count = bits.sum(axis=1)
    tee = np.zeros(256, bool)
    block = np.zeros(256, bool)
    for side in _SIDES:
        tee |= bits[:, side].all(axis=1)
    for corner in _BLOCKS:
        block |= bits[:, corner].all(axis=1)
    tee &= count >= 3
    block &= count >= 3
    return runs, count, tee, block


_RUNS, _COUNT, _TEE, _BLOCK = _ring_tables()


def _ring_code(skel: np.ndarray) -> np.ndarray:
    """8-bit code of each pixel's neighbours in _RING order (outside = 0)."""
    p = np.pad(skel, 1).astype(np.uint8)
    h, w = skel.shape
    code = np.zeros(skel.shape, dtype=np.uint8)
    for bit, (dr, dc) in enumerate(_RING):
        code |= p[1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w] << bit
    return code


def _clean_extraneous(skel: np.ndarray, max_iter: int = 10) -> np.ndarray:
    """Remove isolated pixels and tips whose neighbours form one run of >= 2.

    pixel_ident.py: find_extran, run by make_final_skeletons in every round of
    Filament2D.skeleton_analysis (up to max_prune_iter = 10 rounds, until the
    graph stops changing; here: until the skeleton stops changing). Such a
    pixel never joins two parts, so removing it keeps the connectivity.
    """
    skel = skel.copy()
    for _ in range(max_iter):
        code = _ring_code(skel)
        runs, count = _RUNS[code], _COUNT[code]
        extra = skel & ((runs == 0) | ((runs == 1) & (count >= 2)))
        if not extra.any():
            break
        skel &= ~extra
    return skel


def longest_paths(skeleton: np.ndarray, min_pixels: int = 5) -> np.ndarray:
    """The longest path of every 8-connected skeleton piece, as FilFinder2D gives it.

    The official call (data_postprocessing.py: postprocess_front_segmenation)::

        fil = FilFinder2D(skeleton, distance=None, mask=skeleton)
        fil.preprocess_image(skip_flatten=True)
        fil.create_mask(use_existing_mask=True)
        fil.medskel(verbose=False)
        fil.analyze_skeletons(skel_thresh=5 * u.pix)
        fil.skeleton_longpath

    With no beam width, branch_thresh is 0 pixels, so no branch is ever pruned
    (length_thresh 0 never fails): what remains is, per filament (8-connected
    piece), its longest path; ``skeleton_longpath`` is the union of those over
    all filaments. Ported here (fil_finder 1.7, the version pinned by the
    official requirements.txt):

    1. medskel: skimage's ``medial_axis`` of the skeleton (it drops a few
       redundant pixels at junctions);
    2. filaments of at most ``min_pixels`` pixels go (skel_thresh = 5 pix;
       fil_finder 1.8 caps it at 1 pixel; after the 750 m cut it never matters);
    3. tips cleaned as pixel_ident.py: find_extran (:func:`_clean_extraneous`);
    4. pixels classified by their neighbour ring (pixel_ident.py: find_filpix):
       end (<= 1 run), junction (>= 3 runs, or 2 runs as a block point, or a
       T point with >= 5 neighbours, or a corner point next to exactly one
       junction pixel), else body; junction pixels grouped 8-connected;
    5. branches = 8-connected pieces without the junction pixels (touching
       end pixels each on their own, pixel_ident.py: pix_identify), length =
       4-steps 1, diagonal steps sqrt(2) (one pixel: 0.5, length.py:
       init_lengths); graph nodes = ends (one per end branch) and junctions;
       edge weight 0.5 * length / total length + 0.5 / number of branches
       (length.py: pre_graph.path_weighting, every branch's intensity being 1
       on the boolean skeleton); of parallel branches between two junctions
       the lightest is the edge, the others are loops left out;
    6. the two nodes farthest apart by shortest-path weight and the shortest
       path between them (length.py: longest_path; identical to fil_finder's
       path choice on trees; with cycles fil_finder enumerates simple paths);
    7. the path's branches plus its junction pixels, then each junction pixel
       whose removal keeps the path in one piece is removed (length.py:
       main_length). A filament of a single node keeps its branch pixels.

    A filament that is a closed ring (no end, no junction) makes fil_finder
    raise an error (length.py: longest_path finds no path); it is kept
    whole here.
    """
    skel = skeleton.astype(bool)
    if not skel.any():
        return skel
    window = _crop_window(skel, pad=2)
    sub = medial_axis(skel[window], rng=0)
    labels, n = _label8(sub)
    if n:
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        sub &= (sizes > min_pixels)[labels]
    sub = _clean_extraneous(sub)
    out = np.zeros_like(skel)
    out[window] = _longest_paths_thin(sub)
    return out


def _classify(skel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """End and junction masks following pixel_ident.py: find_filpix (final=False)."""
    code = _ring_code(skel)
    runs, count = _RUNS[code], _COUNT[code]
    ends = skel & (runs <= 1)
    two = skel & (runs == 2) & (count >= 3)
    tee = two & _TEE[code]
    junction = skel & (runs >= 3)
    junction |= tee & (count >= 5)
    junction |= two & ~_TEE[code] & _BLOCK[code]
    corner = two & ~_TEE[code] & ~_BLOCK[code]
    if corner.any():
        # A corner point joins the junction if exactly one junction pixel is
        # next to it, unless exactly one end pixel is diagonal to it.
        j = np.pad(junction, 1).astype(np.uint8)
        e = np.pad(ends, 1).astype(np.uint8)
        h, w = skel.shape
        near_j = sum(j[1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w] for dr, dc in _RING)
        diag_e = sum(e[1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w] for dr, dc in _RING[::2])
        junction |= corner & (near_j == 1) & (diag_e != 1)
    return ends, junction


def _longest_paths_thin(skel: np.ndarray) -> np.ndarray:
    """Steps 4-7 of :func:`longest_paths` on a cleaned medial-axis skeleton."""
    out = np.zeros_like(skel)
    if not skel.any():
        return out
    ends, junction = _classify(skel)
    body = skel & ~junction
    # Touching end pixels become one-pixel branches of their own (pix_identify).
    end_labels, n_end = _label8(ends)
    end_sizes = np.bincount(end_labels.ravel(), minlength=n_end + 1)
    end_sizes[0] = 0
    lone_ends = (end_sizes > 1)[end_labels]
    branches, n_br = _label8(body & ~lone_ends)
    for r, c in np.argwhere(lone_ends):
        n_br += 1
        branches[r, c] = n_br
    juncs, n_j = _label8(junction)
    filaments, n_fil = _label8(skel)

    lengths = _branch_lengths(branches, n_br)
    br_index = np.flatnonzero(branches.ravel())
    br_fil = np.zeros(n_br + 1, dtype=np.int64)
    br_fil[branches.ravel()[br_index]] = filaments.ravel()[br_index]
    has_end = np.zeros(n_br + 1, bool)
    has_end[branches[ends & (branches > 0)]] = True
    touch = _junction_branch_pairs(juncs, branches)  # (junction, branch) pairs
    j_fil = np.zeros(n_j + 1, dtype=np.int64)
    j_fil[juncs[junction]] = filaments[junction]

    # Filaments without a junction (a line, or a ring) are their own path.
    lone = np.ones(n_fil + 1, dtype=bool)
    lone[j_fil] = False
    lone[0] = False
    out |= lone[filaments]
    for f, window in enumerate(ndi.find_objects(filaments), start=1):
        if lone[f]:
            continue
        fb = np.flatnonzero(br_fil == f)
        fj = np.flatnonzero(j_fil == f)
        keep = _trace_filament(branches[window], juncs[window], fb, fj, lengths, has_end, touch)
        out[window] |= keep
    return out


def _branch_lengths(branches: np.ndarray, n: int) -> np.ndarray:
    """Length of each branch: its pixel chain, 4-steps 1 and diagonal steps sqrt(2).

    Taken as the minimum spanning tree of the branch's 8-neighbour pixel graph,
    which prefers two 4-steps around a staircase corner as fil_finder's
    length.py: skeleton_length does; a single pixel counts 0.5 (init_lengths).
    """
    h, w = branches.shape
    flat = branches.ravel()
    idx = np.flatnonzero(flat)
    pos = np.full(flat.size, -1, dtype=np.int64)
    pos[idx] = np.arange(idx.size)
    rows, cols = np.divmod(idx, w)
    src, dst, wgt = [], [], []
    for dr, dc, d in ((0, 1, 1.0), (1, -1, math.sqrt(2)), (1, 0, 1.0), (1, 1, math.sqrt(2))):
        r2, c2 = rows + dr, cols + dc
        ok = (r2 < h) & (c2 >= 0) & (c2 < w)
        a = idx[ok]
        b = r2[ok] * w + c2[ok]
        same = flat[b] == flat[a]
        src.append(pos[a[same]])
        dst.append(pos[b[same]])
        wgt.append(np.full(int(same.sum()), d))
    src, dst, wgt = np.concatenate(src), np.concatenate(dst), np.concatenate(wgt)
    lengths = np.zeros(n + 1)
    if src.size:
        tree = minimum_spanning_tree(
            coo_matrix((wgt, (src, dst)), shape=(idx.size, idx.size))
        ).tocoo()
        np.add.at(lengths, flat[idx[tree.row]], tree.data)
    pixel_counts = np.bincount(flat, minlength=n + 1)
    lengths[pixel_counts == 1] = 0.5
    return lengths


def _junction_branch_pairs(juncs: np.ndarray, branches: np.ndarray) -> set[tuple[int, int]]:
    """(junction label, branch label) for every junction 8-adjacent to a branch."""
    pairs: set[tuple[int, int]] = set()
    jp = np.pad(juncs, 1)
    bp = np.pad(branches, 1)
    h, w = juncs.shape
    for dr, dc in _RING:
        nb = bp[1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w]
        hit = (jp[1:-1, 1:-1] > 0) & (nb > 0)
        pairs.update(zip(juncs[hit].tolist(), nb[hit].tolist()))
    return pairs


def _trace_filament(branches, juncs, fb, fj, lengths, has_end, touch) -> np.ndarray:
    """One filament's longest path (steps 5-7) within its bounding box."""
    total = lengths[fb].sum()
    weight = {int(b): 0.5 * lengths[b] / total + 0.5 / fb.size for b in fb}
    # Nodes: end branches first (raster order of their labels), then junctions.
    end_nodes = [int(b) for b in fb if has_end[b]]
    nodes = [("b", b) for b in end_nodes] + [("j", int(j)) for j in fj]
    index = {node: i for i, node in enumerate(nodes)}
    fj_set = {int(j) for j in fj}
    by_branch: dict[int, list[int]] = {}
    for j, b in touch:
        if j in fj_set:
            by_branch.setdefault(b, []).append(j)
    edges: dict[tuple[int, int], tuple[float, int]] = {}

    def add(a, b, wt, br):
        key = (min(a, b), max(a, b))
        if key not in edges or wt < edges[key][0]:
            edges[key] = (wt, br)

    for b, js in by_branch.items():
        js = sorted(set(js))
        if has_end[b]:
            for j in js:
                add(index[("j", j)], index[("b", b)], weight[b], b)
        for i, j1 in enumerate(js):
            for j2 in js[i + 1 :]:
                add(index[("j", j1)], index[("j", j2)], weight[b], b)
    if not edges:  # one node: its branch pixels (main_length, len(path) == 1)
        return np.isin(branches, fb)
    keys = list(edges)
    a = np.array([k[0] for k in keys])
    b = np.array([k[1] for k in keys])
    wts = np.array([edges[k][0] for k in keys])
    graph = coo_matrix((wts, (a, b)), shape=(len(nodes), len(nodes))).tocsr()
    dist, pred = dijkstra(graph, directed=False, return_predecessors=True)
    dist[~np.isfinite(dist)] = -1.0
    start, finish = np.unravel_index(np.argmax(dist), dist.shape)
    path = [int(finish)]
    while path[-1] != start:
        path.append(int(pred[start, path[-1]]))
    if len(edges) >= len(nodes):  # a cycle: fil_finder takes the heaviest simple path
        path = _heaviest_simple_path(edges, int(start), int(finish), path)
    keep = np.zeros(branches.shape, dtype=bool)
    path_branches = [edges[(min(u, v), max(u, v))][1] for u, v in itertools.pairwise(path)]
    keep |= np.isin(branches, path_branches)
    inter = [nodes[i][1] for i in path if nodes[i][0] == "j"]
    junction_pixels = [tuple(p) for j in inter for p in np.argwhere(juncs == j)]
    for r, c in junction_pixels:
        keep[r, c] = True
    _drop_redundant(keep, junction_pixels)
    return keep


def _heaviest_simple_path(
    edges: dict, start: int, finish: int, fallback: list[int], budget: int = 100_000
):
    """The simple path from ``start`` to ``finish`` of the largest total weight.

    length.py: longest_path takes the last of networkx's
    ``shortest_simple_paths(G, start, finish, 'weight')`` (fil_finder 1.7),
    i.e. the heaviest simple path. Found by depth-first search over the
    filament's small node graph; after ``budget`` steps the best path found
    so far is used (``fallback``, the shortest path, if none).
    """
    adjacency: dict[int, list[tuple[int, float]]] = {}
    for (a, b), (wt, _) in edges.items():
        adjacency.setdefault(a, []).append((b, wt))
        adjacency.setdefault(b, []).append((a, wt))
    best, best_weight = fallback, -1.0
    stack = [(start, 0.0, [start])]
    steps = 0
    while stack and steps < budget:
        node, weight, path = stack.pop()
        steps += 1
        if node == finish:
            if weight > best_weight:
                best, best_weight = path, weight
            continue
        for nxt, wt in adjacency.get(node, ()):
            if nxt not in path:
                stack.append((nxt, weight + wt, path + [nxt]))
    return best


def _drop_redundant(path: np.ndarray, candidates: list[tuple[int, int]]) -> None:
    """Remove candidate pixels that the path does not need to stay in one piece.

    length.py: main_length (repeated passes in the given order until nothing
    changes; a pixel stays if removing it splits the path).
    """
    if not candidates:
        return
    window = _crop_window(path, pad=1)
    sub = path[window]
    r0, c0 = window[0].start, window[1].start
    changed = True
    while changed:
        changed = False
        for r, c in candidates:
            rr, cc = r - r0, c - c0
            if not sub[rr, cc]:
                continue
            sub[rr, cc] = False
            if _label8(sub)[1] > 1:
                sub[rr, cc] = True
            else:
                changed = True
    path[window] = sub


# --------------------------------------------------------------------------
# Bounding box
# --------------------------------------------------------------------------


def read_box_corners(text: str) -> list[tuple[int, int]]:
    """The four corners of ``<stem>_front_extent_coord.txt``, rounded.

    validate_or_test.py: mask_prediction_with_bounding_box: line 0 is a header,
    lines 1-4 are left upper, left lower, right lower, right upper as "x,y"
    floats, each rounded with Python's ``round`` (halves to even).
    """
    lines = text.splitlines()
    if len(lines) < 5:
        raise ValueError("expected a header line and four 'x,y' corner lines")
    corners = []
    for line in lines[1:5]:
        parts = line.split(",")
        if len(parts) != 2:
            raise ValueError(f"corner line is not 'x,y': {line!r}")
        corners.append((round(float(parts[0])), round(float(parts[1]))))
    return corners


def box_keep_ranges(
    corners: list[tuple[int, int]], shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the rows and the columns whose predicted pixels are kept.

    validate_or_test.py: mask_prediction_with_bounding_box, exactly: rows
    [right-lower y, left-upper y) and columns [left-upper x, right-lower x)
    are kept (the "upper" corners have the larger y). Its clipping is kept
    too: left-upper x and right-lower y below 0 become 0; right-lower x above
    the width becomes width - 1 and left-upper y above the height becomes
    height - 1, so the last column or row is then cut (a value equal to the
    size keeps it). The other two corners are read but never used.
    """
    height, width = shape
    (lux, luy), _, (rlx, rly), _ = corners
    lux = max(lux, 0)
    rly = max(rly, 0)
    if rlx > width:
        rlx = width - 1
    if luy > height:
        luy = height - 1
    rows = np.ones(height, dtype=bool)
    cols = np.ones(width, dtype=bool)
    # Python slice semantics on purpose: the official code zeroes these slices.
    rows[:rly] = False
    rows[luy:] = False
    cols[:lux] = False
    cols[rlx:] = False
    return rows, cols


def cut_to_box(front: np.ndarray, corners: list[tuple[int, int]]) -> np.ndarray:
    """The predicted front with the pixels outside the box removed (a copy).

    Only the prediction is cut; the label front is used whole
    (validate_or_test.py: post_processing cuts the prediction only).
    """
    rows, cols = box_keep_ranges(corners, front.shape)
    return front.astype(bool) & rows[:, None] & cols[None, :]


# --------------------------------------------------------------------------
# Distances and the mean distance error
# --------------------------------------------------------------------------


def _pixel_coordinates(mask: np.ndarray) -> np.ndarray:
    """(row, column) of the True pixels, in raster order: np.argwhere, without
    its 2-D nonzero, which takes ~40x longer on a sparse full-size mask."""
    flat = np.flatnonzero(mask)
    return np.column_stack(np.divmod(flat, mask.shape[1]))


def front_distances(
    pred_front: np.ndarray, label_front: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Nearest distances in pixels: each predicted pixel to the label, and
    each label pixel to the prediction.

    validate_or_test.py: front_error, with a KD-tree instead of the all-pairs
    ``cdist`` (same values: exact Euclidean nearest distances). None when
    either mask has no front pixel (the image is then left out).
    """
    pred, label = _pixel_coordinates(pred_front), _pixel_coordinates(label_front)
    if len(pred) == 0 or len(label) == 0:
        return None
    to_label = cKDTree(label).query(pred, k=1)[0]
    to_pred = cKDTree(pred).query(label, k=1)[0]
    return to_label, to_pred


def front_error(pred_front: np.ndarray, label_front: np.ndarray, resolution: float) -> dict:
    """Per-image distance figures in metres, what the pooled MDE needs.

    Returns ``{"distance_sum_m", "distance_count", "mde_m", "pred_pixels",
    "label_pixels", "has_front"}``; without a front pixel on either side
    ``has_front`` is False, the sum and count are 0 and ``mde_m`` is None
    (validate_or_test.py: calculate_front_delineation_metric counts such an
    image as "no predicted front" and leaves it out of the mean).
    """
    record = {
        "pred_pixels": int(np.count_nonzero(pred_front)),
        "label_pixels": int(np.count_nonzero(label_front)),
    }
    distances = front_distances(pred_front, label_front)
    if distances is None:
        return {
            **record,
            "has_front": False,
            "distance_sum_m": 0.0,
            "distance_count": 0,
            "mde_m": None,
        }
    total = float(distances[0].sum() + distances[1].sum()) * resolution
    count = int(distances[0].size + distances[1].size)
    return {
        **record,
        "has_front": True,
        "distance_sum_m": total,
        "distance_count": count,
        "mde_m": total / count,
    }


def postprocessed_front(
    prediction: np.ndarray, kind: str, resolution: float, corners: list[tuple[int, int]]
) -> np.ndarray:
    """The predicted front that is scored: post-processing, then the box cut.

    validate_or_test.py: post_processing (zones: postprocess_zone_segmenation +
    extract_front_from_zones; fronts: postprocess_front_segmenation; then
    mask_prediction_with_bounding_box).
    """
    threshold = front_length_threshold(resolution)
    if kind == "zones":
        front = front_from_zones(prediction, threshold)
    elif kind == "front":
        front = front_from_front_prediction(prediction, threshold)
    else:
        raise ValueError(f"kind must be 'zones' or 'front', not {kind!r}")
    return cut_to_box(front, corners)


def evaluate_image(
    prediction: np.ndarray,
    kind: str,
    label_front: np.ndarray,
    corners: list[tuple[int, int]],
    resolution: float,
    label_zones: np.ndarray | None = None,
) -> dict:
    """Everything the protocol computes for one image, as one record.

    ``{"valid", "reason", "front" (bool mask that was scored, or None),
    distance fields of :func:`front_error`, "zones" (:func:`zone_metrics`,
    zone models with ``label_zones`` only)}``. An invalid prediction
    (:func:`validate_prediction`) has ``valid`` False and a one-line reason.
    """
    reason = validate_prediction(prediction, label_front.shape, kind)
    if reason is not None:
        return {"valid": False, "reason": reason, "front": None, "zones": None}
    zones = (
        zone_metrics(prediction, label_zones)
        if kind == "zones" and label_zones is not None
        else None
    )
    front = postprocessed_front(prediction, kind, resolution, corners)
    return {
        "valid": True,
        "reason": None,
        "front": front,
        "zones": zones,
        **front_error(front, label_front, resolution),
    }


# --------------------------------------------------------------------------
# Pooling and breakdowns
# --------------------------------------------------------------------------


def season(glacier: str, month: int) -> str:
    """ "winter" or "summer" of the glacier's hemisphere.

    validate_or_test.py: check_whether_winter_half_year: COL and JAC are
    northern, winter = months 1-3 and 9-12; every other glacier, an unknown
    one too, is southern with the halves swapped.
    """
    hemisphere = GLACIERS.get(glacier, (None, "south"))[1]
    return season_of(hemisphere, month)


def sensor_group(satellite: str) -> str:
    """TSX and TDX count as one sensor, "TSX/TDX"
    (validate_or_test.py: front_delineation_metric)."""
    return "TSX/TDX" if satellite in ("TSX", "TDX") else satellite


def image_keys(stem: str) -> dict:
    """Breakdown keys of an image from its name
    ``<glacier>_<date>_<satellite>_<resolution>_...``."""
    name = parse_stem(stem)
    if name.problems:
        raise ValueError(f"not a CaFFe image name: {stem!r} ({'; '.join(name.problems)})")
    return {
        "glacier": name.glacier,
        "season": season(name.glacier, name.date_taken.month),
        "sensor": sensor_group(name.satellite),
        "resolution": name.spatial_resolution,
    }


def _rows(records) -> list[Mapping]:
    """Accept a list of mappings or a pandas DataFrame (without importing pandas)."""
    if hasattr(records, "to_dict") and hasattr(records, "columns"):
        return records.to_dict("records")
    return list(records)


def pooled_mde(records) -> float | None:
    """Sum of all distances / number of all distances (metres), or None.

    The official MDE is the mean of every image's distances concatenated
    (validate_or_test.py: calculate_front_delineation_metric), not a mean of
    per-image means. Records need "distance_sum_m" and "distance_count".
    """
    total = count = 0
    for row in _rows(records):
        n = row["distance_count"]
        if n:
            total += row["distance_sum_m"]
            count += n
    return total / count if count else None


def mde_by(records, *keys: str) -> dict:
    """Pooled MDE per value of ``keys``: ``{key: {"mde_m", "images", "images_without_front"}}``.

    One key gives e.g. ``{"COL": ...}``; several give tuple keys, e.g.
    ``mde_by(records, "glacier", "season")`` -> ``{("COL", "winter"): ...}``.
    "images" counts every valid image of the group (the official "Number of
    images"), "images_without_front" those left out of its mean. Groups are
    sorted by key.
    """
    if not keys:
        raise ValueError("give at least one key column")
    groups: dict = {}
    for row in _rows(records):
        key = row[keys[0]] if len(keys) == 1 else tuple(row[k] for k in keys)
        groups.setdefault(key, []).append(row)
    out = {}
    for key in sorted(groups, key=lambda k: tuple(map(str, k)) if isinstance(k, tuple) else str(k)):
        rows = groups[key]
        without = sum(1 for r in rows if not r["distance_count"])
        out[key] = {"mde_m": pooled_mde(rows), "images": len(rows), "images_without_front": without}
    return out


BREAKDOWNS = ("glacier", "season", "sensor", "resolution")


def summarize(records) -> dict:
    """Model-level figures from per-image records (valid images only).

    Records carry the :func:`image_keys` columns and the :func:`front_error`
    fields, and optionally "zones" (:func:`zone_metrics`). Returns
    ``mde_m``, ``images_evaluated``, ``images_without_front``, ``by_<key>``
    for each of glacier, season, sensor, resolution, ``by_glacier_<key>`` for
    glacier x each other key (keys "COL/winter"), and ``zones`` when present.
    """
    rows = _rows(records)
    summary = {
        "mde_m": pooled_mde(rows),
        "images_evaluated": len(rows),
        "images_without_front": sum(1 for r in rows if not r["distance_count"]),
    }
    for key in BREAKDOWNS:
        summary[f"by_{key}"] = {str(k): v for k, v in mde_by(rows, key).items()}
    for key in BREAKDOWNS[1:]:
        summary[f"by_glacier_{key}"] = {
            f"{g}/{k}": v for (g, k), v in mde_by(rows, "glacier", key).items()
        }
    zones = [r["zones"] for r in rows if r.get("zones")]
    if zones:
        summary["zones"] = mean_zone_metrics(zones)
    return summary
