"""The data_raw/ layout, spelled out as the CaFFe release has it."""

from pathlib import Path

from caffe_workflow.caffe.layout import (
    FOLDERS,
    FULL_BOUNDING_BOXES,
    FULL_PNGS,
    image_paths,
    label_paths,
)


def test_paths_of_one_image():
    root = Path("/data/data_raw")
    stem = "COL_2011-06-18_TDX_7_1_024"
    assert image_paths(root, "test", stem) == {
        "sar": root / "sar_images/test/COL_2011-06-18_TDX_7_1_024.png",
        "zones": root / "zones/test/COL_2011-06-18_TDX_7_1_024_zones.png",
        "front": root / "fronts/test/COL_2011-06-18_TDX_7_1_024_front.png",
        "bbox": root / "bounding_boxes/COL_2011-06-18_TDX_7_1_024_front_extent_coord.txt",
    }
    assert label_paths(root, "test", stem).keys() == {"zones", "front", "bbox"}


def test_release_counts():
    assert FOLDERS == ("sar_images", "zones", "fronts", "bounding_boxes")
    assert (FULL_PNGS, FULL_BOUNDING_BOXES) == (2043, 681)
