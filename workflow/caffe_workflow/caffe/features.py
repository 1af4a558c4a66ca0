"""A small feature vector per SAR image, from the pixels the per-image step
has already decoded: no model, no download, ~5 ms on a full-size image
(whose decoding takes ~30 ms).

The vector (``DIM`` = 272 float32, unit length) has two blocks of equal weight:

- **Layout** (``GRID`` x ``GRID`` = 256): the mean intensity of each cell of a
  16 x 16 grid over the whole image (area average rounded to 8 bits, no-data
  pixels counted as 0). A glacier covers the same ground at every resolution
  in CaFFe, so a cell is about the same patch of ground in all of its
  images: the block holds
  where ocean and ice mélange (dark), glacier and rock (brighter) and the
  swath's no-data edges lie, and with them the coarse position of the front.
- **Backscatter distribution** (``BINS`` = 16): the histogram of the valid
  pixels (1..255; 0 is CaFFe's no-data value) in 16 equal bins: the
  backscatter distribution, which differs with sensor and band (C, L, X),
  speckle and look processing, and season (wet snow darkens the ice).

Each block is scaled to unit length before they are joined: the layout block
then ignores a global gain (calibration differs between sensors; the
histogram keeps it), and neither block outweighs the other in cosine or
Euclidean distances (an image with no valid pixel gives zeros). An exact
copy has distance 0. On the generated sample data (681 images, small or full
size) an image's nearest neighbour is of the same glacier for 93 % of the
images and of the same glacier and sensor for about half; on real CaFFe
images this is not measured here.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

GRID = 16
BINS = 16
DIM = GRID * GRID + BINS


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def sar_features(image: Image.Image) -> np.ndarray:
    """The ``DIM`` float32 features of an 8-bit grayscale (mode ``L``) image."""
    if image.mode != "L":
        raise ValueError(f"expected an 8-bit grayscale image, got mode {image.mode}")
    # BOX is an exact area average; Pillow releases the GIL while resizing.
    grid = np.asarray(image.resize((GRID, GRID), Image.Resampling.BOX), dtype=np.float64)
    counts = np.asarray(image.histogram(), dtype=np.float64)
    counts[0] = 0  # no data
    hist = counts.reshape(BINS, 256 // BINS).sum(axis=1)
    vector = np.concatenate([_unit(grid.ravel() / 255), _unit(hist)]) / np.sqrt(2)
    return vector.astype(np.float32)
