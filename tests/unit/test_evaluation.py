"""The CaFFe scoring protocol: hand-derived cases (expected values worked out by hand)."""

import math

import numpy as np
import pytest
from PIL import Image

from caffe_workflow.caffe import evaluation as ev
from caffe_workflow.caffe.bounding_box import box_keep_ranges, cut_to_box, parse_corners

NA, ROCK, GLACIER, OCEAN = 0, 64, 127, 254
WHOLE = [(-5, 1000), (-5, -5), (1000, -5), (1000, 1000)]  # box corners covering everything


def hline(shape, row, c0, c1):
    m = np.zeros(shape, bool)
    m[row, c0:c1] = True
    return m


def zones_with_front(shape, front_row):
    """Glacier rows [0, front_row), ocean below: the front is row ``front_row`` (ocean pixels
    with a glacier pixel above)."""
    z = np.full(shape, OCEAN, np.uint8)
    z[:front_row] = GLACIER
    return z


# --- distances ------------------------------------------------------------


def test_prediction_equal_to_label_is_zero_metres():
    label = hline((20, 30), 10, 2, 28)
    rec = ev.front_error(label, label, resolution=7)
    assert rec["mde_m"] == 0.0
    assert rec["distance_count"] == 2 * 26
    assert rec["pred_pixels"] == rec["label_pixels"] == 26


@pytest.mark.parametrize("k", [1, 3, 5])
def test_front_shifted_by_k_pixels_is_k_times_resolution(k):
    # Every pixel of a straight line has its nearest partner straight across.
    label = hline((40, 50), 10, 5, 45)
    pred = hline((40, 50), 10 + k, 5, 45)
    rec = ev.front_error(pred, label, resolution=20)
    assert rec["mde_m"] == pytest.approx(20 * k)
    assert rec["distance_sum_m"] == pytest.approx(2 * 40 * 20 * k)


def test_distances_both_ways_by_hand():
    # label: (0,0)..(0,3); prediction: single pixel (0,0).
    # pred->label: 0; label->pred: 0, 1, 2, 3  => sum 6 over 5 distances.
    label = hline((3, 4), 0, 0, 4)
    pred = np.zeros((3, 4), bool)
    pred[0, 0] = True
    rec = ev.front_error(pred, label, resolution=10)
    assert rec["distance_sum_m"] == pytest.approx(60)
    assert rec["distance_count"] == 5
    assert rec["mde_m"] == pytest.approx(12)


def test_no_front_is_left_out():
    label = hline((5, 5), 2, 0, 5)
    rec = ev.front_error(np.zeros((5, 5), bool), label, resolution=7)
    assert rec["has_front"] is False and rec["mde_m"] is None and rec["distance_count"] == 0


# --- zone models -> front ---------------------------------------------------


def test_zone_front_is_ocean_next_to_glacier():
    z = zones_with_front((10, 60), 4)
    front = ev.front_from_zones(z, threshold=5)
    assert front.sum() == 60 and front[4].all()


def test_zone_front_ignores_rock_and_outside():
    # Ocean next to rock is no front; the image border is NA, not glacier.
    z = np.full((6, 60), OCEAN, np.uint8)
    z[:3, :30] = GLACIER
    z[:3, 30:] = ROCK
    front = ev.front_from_zones(z, threshold=5)
    assert front.sum() == 30 and front[3, :30].all()


@pytest.mark.parametrize(
    "resolution,length,kept", [(20, 37, False), (20, 38, True), (6, 125, False), (6, 126, True)]
)
def test_piece_just_under_and_over_750_m(resolution, length, kept):
    # 750/20 = 37.5 px and 750/6 = 125 px: a piece of at most the threshold goes.
    threshold = ev.front_length_threshold(resolution)
    assert threshold == 750 / resolution
    z = np.full((6, 200), NA, np.uint8)
    z[2, :length] = GLACIER
    z[3, :length] = OCEAN
    z[3:, length:] = OCEAN  # ocean one piece; front = row 3 under the glacier only
    front = ev.front_from_zones(z, threshold)
    assert front.sum() == (length if kept else 0)


def test_zone_prediction_without_ocean_is_left_out_and_counted():
    z = np.full((20, 20), GLACIER, np.uint8)
    z[:, :5] = ROCK
    label = hline((20, 20), 10, 0, 20)
    rec = ev.evaluate_image(z, "zones", label, WHOLE, resolution=20)
    assert rec["valid"] and not rec["has_front"]
    summary = ev.summarize([{**ev.image_keys("COL_2011-06-18_TDX_7_1_024"), **rec}])
    assert summary["images_without_front"] == 1 and summary["mde_m"] is None


def test_island_becomes_ocean_and_hole_becomes_glacier():
    z = zones_with_front((40, 80), 10)
    z[25:28, 30:33] = GLACIER  # iceberg: a small non-ocean piece -> ocean
    z[2:5, 40:43] = OCEAN  # lake in the glacier: a small ocean piece -> glacier
    post = ev.postprocess_zones(z)
    expected = zones_with_front((40, 80), 10)
    assert (post == expected).all()
    front = ev.front_from_zones(z, threshold=5)
    assert front.sum() == 80 and front[10].all()  # no rings around iceberg or lake


def test_non_ocean_means_na_rock_glacier_together():
    # A rock piece touching the glacier is part of the same non-ocean piece: kept.
    z = zones_with_front((20, 40), 8)
    z[8:12, 0:4] = ROCK
    assert (ev.postprocess_zones(z) == z).all()


def test_largest_tie_goes_to_first_component_in_raster_order():
    # Two equal ocean pieces: the upper-left one (met first) stays ocean.
    z = np.full((5, 9), GLACIER, np.uint8)
    z[0:2, 0:2] = OCEAN
    z[3:5, 7:9] = OCEAN
    post = ev.postprocess_zones(z)
    assert (post[0:2, 0:2] == OCEAN).all() and (post[3:5, 7:9] == GLACIER).all()


# --- front models -> front -------------------------------------------------


def test_front_prediction_one_pixel_line_is_kept_whole():
    pred = np.zeros((30, 120), np.uint8)
    pred[10, 5:115] = 255
    front = ev.front_from_front_prediction(pred, threshold=20)
    assert (front == (pred == 255)).all()


def test_front_prediction_thick_line_becomes_its_centre_line():
    # Expected pixels measured with the real fil_finder 1.8 (official FilFinder2D
    # call) on skimage's skeleton of this bar: row 10, columns 5..112, plus the
    # skeleton's end pixel (9, 113).
    pred = np.zeros((30, 120), np.uint8)
    pred[9:12, 5:115] = 255  # three pixels thick
    front = ev.front_from_front_prediction(pred, threshold=20)
    expected = np.zeros(pred.shape, bool)
    expected[10, 5:113] = True
    expected[9, 113] = True
    assert (front == expected).all()


def test_front_prediction_keeps_longest_path_not_the_spur():
    pred = np.zeros((60, 120), np.uint8)
    pred[30, 10:110] = 255  # main line, 100 px
    pred[31:45, 60] = 255  # spur of 14 px below it
    front = ev.front_from_front_prediction(pred, threshold=5)
    # Same as the real fil_finder 1.8 gives: its medial-axis step moves the
    # junction pixel (30, 60) to (31, 60); the rest of the spur is not on the path.
    expected = np.zeros(pred.shape, bool)
    expected[30, 10:110] = True
    expected[30, 60] = False
    expected[31, 60] = True
    assert (front == expected).all()


def test_front_prediction_single_valued_is_used_as_is():
    empty = np.zeros((8, 8), np.uint8)
    full = np.full((8, 8), 255, np.uint8)
    assert not ev.front_from_front_prediction(empty, 1).any()
    assert ev.front_from_front_prediction(full, 1).all()


def test_short_front_prediction_removed():
    pred = np.zeros((20, 100), np.uint8)
    pred[5, 10:40] = 255  # 30 px <= 37.5
    pred[15, 10:90] = 255  # 80 px
    front = ev.front_from_front_prediction(pred, threshold=37.5)
    assert not front[5].any() and front[15].sum() >= 76


# --- bounding box ----------------------------------------------------------

BOX_TEXT = "x,y\n2.5,7.6\n2.5,1.4\n8.5,1.4\n8.5,7.6\n"  # rounds to x 2..8, y 1..8


def test_box_cut_rounds_half_to_even():
    # x 2.5 -> 2 and 8.5 -> 8 (halves to even), y 1.4 -> 1 and 7.6 -> 8.
    assert parse_corners(BOX_TEXT) == [(2.5, 7.6), (2.5, 1.4), (8.5, 1.4), (8.5, 7.6)]
    rows, cols = box_keep_ranges(parse_corners(BOX_TEXT), (10, 12))
    assert np.flatnonzero(rows).tolist() == list(range(1, 8))
    assert np.flatnonzero(cols).tolist() == list(range(2, 8))


def test_box_cuts_the_prediction_not_the_label():
    # Rows [1, 8) and columns [2, 8) are kept.
    pred = np.ones((10, 12), bool)
    cut = cut_to_box(pred, parse_corners(BOX_TEXT))
    assert cut.sum() == 7 * 6
    assert cut[1, 2] and cut[7, 7]
    assert not cut[8, 2] and not cut[1, 8] and not cut[0, 5] and not cut[5, 1]
    label = hline((10, 12), 9, 0, 12)  # entirely outside the box, still used
    prediction = np.where(pred, 255, 0).astype(np.uint8)
    rec = ev.evaluate_image(prediction, "front", label, parse_corners(BOX_TEXT), 20)
    assert rec["label_pixels"] == 12


def test_box_corner_beyond_the_image_clips_to_size_minus_one():
    # right-lower x 50 > width 12 -> 11, so the last column is cut (official clipping).
    rows, cols = box_keep_ranges([(0, 50), (0, -3), (50, -3), (50, 50)], (10, 12))
    assert rows.sum() == 9 and not rows[9]
    assert cols.sum() == 11 and not cols[11]


def test_box_cut_changes_the_error():
    label = hline((20, 40), 10, 0, 40)
    pred = hline((20, 40), 10, 0, 40)
    pred[3, 0:40] = True  # a second line 7 px away...
    box = [(0, 8), (0, 5), (40, 5), (40, 8)]  # ...and the box keeps rows 5..7 only: nothing
    front = cut_to_box(pred, box)
    assert not front.any()
    box = [(0, 12), (0, 5), (40, 5), (40, 12)]  # rows 5..11: the true line only
    assert ev.front_error(cut_to_box(pred, box), label, 10)["mde_m"] == 0.0


# --- pooling and breakdowns ------------------------------------------------


def test_pooled_mean_differs_from_mean_of_image_means():
    # image A: 2 distances of 10 m; image B: 8 distances of 0 m.
    # pooled = 20 / 10 = 2 m; mean of image means = (10 + 0) / 2 = 5 m.
    a = {"distance_sum_m": 20.0, "distance_count": 2, "glacier": "COL"}
    b = {"distance_sum_m": 0.0, "distance_count": 8, "glacier": "COL"}
    assert ev.pooled_mde([a, b]) == pytest.approx(2.0)
    assert ev.mde_by([a, b], "glacier") == {
        "COL": {"mde_m": pytest.approx(2.0), "images": 2, "images_without_front": 0}
    }


def test_pooled_mde_from_real_images_and_a_dataframe():
    import pandas as pd  # a declared dependency: a missing one must fail, not skip

    label = hline((30, 30), 10, 0, 30)
    one = ev.front_error(hline((30, 30), 11, 0, 30), label, 7)  # 60 distances of 7 m
    two = ev.front_error(hline((30, 30), 13, 0, 10), label, 7)  # 10 of 21 m; 30 label pixels
    # two: pred->label: 10 x 3 px; label->pred: cols 0..9 -> 3, cols 10..29 -> sqrt(9 + (c-9)^2)
    by_hand = 10 * 3 + 10 * 3 + sum(math.hypot(3, c - 9) for c in range(10, 30))
    assert two["distance_sum_m"] == pytest.approx(7 * by_hand)
    frame = pd.DataFrame([one, two])
    assert ev.pooled_mde(frame) == pytest.approx((60 * 7 + 7 * by_hand) / (60 + 40))


def test_seasons_and_sensor_groups():
    assert ev.image_keys("COL_2011-01-18_TDX_7_1_024")["season"] == "winter"
    assert ev.image_keys("JAC_2011-09-18_TSX_6_1_005")["season"] == "winter"
    assert ev.image_keys("JAC_2011-08-18_TSX_6_1_005")["season"] == "summer"
    assert ev.image_keys("Mapple_2007-03-31_ENVISAT_20_1_467")["season"] == "summer"
    assert ev.image_keys("Mapple_2007-04-01_ENVISAT_20_1_467")["season"] == "winter"
    keys = ev.image_keys("COL_2011-06-18_TDX_7_1_024")
    assert keys == {"glacier": "COL", "season": "summer", "sensor": "TSX/TDX", "resolution": 7}


def test_summary_breakdowns_and_glacier_crosses():
    rows = [
        {
            **ev.image_keys("COL_2011-01-18_TDX_7_1_024"),
            "distance_sum_m": 30.0,
            "distance_count": 3,
        },
        {
            **ev.image_keys("COL_2011-06-18_TSX_7_1_024"),
            "distance_sum_m": 10.0,
            "distance_count": 1,
        },
        {
            **ev.image_keys("Mapple_2007-03-31_S1_20_1_467"),
            "distance_sum_m": 0.0,
            "distance_count": 0,
        },
    ]
    s = ev.summarize(rows)
    assert s["mde_m"] == pytest.approx(10.0)
    assert s["images_evaluated"] == 3 and s["images_without_front"] == 1
    assert s["by_sensor"]["TSX/TDX"] == {
        "mde_m": pytest.approx(10.0),
        "images": 2,
        "images_without_front": 0,
    }
    assert s["by_glacier"]["Mapple"]["mde_m"] is None
    assert s["by_glacier_season"]["COL/winter"]["mde_m"] == pytest.approx(10.0)
    assert s["by_resolution"]["20"]["images_without_front"] == 1


# --- zone metrics ----------------------------------------------------------


def test_zone_metrics_3x3_by_hand():
    label = np.array(
        [[NA, ROCK, GLACIER], [GLACIER, GLACIER, OCEAN], [OCEAN, OCEAN, OCEAN]], np.uint8
    )
    pred = np.array(
        [[NA, GLACIER, GLACIER], [GLACIER, OCEAN, OCEAN], [OCEAN, OCEAN, ROCK]], np.uint8
    )
    # NA: tp1 fp0 fn0; rock: tp0 fp1 fn1; glacier: tp2 fp1 fn1; ocean: tp3 fp1 fn1
    m = ev.zone_metrics(pred, label)
    assert m["tp"] == {"NA": 1, "rock": 0, "glacier": 2, "ocean": 3}
    assert m["fp"] == {"NA": 0, "rock": 1, "glacier": 1, "ocean": 1}
    assert m["fn"] == {"NA": 0, "rock": 1, "glacier": 1, "ocean": 1}
    assert m["precision"]["glacier"] == pytest.approx(2 / 3)
    assert m["recall"]["ocean"] == pytest.approx(3 / 4)
    assert m["f1"]["ocean"] == pytest.approx(6 / 8)
    assert m["iou"] == pytest.approx(
        {"NA": 1.0, "rock": 0.0, "glacier": 0.5, "ocean": 0.6, "mean": 2.1 / 4}
    )


def test_absent_class_has_no_value_and_is_left_out():
    label = np.array([[NA, GLACIER], [OCEAN, OCEAN]], np.uint8)
    pred = np.array([[NA, GLACIER], [GLACIER, OCEAN]], np.uint8)
    m = ev.zone_metrics(pred, label)
    assert m["iou"]["rock"] is None and m["precision"]["rock"] is None
    # NA 1, glacier 1/2, ocean 1/2 -> mean over three classes
    assert m["iou"]["mean"] == pytest.approx(2 / 3)
    mean = ev.mean_zone_metrics([m, ev.zone_metrics(label, label)])
    assert mean["iou"]["rock"] is None
    assert mean["iou"]["glacier"] == pytest.approx(0.75)


def test_class_only_in_label_has_zero_precision():
    label = np.array([[ROCK, NA]], np.uint8)
    pred = np.array([[NA, NA]], np.uint8)
    m = ev.zone_metrics(pred, label)
    assert m["precision"]["rock"] == 0.0 and m["recall"]["rock"] == 0.0 and m["iou"]["rock"] == 0.0


# --- bad predictions -------------------------------------------------------


def test_wrong_size_is_invalid():
    reason = ev.validate_prediction(np.zeros((4, 5), np.uint8), (4, 6), "zones")
    assert reason == "size 5x4 differs from the label's 6x4"
    prediction, label = np.zeros((4, 5), np.uint8), np.zeros((4, 6), np.uint8)
    rec = ev.evaluate_image(prediction, "front", label, WHOLE, 20)
    assert rec["valid"] is False and "size" in rec["reason"]


def test_wrong_values_are_invalid():
    zones = np.array([[0, 64], [127, 255]], np.uint8)
    assert ev.validate_prediction(zones, (2, 2), "zones") == "values outside {0, 64, 127, 254}: 255"
    front = np.array([[0, 1], [255, 254]], np.uint8)
    assert ev.validate_prediction(front, (2, 2), "front") == "values outside {0, 255}: 1, 254"
    assert ev.validate_prediction(np.array([[0, 255]], np.uint8), (1, 2), "front") is None
    rgb = np.zeros((2, 2, 3), np.uint8)
    assert "single-channel" in ev.validate_prediction(rgb, (2, 2), "front")


# --- fast and official implementations agree -------------------------------


def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_fast_and_official_agree(tmp_path):
    from caffe_dev import official_evaluation as off  # needs scikit-learn (dev extra)

    rng = np.random.default_rng(3)
    raw = tmp_path / "data_raw"
    stems = [
        "COL_2011-01-18_TDX_7_1_024",
        "Mapple_2007-03-31_S1_20_1_467",
        "Mapple_2008-10-13_TSX_7_2_034",
    ]
    records_zones, records_front = [], []
    for i, stem in enumerate(stems):
        h, w = 60, 200
        cols = np.arange(w)
        boundary = (25 + 6 * np.sin(cols / (5 + i)) + i).astype(int)
        label = np.where(np.arange(h)[:, None] < boundary[None, :], GLACIER, OCEAN).astype(np.uint8)
        label[:, :4] = ROCK
        label_front = np.zeros((h, w), np.uint8)
        label_front[boundary[4:], cols[4:]] = 255
        pred = np.roll(label, i + 1, axis=0)  # shifted front
        pred[40:43, 50:53] = GLACIER  # an iceberg
        pred[rng.random((h, w)) < 0.01] = NA
        front_pred = np.zeros((h, w), np.uint8)
        for dr in (-1, 0, 1):
            front_pred[np.clip(boundary + i + dr, 0, h - 1), cols] = 255
        box = f"x,y\n{2.4 + i},{55.5}\n{2.4 + i},3.2\n{195.6},3.2\n195.6,55.5\n"
        _write(raw / "zones" / "test" / f"{stem}_zones.png", label)
        _write(raw / "fronts" / "test" / f"{stem}_front.png", label_front)
        (raw / "bounding_boxes").mkdir(parents=True, exist_ok=True)
        (raw / "bounding_boxes" / f"{stem}_front_extent_coord.txt").write_text(box)
        _write(tmp_path / "zm" / f"{stem}_zones.png", pred)
        _write(tmp_path / "fm" / "sub" / f"{stem}_front.png", front_pred)
        corners = parse_corners(box)
        res = ev.image_keys(stem)["resolution"]
        zr = ev.evaluate_image(pred, "zones", label_front, corners, res, label_zones=label)
        fr = ev.evaluate_image(front_pred, "front", label_front, corners, res)
        records_zones.append({**ev.image_keys(stem), **zr})
        records_front.append({**ev.image_keys(stem), **fr})
    for kind, folder, records in (("zones", "zm", records_zones), ("front", "fm", records_front)):
        fast = ev.summarize(records)
        slow = off.evaluate(str(tmp_path / folder), str(raw), kind)
        assert fast["mde_m"] is not None and fast["mde_m"] > 0
        assert fast["mde_m"] == pytest.approx(slow["mde_m"], rel=1e-9)
        assert fast["images_evaluated"] == slow["images_evaluated"] == 3
        assert fast["images_without_front"] == slow["images_without_front"]
        for key in ("by_glacier", "by_season", "by_sensor", "by_resolution"):
            assert fast[key].keys() == slow[key].keys()
            for k in fast[key]:
                assert fast[key][k]["images"] == slow[key][k]["images"]
                if slow[key][k]["mde_m"] is None:
                    assert fast[key][k]["mde_m"] is None
                else:
                    assert fast[key][k]["mde_m"] == pytest.approx(slow[key][k]["mde_m"], rel=1e-9)
        if kind == "zones":
            for metric in ("precision", "recall", "f1", "iou"):
                assert fast["zones"][metric] == pytest.approx(slow["zones"][metric], rel=1e-12)


def test_unknown_glaciers_count_as_southern():
    # validate_or_test.py: check_whether_winter_half_year knows COL and JAC as northern only
    assert ev.image_keys("XYZ_2011-01-18_TSX_7_1_024")["season"] == "summer"
    assert ev.image_keys("XYZ_2011-06-18_TSX_7_1_024")["season"] == "winter"


def test_more_components_than_16_bit_labels_hold():
    # 350 x 350 isolated ocean pixels: 122,500 components, past uint16; the
    # largest (all of size 1) is the first in raster order, as with int32.
    zones = np.full((700, 700), 127, dtype=np.uint8)
    zones[::2, ::2] = 254
    out = ev.postprocess_zones(zones)
    assert (out == 254).sum() == 1 and out[0, 0] == 254
    assert ((out == 127) | (out == 254)).all()
