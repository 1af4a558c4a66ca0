"""Trace a CaFFe calving-front mask into open polylines.

The front mask is 255 on a hand-drawn, mostly one-pixel-wide line. FiftyOne's
``Polyline.from_mask`` and scikit-image's ``find_contours`` both outline a
region, so a line comes back as a closed polygon out along one side and back
along the other; no library at hand walks it as an open line, so we do.

Method: a greedy covering walk over the 8-connected front pixels.

- Front pixels are found with ``bytes.find`` (fronts are ~0.04 % of the
  pixels) and kept as indices into a grid with a one-pixel zero border, so
  neighbour offsets never wrap around an image edge.
- A pixel is *covered* once it is a visited pixel or an 8-neighbour of one,
  i.e. within 1 px (Chebyshev) of the line traced so far.
- The walk steps to the unvisited neighbour that covers the most new pixels
  (ties: the straightest). Where a line is 2 px thick or drawn as a
  4-connected staircase, the pixels beside the walk are covered without
  being visited, so the walk thins the line instead of zig-zagging.
  When nothing new is in reach it may take one more step, if it turns by
  less than 90 degrees (the last pixel of a line), then stops.
- Each connected piece starts at its first pixel in scan order and is walked
  both ways from there, giving one polyline per unbranched piece.
- Branches: a covered pixel that still touches uncovered pixels starts a new
  walk from the visited pixel next to it. So a branched front becomes one
  polyline through the junction plus one polyline per further branch, each
  starting at the junction. Every front pixel ends up within 1 px of a
  traced pixel. (Where a hairpin's legs touch, the walk may cut across just
  before the tip; the tip then comes out as a tiny polyline of its own.)
- A walk that ends next to where it started (a closed loop) is closed by
  repeating its first point.
- Points are pixel centres (x = column + 0.5, y = row + 0.5), simplified
  with Douglas-Peucker to ``tolerance`` pixels. An isolated pixel gives two
  identical points.

Note for evaluation: FiftyOne's ``Polylines.to_segmentation`` rasterises at
``round(x_norm * width)``, so a centre ``c + 0.5`` lands on column c or c + 1
and the last column and row fall off the image. With the simplification on
top, the round trip (mask -> polylines -> mask) is close but not exact, and
worst on the shortest fronts (tests/unit/test_fronts.py holds the bounds):
score fronts on the masks.
"""

from itertools import repeat
from math import hypot, sqrt

Point = tuple[float, float]


def trace_fronts(
    data: bytes, width: int, height: int, value: int = 255, tolerance: float = 1.0
) -> list[list[Point]]:
    """Trace the pixels equal to ``value`` into open polylines in pixel units.

    ``data`` is the row-major 8-bit mask (``Image.tobytes()`` of an L image).
    Returns one list of ``(x, y)`` pixel-centre points per front piece or
    branch; divide by (width, height) to normalise for FiftyOne.
    """
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)  # e.g. a memoryview: we need bytes.find
    if len(data) != width * height:
        raise ValueError(f"mask has {len(data)} bytes, expected {width}x{height}")
    if not 0 <= value <= 255:
        raise ValueError(f"value {value} is not a byte")

    stride = width + 2  # padded row length
    offsets = (-stride - 1, -stride, -stride + 1, -1, 1, stride - 1, stride, stride + 1)
    units = {}  # offset -> unit direction vector
    for off in offsets:
        dy = -1 if off < -1 else (1 if off > 1 else 0)
        dx = off - dy * stride
        units[off] = (dx / hypot(dx, dy), dy / hypot(dx, dy))
    # cosine of the turn between two steps; no previous step counts as straight
    cosine = {
        (a, b): units[a][0] * units[b][0] + units[a][1] * units[b][1]
        for a in offsets
        for b in offsets
    }
    cosine.update(((None, b), 1.0) for b in offsets)

    pixels = _find_pixels(data, value, width)
    front = frozenset(pixels)
    unvisited = set(pixels)
    uncovered = set(pixels)
    side: list[tuple[int, int]] = []  # (pixel covered, not visited; its visited neighbour)
    state = (unvisited, uncovered, side, offsets, cosine)

    paths = []
    for start in pixels:  # scan order: each piece starts at its first pixel
        if start not in uncovered:
            continue
        unvisited.discard(start)
        forward, first_off = _walk(start, None, state)
        backward = [start]
        if first_off is not None:  # walk the other way, heading opposite
            backward = _walk(start, -first_off, state)[0]
        paths.append(backward[::-1] + forward[1:])
        # Branches of this piece: covered pixels that still touch uncovered ones.
        while side:
            pixel, anchor = side.pop()
            if pixel not in unvisited:
                continue
            while not uncovered.isdisjoint(map(pixel.__add__, offsets)):
                paths.append(_walk(anchor, None, state)[0])
            # (each walk covers at least one new pixel, so this ends)

    polylines = []
    for path in paths:
        if len(path) >= 4:
            _close_loop(path, front, offsets)
        points = _simplify(
            [p % stride - 1 for p in path], [p // stride - 1 for p in path], tolerance
        )
        if len(points) == 1:
            points.append(points[0])
        polylines.append([(x + 0.5, y + 0.5) for x, y in points])
    return polylines


def polyline_length(points) -> float:
    """Length of a polyline in the units of its points (pixels here)."""
    return sum(hypot(b[0] - a[0], b[1] - a[1]) for a, b in zip(points, points[1:]))


def _find_pixels(data, value, width):
    """Padded-grid indices of the pixels equal to value, in scan order."""
    needle = bytes((value,))
    find = data.find
    shift = width + 3  # padded index = i + 2 * row + width + 3
    out = []
    i = find(needle)
    while i >= 0:
        out.append(i + 2 * (i // width) + shift)
        i = find(needle, i + 1)
    return out


def _close_loop(path, front, offsets):
    """Close a walk that ended next to its start, or one pixel short of it.

    (Its start covered the pixel just before it, so a walk round a loop
    usually stops one pixel early.)
    """
    first, last = path[0], path[-1]
    if first - last in offsets:
        path.append(first)
        return
    bridge = front.intersection(map(first.__add__, offsets))
    bridge &= set(map(last.__add__, offsets))
    if bridge:
        path.append(min(bridge))
        path.append(first)


def _walk(start, heading, state):
    """Greedy covering walk from an already visited pixel.

    ``heading`` is the offset taken as the previous step (None: no
    preference). Returns (path, offset of the first step or None); the path
    keeps only the pixels where the step changes (the start, corners and the
    end), which is all the simplification needs.
    """
    unvisited, uncovered, side, offsets, cosine = state
    path = [start]
    first_off = None
    p = start
    idle = False  # the previous step covered nothing new
    while True:
        uncovered.discard(p)
        cands = unvisited.intersection(map(p.__add__, offsets))
        new = cands & uncovered  # now covered by p
        uncovered -= new
        if not cands:
            break
        if len(cands) == 1:  # the common case on a clean line
            (best,) = cands
            gain = not uncovered.isdisjoint(map(best.__add__, offsets))
        else:
            best_key = None
            for q in cands:
                key = (
                    len(uncovered.intersection(map(q.__add__, offsets))),
                    cosine[heading, q - p],  # ties: the straightest step
                )
                if best_key is None or key > best_key:
                    best, best_key = q, key
            gain = best_key[0]
        off = best - p
        if not gain and (idle or cosine[heading, off] <= 0):
            break  # only one idle step, and only straight on (or from a bare start)
        idle = not gain
        new.discard(best)
        if new:  # remember pixels beside the walk, where branches may start
            side.extend(zip(new, repeat(p)))
        if first_off is None:
            first_off = off
        if off == heading and len(path) > 1:
            path[-1] = best  # same direction: extend the straight run
        else:
            path.append(best)
        heading = off
        unvisited.discard(best)
        p = best
    if new:
        side.extend(zip(new, repeat(p)))
    return path, first_off


def _simplify(xs, ys, tolerance):
    """Douglas-Peucker on integer points; returns the kept (x, y).

    It splits on the fast distance to the infinite line, then checks every
    kept segment with the true distance to the segment (which differs only
    for points beyond a segment's end, e.g. a hairpin) and refines if needed.

    Hand-written because neither library keeps the tolerance exactly:
    cv2.approxPolyDP leaves points farther than the tolerance from its result
    and drops a closed ring's end point (tests/unit/test_fronts.py:
    test_simplify_keeps_the_tolerance_where_opencv_does_not); skimage's
    approximate_polygon breaks exact ties between integer points by rounding
    noise.
    """
    n = len(xs)
    if n < 3:
        return list(zip(xs, ys))
    kept = _douglas_peucker(xs, ys, tolerance, 0, n - 1, _worst_to_line)
    checked = [0]
    for i, j in zip(kept, kept[1:]):
        if j - i > 1 and _worst_to_segment(xs, ys, i, j)[0] > tolerance:
            checked += _douglas_peucker(xs, ys, tolerance, i, j, _worst_to_segment)[1:-1]
        checked.append(j)
    return [(xs[k], ys[k]) for k in checked]


def _douglas_peucker(xs, ys, tolerance, first, last, worst):
    """Sorted indices kept between first and last; worst(xs, ys, i, j) gives
    the largest distance of a point strictly between i and j, and its index."""
    kept = {first, last}
    stack = [(first, last)]
    while stack:
        i, j = stack.pop()
        if j - i < 2:
            continue
        dist, k = worst(xs, ys, i, j)
        if dist > tolerance:
            kept.add(k)
            stack.append((i, k))
            stack.append((k, j))
    return sorted(kept)


def _worst_to_line(xs, ys, i, j):
    ax, ay, dx, dy = xs[i], ys[i], xs[j] - xs[i], ys[j] - ys[i]
    if dx == dy == 0:
        return _worst_to_segment(xs, ys, i, j)
    # cross product (p - a) x d = (x dy - y dx) - c; its extremes give the worst
    cross = [x * dy - y * dx for x, y in zip(xs[i + 1 : j], ys[i + 1 : j])]
    c = ax * dy - ay * dx
    hi, lo = max(cross), min(cross)
    if hi - c >= c - lo:
        return (hi - c) / hypot(dx, dy), i + 1 + cross.index(hi)
    return (c - lo) / hypot(dx, dy), i + 1 + cross.index(lo)


def _worst_to_segment(xs, ys, i, j):
    ax, ay, dx, dy = xs[i], ys[i], xs[j] - xs[i], ys[j] - ys[i]
    seg2 = dx * dx + dy * dy
    pts = zip(xs[i + 1 : j], ys[i + 1 : j])
    if seg2 == 0:  # a closed loop: distance to the point
        dist2 = [(x - ax) ** 2 + (y - ay) ** 2 for x, y in pts]
    else:  # squared distance to the segment
        dist2 = [
            (ex * dy - ey * dx) ** 2 / seg2
            if 0 <= (t := (ex := x - ax) * dx + (ey := y - ay) * dy) <= seg2
            else (ex * ex + ey * ey if t < 0 else (ex - dx) ** 2 + (ey - dy) ** 2)
            for x, y in pts
        ]
    worst = max(dist2)
    return sqrt(worst), i + 1 + dist2.index(worst)
