"""Titles of the report's figures: counts and year spans read as English."""

import pandas as pd

from caffe_workflow.stages.plots import _count, _years, source_folders


def test_counts_are_singular_for_one():
    assert _count(1, "front") == "1 front"
    assert _count(0, "front") == "0 fronts"
    assert _count(200, "image") == "200 images"


def test_a_single_year_is_not_a_range():
    assert _years(pd.Series(pd.to_datetime(["2004-01-03", "2004-11-30"]))) == "2004"
    assert _years(pd.Series(pd.to_datetime(["2004-01-03", "2011-02-01"]))) == "2004\u20132011"


def test_source_folder_is_the_data_dir_of_the_image_paths():
    df = pd.DataFrame(
        {
            "filepath": [
                "/d/data_raw/sar_images/train/a.png",
                "/d/data_raw/sar_images/test/b.png",
                None,
            ]
        }
    )
    assert source_folders(df) == ["/d/data_raw"]
