"""FilFinder2D's longest path (``fil_finder``), ported to NumPy/SciPy/scikit-image.

The official front pipeline (data_postprocessing.py: postprocess_front_segmenation)
keeps, of each skeleton piece, the longest path that ``fil_finder.FilFinder2D``
finds. ``fil_finder`` is not a workflow dependency: the version the official
code pins (1.7) builds only with setuptools < 58 and without build isolation,
and 1.8 calls ``np.in1d``, which NumPy 2.4 removed. tests/unit/test_longest_path.py checks
this port pixel for pixel against the real ``fil_finder`` 1.8 (installed with
the dev extra) and names the cases where they differ.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import ndimage as ndi
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra, minimum_spanning_tree
from skimage.morphology import medial_axis

from caffe_workflow.caffe.masks import crop_window, label8

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
       redundant pixels at junctions); its tie-break seeded (``rng=0``), where
       the official call leaves it unseeded and so varies from run to run on
       some skeletons with loops;
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
    window = crop_window(skel, pad=2)
    sub = medial_axis(skel[window], rng=0)
    labels, n = label8(sub)
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
    end_labels, n_end = label8(ends)
    end_sizes = np.bincount(end_labels.ravel(), minlength=n_end + 1)
    end_sizes[0] = 0
    lone_ends = (end_sizes > 1)[end_labels]
    branches, n_br = label8(body & ~lone_ends)
    for r, c in np.argwhere(lone_ends):
        n_br += 1
        branches[r, c] = n_br
    juncs, n_j = label8(junction)
    filaments, n_fil = label8(skel)

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
    window = crop_window(path, pad=1)
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
            if label8(sub)[1] > 1:
                sub[rr, cc] = True
            else:
                changed = True
    path[window] = sub
