"""Validate CaFFe zone and front masks from Pillow histograms (no numpy needed).

A zone mask is valid when it has the image's size and holds only 0, 64, 127, 254;
a front mask when it has the image's size, holds only 0 and 255 and has at least
one front pixel.
"""

from __future__ import annotations

from PIL import Image

ZONE_CLASSES = {0: "na", 64: "rock", 127: "glacier", 254: "ocean"}
FRONT_VALUE = 255


def _histogram(mask: Image.Image, size: tuple[int, int], what: str, problems: list[str]):
    """The 256-bin histogram of an 8-bit mask, or None with a problem recorded."""
    if mask.size != size:
        problems.append(
            f"{what} is {mask.size[0]}x{mask.size[1]}, the image is {size[0]}x{size[1]}"
        )
        return None
    if mask.mode != "L":
        problems.append(f"{what} has mode {mask.mode}, expected 8-bit grayscale (L)")
        return None
    return mask.histogram()


def _foreign_values(histogram: list[int], allowed) -> str:
    values = [v for v, n in enumerate(histogram) if n and v not in allowed]
    shown = ", ".join(str(v) for v in values[:8]) + (", ..." if len(values) > 8 else "")
    return shown


def check_zones(mask: Image.Image, size: tuple[int, int], problems: list[str]):
    """Fractions of each zone class ({name: fraction}), or None if the mask fails."""
    histogram = _histogram(mask, size, "zone mask", problems)
    if histogram is None:
        return None
    foreign = _foreign_values(histogram, ZONE_CLASSES)
    if foreign:
        problems.append(f"zone mask holds values outside 0/64/127/254: {foreign}")
        return None
    total = size[0] * size[1]
    return {name: histogram[value] / total for value, name in ZONE_CLASSES.items()}


def check_front(mask: Image.Image, size: tuple[int, int], problems: list[str]):
    """The number of front pixels, or None if the mask fails."""
    histogram = _histogram(mask, size, "front mask", problems)
    if histogram is None:
        return None
    foreign = _foreign_values(histogram, (0, FRONT_VALUE))
    if foreign:
        problems.append(f"front mask holds values outside 0/255: {foreign}")
        return None
    if histogram[FRONT_VALUE] == 0:
        problems.append("front mask has no front pixel")
        return None
    return histogram[FRONT_VALUE]
