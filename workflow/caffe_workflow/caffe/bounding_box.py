"""CaFFe front-extent bounding boxes (``<stem>_front_extent_coord.txt``): one
parser, and the two views of the box that the workflow needs.

The file has a header ``x,y`` and four corners as float pixel coordinates
(x = column, y = row), in the order left-upper, left-lower, right-lower,
right-upper; the "upper" corners carry the larger row number.

- :func:`read_corners` / :func:`parse_corners`: the four corners as floats.
- Catalog view, :func:`read_front_extent`: the region as a normalised
  ``[x, y, w, h]`` (FiftyOne's detection box), min/max per axis over all four
  corners, clipped to the image.
- Scoring view, :func:`box_keep_ranges` and :func:`cut_to_box`: the official
  cut (validate_or_test.py: mask_prediction_with_bounding_box), which uses
  only the left-upper and right-lower corners, rounded with Python's
  ``round``, with its own clipping. It differs from the catalog view on
  purpose: the scores must be the benchmark's, pixel for pixel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

Corners = list[tuple[float, float]]

_EXPECTED = "expected a header 'x,y' and four 'x,y' corner lines"


def parse_corners(text: str) -> Corners:
    """The four (x, y) corners of a box file's text, in file order.

    Blank lines are ignored and the header is optional. Raises ValueError
    ("is empty", or "is malformed (...)") for anything else.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and lines[0].replace(" ", "").lower() == "x,y":
        lines = lines[1:]
    if not lines:
        raise ValueError("is empty")
    try:
        corners = [tuple(float(v) for v in line.split(",")) for line in lines]
    except ValueError:
        corners = []
    if len(corners) != 4 or any(len(c) != 2 for c in corners):
        raise ValueError(f"is malformed ({_EXPECTED})")
    return corners


def read_corners(path: Path | str) -> Corners:
    """The four corners of a box file; ValueError naming the file if it is
    missing, unreadable, empty or malformed."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ValueError(f"bounding box file missing: {path.name}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"bounding box file unreadable: {path.name} ({err})") from None
    try:
        return parse_corners(text)
    except ValueError as err:
        reason, _, detail = str(err).partition(" (")
        detail = f" ({detail}" if detail else ""
        raise ValueError(f"bounding box file {reason}: {path.name}{detail}") from None


# ------------------------------------------------------------- catalog view


def read_front_extent(path: Path, width: int, height: int, problems: list[str]):
    """The box as normalised [x, y, w, h] clipped to the image, or None with
    the reason appended to ``problems``."""
    try:
        corners = read_corners(path)
    except ValueError as err:
        problems.append(str(err))
        return None
    xs = [min(max(x, 0.0), width) for x, _ in corners]
    ys = [min(max(y, 0.0), height) for _, y in corners]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    if x1 <= x0 or y1 <= y0:
        problems.append(f"bounding box lies outside the image: {Path(path).name}")
        return None
    return [x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height]


# ------------------------------------------------------------- scoring view


def box_keep_ranges(corners: Corners, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the rows and the columns whose predicted pixels are kept.

    validate_or_test.py: mask_prediction_with_bounding_box, exactly: the
    left-upper and right-lower corners rounded with Python's ``round``
    (halves to even); rows [right-lower y, left-upper y) and columns
    [left-upper x, right-lower x) are kept (the "upper" corners have the
    larger y). Its clipping is kept too: left-upper x and right-lower y below
    0 become 0; right-lower x above the width becomes width - 1 and left-upper
    y above the height becomes height - 1, so the last column or row is then
    cut (a value equal to the size keeps it). The other two corners are never
    used.
    """
    height, width = shape
    (lux, luy), _, (rlx, rly), _ = ((round(x), round(y)) for x, y in corners)
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


def cut_to_box(front: np.ndarray, corners: Corners) -> np.ndarray:
    """The predicted front with the pixels outside the box removed (a copy).

    Only the prediction is cut; the label front is used whole
    (validate_or_test.py: post_processing cuts the prediction only).
    """
    rows, cols = box_keep_ranges(corners, front.shape)
    return front.astype(bool) & rows[:, None] & cols[None, :]
