"""Read CaFFe front-extent bounding boxes (`<stem>_front_extent_coord.txt`).

The file has a header `x,y` and four corners as float pixel coordinates
(x = column, y = row). The "upper" corners carry the larger row number, so we
take min/max per axis; corners may lie outside the image and are clipped.
"""

from __future__ import annotations

from pathlib import Path


def read_front_extent(path: Path, width: int, height: int, problems: list[str]):
    """The box as normalised [x, y, w, h] clipped to the image, or None."""
    try:
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        problems.append(f"bounding box file missing: {path.name}")
        return None
    except (OSError, UnicodeDecodeError) as err:
        problems.append(f"bounding box file unreadable: {path.name} ({err})")
        return None
    if lines and lines[0].replace(" ", "").lower() == "x,y":
        lines = lines[1:]
    if not lines:
        problems.append(f"bounding box file is empty: {path.name}")
        return None
    try:
        corners = [tuple(float(v) for v in line.split(",")) for line in lines]
    except ValueError:
        corners = []
    if len(corners) != 4 or any(len(c) != 2 for c in corners):
        problems.append(
            f"bounding box file is malformed: {path.name} "
            "(expected a header 'x,y' and four 'x,y' corner lines)"
        )
        return None
    xs = [min(max(x, 0.0), width) for x, _ in corners]
    ys = [min(max(y, 0.0), height) for _, y in corners]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    if x1 <= x0 or y1 <= y0:
        problems.append(f"bounding box lies outside the image: {path.name}")
        return None
    return [x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height]
