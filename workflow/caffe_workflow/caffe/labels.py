"""CaFFe's zone and front mask values, and mask validation from Pillow histograms
(one pass in C over the decoded mask gives every value's count at once).

A zone mask is valid when it has the image's size and holds only the ZONE_CLASSES
values; a front mask when it has the image's size, holds only NO_FRONT and FRONT
and has at least one front pixel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: ingest and evaluation need just the values
    from PIL import Image

# Zone mask value -> class name (the official evaluation's names).
NA, ROCK, GLACIER, OCEAN = 0, 64, 127, 254
ZONE_CLASSES = {NA: "NA", ROCK: "rock", GLACIER: "glacier", OCEAN: "ocean"}
# Front masks: FRONT on the one-pixel-wide calving front, NO_FRONT elsewhere.
NO_FRONT, FRONT = 0, 255
FRONT_CLASSES = {FRONT: "front"}


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
    """Fraction of each zone class, or None if the mask fails.

    Keys are the class names in lower case, as in the catalog's
    ``zone_<name>_fraction`` columns.
    """
    histogram = _histogram(mask, size, "zone mask", problems)
    if histogram is None:
        return None
    foreign = _foreign_values(histogram, ZONE_CLASSES)
    if foreign:
        allowed = "/".join(map(str, ZONE_CLASSES))
        problems.append(f"zone mask holds values outside {allowed}: {foreign}")
        return None
    total = size[0] * size[1]
    return {name.lower(): histogram[value] / total for value, name in ZONE_CLASSES.items()}


def check_front(mask: Image.Image, size: tuple[int, int], problems: list[str]):
    """The number of front pixels, or None if the mask fails."""
    histogram = _histogram(mask, size, "front mask", problems)
    if histogram is None:
        return None
    foreign = _foreign_values(histogram, (NO_FRONT, FRONT))
    if foreign:
        problems.append(f"front mask holds values outside {NO_FRONT}/{FRONT}: {foreign}")
        return None
    if histogram[FRONT] == 0:
        problems.append("front mask has no front pixel")
        return None
    return histogram[FRONT]
