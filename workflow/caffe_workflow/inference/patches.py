"""Run a patch-based segmentation network over a full SAR image, as the
official CaFFe code does at test time, in bounded memory.

The image is padded at the bottom and right, cut into overlapping square
patches, the patches go through the network in batches, and each batch's
scores are added at once into two float32 arrays for the image (weighted
score sums per class, weight sums), so no patch is kept: the memory is about
(classes + 2) x 4 bytes per padded pixel, whatever the number of patches.

`run_batch` is any callable from float32 patches [n, 1, P, P] to scores
[n, C, P, P] (an onnxruntime session in onnx_model.py, a NumPy function in the
tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from caffe_workflow.inference.spec import TilingOptions

RunBatch = Callable[[np.ndarray], np.ndarray]

# CaFFe zone mask values of the classes NA, rock, glacier, ocean (class ids 0..3).
ZONE_VALUES = np.array([0, 64, 127, 254], dtype=np.uint8)
FRONT_VALUE = 255


def pad_amounts(height: int, width: int, patch_size: int, overlap: int) -> tuple[int, int]:
    """Rows added at the bottom and columns at the right.

    The official rule (data_preprocessing.py, pad_image_and_masks): with an
    overlap, (padded size - patch) becomes a multiple of the stride, and an
    image that already fits still gets one whole stride more; without one, the
    padded size becomes a multiple of the patch. Not in the official code
    (whose smallest image is larger than a patch): a side shorter than a patch
    is padded to one patch.
    """

    def amount(size: int) -> int:
        if overlap > 0:
            stride = patch_size - overlap
            pad = stride - (size - patch_size) % stride
        else:
            pad = (patch_size - size % patch_size) % patch_size
        return max(pad, patch_size - size)

    return amount(height), amount(width)


def patch_origins(padded_height: int, padded_width: int, patch_size: int, stride: int):
    """(row, column) of every patch's top-left corner, row by row."""
    rows = range(0, padded_height - patch_size + 1, stride)
    cols = range(0, padded_width - patch_size + 1, stride)
    return [(r, c) for r in rows for c in cols]


def gaussian_weights(patch_size: int, sigma_scale: float) -> np.ndarray:
    """The importance map that weights each patch's scores in the merge:
    a Gaussian centred on the patch (at patch_size // 2), sigma patch_size *
    sigma_scale, 1 at the centre, truncated at 4 sigma as SciPy's
    gaussian_filter does (data_postprocessing.py, get_gaussian); zeros (past
    the truncation) become the smallest non-zero weight, so that no covered
    pixel has weight 0."""
    from scipy.ndimage import gaussian_filter

    impulse = np.zeros((patch_size, patch_size))
    centre = patch_size // 2
    impulse[centre, centre] = 1.0
    sigma = patch_size * sigma_scale
    weights = gaussian_filter(impulse, sigma, order=0, mode="constant", cval=0.0)
    weights = (weights / weights.max()).astype(np.float32)
    if (weights == 0).any():
        weights[weights == 0] = weights[weights > 0].min()
    return weights


def patch_weights(options: TilingOptions) -> np.ndarray:
    if options.weighting == "uniform":
        return np.ones((options.patch_size, options.patch_size), dtype=np.float32)
    return gaussian_weights(options.patch_size, options.sigma_scale)


def scale(image: np.ndarray, options: TilingOptions) -> np.ndarray:
    """uint8 pixels -> the network's input: x / 255, then (x - mean) / std."""
    # In place: a full-size image is tens of MB per float32 copy.
    scaled = image.astype(np.float32)
    scaled /= np.float32(255.0)
    scaled -= np.float32(options.mean)
    scaled /= np.float32(options.std)
    return scaled


def activate(scores: np.ndarray, activation: str) -> np.ndarray:
    """The activation applied to raw network outputs [n, C, P, P] before merging."""
    scores = scores.astype(np.float32, copy=False)
    if activation == "sigmoid":
        from scipy.special import expit

        return expit(scores)
    if activation == "softmax":
        from scipy.special import softmax

        return softmax(scores, axis=1)
    return scores


def padded_input(image: np.ndarray, options: TilingOptions) -> np.ndarray:
    """The scaled image, padded with `pad_value` (a pixel value, before scaling)."""
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 grayscale image, got {image.dtype} {image.shape}")
    height, width = image.shape
    bottom, right = pad_amounts(height, width, options.patch_size, options.overlap)
    padded = np.pad(image, ((0, bottom), (0, right)), constant_values=options.pad_value)
    return scale(padded, options)


def batches(origins: list, size: int) -> Iterator[list]:
    for start in range(0, len(origins), size):
        yield origins[start : start + size]


def merged_scores(image: np.ndarray, run_batch: RunBatch, options: TilingOptions) -> np.ndarray:
    """Class scores [C, H, W] of the image (float32): every pixel's scores
    from all patches that cover it, averaged with the patch weights."""
    height, width = image.shape[:2]
    padded = padded_input(image, options)
    p = options.patch_size
    origins = patch_origins(*padded.shape, p, options.stride)
    weights = patch_weights(options)
    totals = None  # [C, Hp, Wp], allocated when the class count is known
    weight_sum = np.zeros(padded.shape, dtype=np.float32)
    for group in batches(origins, options.batch_size):
        x = np.stack([padded[r : r + p, c : c + p] for r, c in group])[:, None]
        scores = activate(np.asarray(run_batch(x)), options.activation)
        if scores.ndim != 4 or scores.shape[0] != len(group) or scores.shape[2:] != (p, p):
            raise ValueError(
                f"the network gave scores of shape {list(scores.shape)} for patches of shape "
                f"{list(x.shape)} (expected [{len(group)}, classes, {p}, {p}])"
            )
        if totals is None:
            totals = np.zeros((scores.shape[1], *padded.shape), dtype=np.float32)
        for (r, c), patch_scores in zip(group, scores):
            totals[:, r : r + p, c : c + p] += patch_scores * weights
            weight_sum[r : r + p, c : c + p] += weights
    # Every pixel is covered (pad_amounts), so no weight sum is 0.
    totals /= weight_sum
    return totals[:, :height, :width]


def zones_from_scores(scores: np.ndarray) -> np.ndarray:
    """Zone mask (0/64/127/254) from scores [4, H, W]: the class of highest score."""
    if scores.shape[0] != len(ZONE_VALUES):
        raise ValueError(f"zone scores need {len(ZONE_VALUES)} classes, got {scores.shape[0]}")
    return ZONE_VALUES[np.argmax(scores, axis=0)]


def front_from_scores(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Front mask (0/255) from scores [1, H, W]: 255 where the score is above threshold."""
    if scores.shape[0] != 1:
        raise ValueError(f"front scores need 1 channel, got {scores.shape[0]}")
    return np.where(scores[0] > threshold, FRONT_VALUE, 0).astype(np.uint8)


def predict_mask(
    image: np.ndarray, run_batch: RunBatch, kind: str, options: TilingOptions
) -> np.ndarray:
    """The uint8 mask of one image: zones (0/64/127/254) or a front (0/255)."""
    scores = merged_scores(image, run_batch, options)
    if kind == "zones":
        return zones_from_scores(scores)
    return front_from_scores(scores, options.threshold)
