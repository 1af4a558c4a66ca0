"""Helpers on 2-D boolean masks shared by the scoring modules
(:mod:`~caffe_workflow.caffe.evaluation`, :mod:`~caffe_workflow.caffe.longest_path`)
and the evaluate stage: 8-connected labelling and the window around the True pixels."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

EIGHT = np.ones((3, 3), dtype=bool)


def label8(mask: np.ndarray, compact: bool = False) -> tuple[np.ndarray, int]:
    """8-connected labels numbered in raster order of each component's first pixel.

    Same numbering as skimage.measure.label(connectivity=2), which the
    official code uses; that order decides ties of the largest component.
    ``compact``: 16-bit labels where they suffice (SciPy refuses otherwise),
    half the memory of 32-bit ones, for whole-image labels that are only
    compared and counted (the largest arrays of an evaluation).
    """
    if compact:
        try:
            return ndi.label(mask, structure=EIGHT, output=np.uint16)
        except RuntimeError:  # "insufficient bit-depth": over 65,535 components
            pass
    return ndi.label(mask, structure=EIGHT, output=np.int32)


def crop_window(mask: np.ndarray, pad: int) -> tuple[slice, slice]:
    """Bounding box of the True pixels widened by ``pad`` (clipped to the image).

    Skeletonize, the medial axis and the labelling only look at 3x3
    neighbourhoods with the outside as background, so working in this window
    gives the same result as the whole image, faster. ``mask`` must have a
    True pixel.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return (
        slice(max(rows[0] - pad, 0), min(rows[-1] + pad + 1, mask.shape[0])),
        slice(max(cols[0] - pad, 0), min(cols[-1] + pad + 1, mask.shape[1])),
    )
