"""A prediction file's pixels, read the way the official evaluation reads them.

validate_or_test.py reads every prediction with
``cv2.imread(path, cv2.IMREAD_GRAYSCALE)``: an RGB, RGBA or palette PNG is
its gray value (AMD-HookNet and HookFormer write RGB images whose three
channels are equal), a 16-bit PNG its high byte. The same call is used here,
so that a file scores as the official code scores it.

Encodings, per file: zones 0/64/127/254 (the labels' values) or class
indices 0-3 in the official class order (NA, rock, glacier, ocean); fronts
0/255 or 0/1. Anything else is left as read, and the evaluation reports the
values outside the set.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from caffe_workflow.caffe.labels import GLACIER, NA, OCEAN, ROCK

ZONE_VALUES = (NA, ROCK, GLACIER, OCEAN)  # the class indices 0-3, in order

_INDEX_TO_ZONE = np.zeros(256, dtype=np.uint8)
_INDEX_TO_ZONE[: len(ZONE_VALUES)] = ZONE_VALUES


def read_gray(path: str | Path) -> np.ndarray:
    """The file as cv2.imread(path, cv2.IMREAD_GRAYSCALE) reads it; ValueError
    (one line) when it is missing or cannot be decoded."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"prediction missing: {path.name}")
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError(f"prediction cannot be decoded as an image: {path.name}")
    return image


def _values(image: np.ndarray) -> set[int]:
    return {int(v) for v in np.flatnonzero(np.bincount(image.ravel(), minlength=256))}


def normalize(image: np.ndarray, kind: str) -> np.ndarray:
    """Class indices (zones 0-3, fronts 0/1) as the label values; the rest as it is."""
    values = _values(image)
    if kind == "zones" and values <= {0, 1, 2, 3} and values - {0}:
        return _INDEX_TO_ZONE[image]
    if kind == "front" and values == {0, 1}:
        return image * np.uint8(255)
    return image


# PNG modes (Pillow's names) -> how the file stores its pixels.
_MODES = {
    "L": "gray",
    "P": "palette",
    "RGB": "RGB",
    "RGBA": "RGBA",
    "LA": "gray+alpha",
    "I;16": "16-bit gray",
    "I": "16-bit gray",
    "1": "1-bit",
}


def read_prediction(path: str | Path, kind: str) -> tuple[np.ndarray, str]:
    """The prediction's pixels in the labels' values, as far as its encoding
    allows, and the encoding: "gray" for an 8-bit gray file in the labels'
    values (usable as it is, e.g. as a FiftyOne mask), else what was read
    ("RGB", "palette", "class indices", ...)."""
    raw = read_gray(path)
    pixels = normalize(raw, kind)
    if pixels is not raw:
        return pixels, "class indices"
    try:
        with Image.open(path) as image:
            mode = image.mode
    except OSError:
        mode = "?"
    return pixels, _MODES.get(mode, mode)


def kind_of(values: set[int]) -> str | None:
    """zones, front, or None when the values fit both or neither."""
    if values & {64, 127, 254} and values <= set(ZONE_VALUES):
        return "zones"
    if 255 in values and values <= {0, 255}:
        return "front"
    if values & {2, 3} and values <= {0, 1, 2, 3}:
        return "zones"
    return None  # {0}, {0, 1} (a 0/1 front or NA and rock only) or other values


def kind_from_values(paths) -> str | None:
    """The kind the first file that tells says, or None if none does."""
    for path in paths:
        try:
            kind = kind_of(_values(read_gray(path)))
        except ValueError:
            continue
        if kind is not None:
            return kind
    return None
