"""Titles of the report's figures: counts and year spans read as English."""

import pandas as pd

from caffe_workflow.stages.plots import (
    _count,
    _footprint_line,
    _fronts_count,
    _years,
    source_folders,
)


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


def test_a_panel_title_counts_the_fronts_drawn_of_all():
    four = pd.DataFrame({"stem": list("abcd")})
    assert _fronts_count(four, four) == "4 fronts"
    assert _fronts_count(four.iloc[:1], four.iloc[:1]) == "1 front"
    assert _fronts_count(four.iloc[:2], four) == "2 of 4 fronts"


def test_a_footprint_line_gives_size_resolutions_and_years():
    rows = pd.DataFrame(
        {
            "spatial_resolution": [20, 7, None],
            "date_taken": pd.to_datetime(["2004-01-03", "2011-02-01", "2009-01-01"]),
        }
    )
    assert _footprint_line((960, 720), rows) == "960\u00d7720 px (7/20 m, 2004\u20132011)"
    assert _footprint_line((96, 72), rows.iloc[2:]) == "96\u00d772 px (2009)"
