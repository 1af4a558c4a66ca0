"""caffe/longest_path.py against the real fil_finder (dev extra), pixel for pixel.

Skeletons the way the official front pipeline makes them: a drawn front
(a wavy line across the image), optionally with spurs or a ring across it,
thickened by 0-2 pixels as a network's thresholded output, then
``skimage.morphology.skeletonize``. Both sides seed medial_axis's tie-break
the same way (see caffe_dev.official_evaluation.filfinder_longest_paths).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.draw import circle_perimeter
from skimage.draw import line as draw_line
from skimage.morphology import skeletonize

from caffe_workflow.caffe.longest_path import longest_paths

official = pytest.importorskip(
    "caffe_dev.official_evaluation", reason="needs scikit-learn (dev extra)"
)
try:
    official.import_fil_finder()
except ImportError as err:  # pragma: no cover - the dev extra installs it
    pytest.skip(f"fil_finder not installed (dev extra): {err}", allow_module_level=True)

SHAPE = (96, 128)
KINDS = ("line", "branched", "loop")
PER_KIND = 40

# Cases where the port and fil_finder 1.8 differ, by kind and case number,
# all branched: in 19 and 22 the path passes a junction's 3-pixel cycle on
# the other side (2-6 pixels differ); in 4 fil_finder continues through a
# junction along a 15-pixel diagonal spur where the port takes the 20-pixel
# straight line (longer by the port's branch lengths; the cause in
# fil_finder's weighting is not found). fil_finder 1.7, the official pin,
# built by hand and seeded the same way, differs on the same three.
KNOWN_DIFFERENT = {"line": [], "branched": [4, 19, 22], "loop": []}


def _front(rng, image):
    """A wavy line across the image; its (rows, cols)."""
    h, w = image.shape
    cols = np.arange(8, w - 8)
    base = rng.uniform(25, 70)
    rows = base + sum(
        rng.uniform(1, 8)
        / k
        * np.sin(2 * np.pi * (k * cols / w * rng.uniform(0.5, 1.5) + rng.uniform()))
        for k in range(1, 4)
    )
    rows = np.clip(np.round(rows), 4, h - 5).astype(int)
    for r1, c1, r2, c2 in zip(rows, cols, rows[1:], cols[1:]):
        image[draw_line(r1, c1, r2, c2)] = True
    return rows, cols


def _spur(rng, image, rows, cols):
    h, w = image.shape
    i = rng.integers(10, len(cols) - 10)
    angle, length = rng.uniform(0, 2 * np.pi), rng.uniform(6, 25)
    r2 = int(np.clip(rows[i] + length * np.sin(angle), 1, h - 2))
    c2 = int(np.clip(cols[i] + length * np.cos(angle), 1, w - 2))
    image[draw_line(rows[i], cols[i], r2, c2)] = True


def skeleton_case(kind: str, rng) -> np.ndarray:
    image = np.zeros(SHAPE, bool)
    rows, cols = _front(rng, image)
    if kind == "branched":
        for _ in range(rng.integers(1, 4)):
            _spur(rng, image, rows, cols)
    elif kind == "loop":
        i = rng.integers(20, len(cols) - 20)
        radius = int(rng.integers(5, 14))
        image[circle_perimeter(rows[i], cols[i], radius, shape=SHAPE)] = True
    thickness = int(rng.integers(0, 3))
    if thickness:
        image = ndi.binary_dilation(image, iterations=thickness)
    return skeletonize(image)


@pytest.mark.timeout(600)
def test_port_matches_fil_finder_pixel_for_pixel():
    different = {}
    checked = 0
    for k, kind in enumerate(KINDS):
        rng = np.random.default_rng([0, k])
        different[kind] = []
        for i in range(PER_KIND):
            skeleton = skeleton_case(kind, rng)
            real = official.filfinder_longest_paths(skeleton)
            port = longest_paths(skeleton)
            assert real.any() and port.any()
            if not np.array_equal(real, port):
                different[kind].append(i)
            checked += 1
    assert checked == len(KINDS) * PER_KIND
    # Identical on 117 of the 120 skeletons; a change either way fails here.
    assert different == KNOWN_DIFFERENT
    assert checked - sum(map(len, different.values())) == 117


def test_seeded_official_call_is_repeatable():
    """The seed reaches fil_finder's medial_axis (unseeded, it breaks ties at random)."""
    rng = np.random.default_rng([0, KINDS.index("loop")])
    skeleton = skeleton_case("loop", rng)
    seeded = [official.filfinder_longest_paths(skeleton, seed=0) for _ in range(2)]
    assert np.array_equal(*seeded)
    assert np.array_equal(seeded[0], longest_paths(skeleton))


@pytest.mark.timeout(600)
def test_port_matches_fil_finder_on_the_sample_generators_fronts():
    """The demo front model's way: a label front of caffe_dev.sample_data
    thickened to 3 pixels (as write_line_predictions), then skeletonized."""
    from caffe_dev import sample_data

    different = []
    for i in range(20):
        spec = sample_data.image_spec(0, i * 31)
        _, _, front, _ = sample_data.render(spec, 0, "small")
        skeleton = skeletonize(ndi.binary_dilation(front == 255))
        real = official.filfinder_longest_paths(skeleton)
        assert real.any(), spec.stem
        if not np.array_equal(real, longest_paths(skeleton)):
            different.append(spec.stem)
    assert different == []
