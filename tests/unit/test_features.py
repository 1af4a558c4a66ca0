"""The per-image feature vector (caffe_workflow.caffe.features) and its place
in the per-image step's row."""

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from caffe_dev.sample_data import generate
from caffe_workflow.caffe.features import BINS, DIM, GRID, sar_features
from caffe_workflow.caffe.layout import label_paths
from caffe_workflow.rows import ROW_SCHEMA
from caffe_workflow.stages.process import process

LAYOUT = slice(0, GRID * GRID)
HISTOGRAM = slice(GRID * GRID, DIM)


def image(array) -> Image.Image:
    return Image.fromarray(np.asarray(array, dtype=np.uint8), mode="L")


def halves(left: int, right: int, size=(64, 96)) -> Image.Image:
    """An image whose left half is `left` and right half `right` (h x w)."""
    a = np.full(size, right, dtype=np.uint8)
    a[:, : size[1] // 2] = left
    return image(a)


def test_shape_type_and_unit_blocks():
    v = sar_features(halves(30, 200))
    assert v.shape == (DIM,) and v.dtype == np.float32 and DIM == 272
    # Each block has length 1/sqrt(2), the whole vector length 1.
    assert np.linalg.norm(v[LAYOUT]) == pytest.approx(2**-0.5, rel=1e-5)
    assert np.linalg.norm(v[HISTOGRAM]) == pytest.approx(2**-0.5, rel=1e-5)
    assert np.linalg.norm(v) == pytest.approx(1, rel=1e-5)


def test_layout_is_the_grid_of_mean_intensity():
    v = sar_features(halves(30, 200))
    grid = v[LAYOUT].reshape(GRID, GRID)
    # Left half dark, right half bright, in the ratio of the pixel values.
    assert np.allclose(grid[:, : GRID // 2], grid[0, 0]) and np.allclose(
        grid[:, GRID // 2 :], grid[0, -1]
    )
    assert grid[0, -1] / grid[0, 0] == pytest.approx(200 / 30, rel=1e-4)


def test_no_data_pixels_stay_out_of_the_histogram():
    # Half no data (0), half 200: one histogram bin, the one holding 200.
    v = sar_features(halves(0, 200))
    hist = v[HISTOGRAM]
    assert np.count_nonzero(hist) == 1 and hist[200 * BINS // 256] == pytest.approx(2**-0.5)
    # The no-data half still shapes the layout (the swath's edge).
    assert np.all(v[LAYOUT].reshape(GRID, GRID)[:, : GRID // 2] == 0)


def test_layout_ignores_a_global_gain_and_the_histogram_sees_it():
    rng = np.random.default_rng(0)
    a = rng.integers(10, 120, size=(80, 120))
    v, brighter = sar_features(image(a)), sar_features(image(a * 2))
    # Equal up to the rounding of the cell means to 8 bits.
    assert np.allclose(v[LAYOUT], brighter[LAYOUT], rtol=0.02)
    assert not np.allclose(v[HISTOGRAM], brighter[HISTOGRAM])


def test_an_image_without_valid_pixels_gives_zeros():
    assert not sar_features(image(np.zeros((20, 30)))).any()


def test_only_8_bit_grayscale():
    with pytest.raises(ValueError, match="mode RGB"):
        sar_features(Image.new("RGB", (8, 8)))


def test_a_slightly_changed_copy_is_the_nearest_neighbour(tmp_path):
    """Among generated CaFFe images, a copy with speckle-like noise and a
    small brightness change is nearest to its original."""
    generate(tmp_path, count=21, seed=5)
    paths = sorted((tmp_path / "sar_images").glob("*/*.png"))
    vectors = np.stack([sar_features(Image.open(p)) for p in paths])
    rng = np.random.default_rng(1)
    for k in (0, 7, 14):
        a = np.asarray(Image.open(paths[k]), dtype=np.int16)
        noisy = np.clip(a + rng.integers(-8, 9, size=a.shape) + 3, 0, 255) * (a > 0)
        query = sar_features(image(noisy))
        distances = np.linalg.norm(vectors - query, axis=1)
        assert int(np.argmin(distances)) == k, distances


def test_the_row_holds_the_features(tmp_path):
    data_dir = tmp_path / "data_raw"
    (stem,) = generate(data_dir, count=1, seed=3)
    image_path = next((data_dir / "sar_images").glob(f"*/{stem}.png"))
    split = image_path.parent.name
    labels = label_paths(data_dir, split, stem)
    out = tmp_path / "out" / split / stem
    row = process(image_path, labels["zones"], labels["front"], labels["bbox"], split, out, 64)
    assert len(row["features"]) == DIM
    assert np.allclose(row["features"], sar_features(Image.open(image_path)))
    table = pq.read_table(out / "metadata.parquet")
    assert table.schema.equals(ROW_SCHEMA)
    assert table.column("features").to_pylist()[0] == pytest.approx(row["features"])


def test_an_undecodable_image_has_no_features(tmp_path):
    data_dir = tmp_path / "data_raw"
    (stem,) = generate(data_dir, count=1, seed=3)
    image_path = next((data_dir / "sar_images").glob(f"*/{stem}.png"))
    image_path.write_bytes(image_path.read_bytes()[:200])  # truncated
    split = image_path.parent.name
    labels = label_paths(data_dir, split, stem)
    row = process(
        image_path,
        labels["zones"],
        labels["front"],
        labels["bbox"],
        split,
        tmp_path / "out" / split / stem,
        64,
    )
    assert not row["valid"] and row.get("features") is None
