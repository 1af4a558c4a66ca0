"""Tests for caffe_workflow.caffe.front_position (the box method) and its figure
(caffe_workflow.report_front_position), on fronts whose positions are known."""

import datetime as dt
import math

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from caffe_workflow import report_front_position as report
from caffe_workflow import rows as catalog_schema
from caffe_workflow.caffe import front_position as fp
from caffe_workflow.caffe.fronts import trace_fronts
from caffe_workflow.caffe.labels import GLACIER, OCEAN, ROCK
from caffe_workflow.stages import evaluate
from ingest_fixtures import with_labelled


def box_along_y(width_m=800.0, centre_x=500.0, box=None):
    """A box whose flow runs down the image (+y) from y = 0, centred on x."""
    return fp.Reference("G", (centre_x, 0.0), (0.0, 1.0), width_m, True, 1.0, 1, box)


def shoelace(points):
    x, y = np.asarray(points, dtype=float).T
    return abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2


# ---------------------------------------------------------------- the measure


def test_straight_front_moved_by_k_changes_the_position_by_k():
    ref = box_along_y()
    front = [np.array([[0.0, 300.0], [1000.0, 300.0]])]
    assert fp.front_position_m(front, ref) == pytest.approx((300.0, 1.0))
    for k in (-250.0, 0.5, 123.0, 4000.0):
        moved = [front[0] + (0.0, k)]
        assert fp.front_position_m(moved, ref).position_m == pytest.approx(300.0 + k)
    # the direction a front was traced in does not matter
    assert fp.front_position_m([front[0][::-1]], ref).position_m == pytest.approx(300.0)


def test_the_same_front_at_two_resolutions_has_the_same_position_in_metres():
    ref = box_along_y(width_m=600.0)
    at_10 = [np.array([[0.0, 31.0], [40.0, 35.0], [100.0, 30.0]])]  # pixels at 10 m
    at_20 = [line / 2 for line in at_10]  # the same ground at 20 m
    p10 = fp.front_position(at_10, 10.0, ref)
    p20 = fp.front_position(at_20, 20.0, ref)
    assert p10.position_m == pytest.approx(p20.position_m)
    # the catalog's normalised lines give the same, whatever the image size
    norm = [line / (100.0, 80.0) for line in at_10]
    lines_10 = fp.lines_to_metres(norm, 100, 80, 10.0)
    lines_20 = fp.lines_to_metres(norm, 50, 40, 20.0)
    assert fp.front_position_m(lines_10, ref).position_m == pytest.approx(p10.position_m)
    assert fp.front_position_m(lines_20, ref).position_m == pytest.approx(p10.position_m)


@pytest.mark.parametrize("degrees", [0.0, 10.0, 35.0, -60.0])
def test_a_front_at_an_angle_is_at_its_mean_over_the_box_width(degrees):
    slope = math.tan(math.radians(degrees))
    x = np.array([0.0, 1000.0])
    front = [np.stack([x, 300.0 + slope * (x - 500.0)], axis=1)]
    # centred box: the mean is the front's height at the middle
    assert fp.front_position_m(front, box_along_y(800.0, 500.0)).position_m == pytest.approx(300.0)
    # a box over x in [200, 600]: the mean over that part
    off = fp.front_position_m(front, box_along_y(400.0, 400.0))
    assert off.position_m == pytest.approx(300.0 - 100.0 * slope)
    assert off.coverage == pytest.approx(1.0)


def test_a_ragged_front_is_the_area_between_it_and_the_upstream_end_over_the_width():
    rng = np.random.default_rng(3)
    x = np.linspace(0.0, 1000.0, 201)
    y = 400.0 + np.cumsum(rng.normal(0.0, 15.0, x.size))
    front = np.stack([x, y], axis=1)
    ref = box_along_y(1000.0, 500.0)
    polygon = [(0.0, 0.0), *front, (1000.0, 0.0)]
    expected = shoelace(polygon) / 1000.0
    assert fp.front_position_m([front], ref).position_m == pytest.approx(expected)
    # a front that folds back over itself (an overhang): still area / width
    folded = np.array(
        [[0, 300], [600, 300], [600, 500], [400, 500], [400, 700], [1000, 700]], dtype=float
    )
    polygon = [(0.0, 0.0), *folded, (1000.0, 0.0)]
    got = fp.front_position_m([folded], ref)
    assert got.position_m == pytest.approx(shoelace(polygon) / 1000.0)
    assert got.coverage == pytest.approx(1.0)


def test_a_front_in_pieces_traced_in_both_directions_counts_once():
    ref = box_along_y(1000.0, 500.0)
    x = np.linspace(0.0, 1000.0, 11)
    whole = np.stack([x, 200.0 + 50.0 * np.sin(x / 150.0)], axis=1)
    pieces = [whole[:5], whole[4:][::-1]]
    assert fp.front_position_m(pieces, ref).position_m == pytest.approx(
        fp.front_position_m([whole], ref).position_m
    )


def test_a_front_across_part_of_the_box_gives_the_mean_there_and_its_coverage():
    ref = box_along_y(800.0, 500.0)  # x in [100, 900]
    half = [np.array([[100.0, 250.0], [500.0, 250.0]])]
    assert fp.front_position_m(half, ref) == pytest.approx((250.0, 0.5))
    # a piece that enters and leaves on the same side crosses nothing
    hook = [np.array([[50.0, 100.0], [400.0, 100.0], [400.0, 300.0], [50.0, 300.0]])]
    assert fp.front_position_m(hook, ref).coverage == pytest.approx(0.0)
    assert fp.front_position_m([], ref) == (pytest.approx(math.nan, nan_ok=True), 0.0)


def test_parts_of_a_front_outside_the_bounding_box_are_left_out():
    ref = box_along_y(1000.0, 500.0, box=(0.0, 0.0, 1000.0, 600.0))
    # a front along the flow beyond the box's lower edge adds nothing
    front = [np.array([[0.0, 300.0], [1000.0, 300.0], [1000.0, 900.0]])]
    assert fp.front_position_m(front, ref).position_m == pytest.approx(300.0)


def test_front_orientation_follows_the_fronts_course_not_its_steps_or_branches():
    # a staircase from (0, 0) to (1000, 0): as much length up and down as along
    xs = np.repeat(np.arange(0.0, 1001.0, 50.0), 2)[1:]
    ys = np.tile([0.0, 40.0, 40.0, 0.0], len(xs) // 4 + 1)[: len(xs)]
    angle, strength = fp.front_orientation([[np.stack([xs, ys], axis=1)]])
    assert angle == pytest.approx(0.0, abs=0.05)
    assert strength == pytest.approx(1.0)
    # a branch traced as its own polyline from a junction does not turn it
    main = np.array([[0.0, 0.0], [1000.0, 0.0]])
    branch = np.array([[500.0, 0.0], [700.0, 300.0]])
    angle, _ = fp.front_orientation([[main, branch]])
    assert angle == pytest.approx(0.0, abs=1e-9)
    # two fronts at 0 and 90 degrees: no direction prevails
    angle, strength = fp.front_orientation([[main], [main[:, ::-1]]])
    assert strength == pytest.approx(0.0, abs=1e-9)
    angle, _ = fp.front_orientation([[np.array([[0.0, 0.0], [100.0, 100.0]])]])
    assert angle == pytest.approx(math.pi / 4)


# ---------------------------------------------------------------- a synthetic glacier


FJORD = 800.0  # metres wide
SHIFTS = [0.0, 400.0, 1500.0, 2500.0, 3000.0]  # front positions along the flow, m


def synthetic_scene(shift, resolution, angle_deg=30.0, ground=(6000.0, 6000.0)):
    """Zones and front of a fjord flowing at `angle_deg` (image frame, 0 =
    right, 90 = down): glacier upstream of a straight front at `shift` m
    from a fixed line, ocean beyond it, rock outside the fjord."""
    w, h = round(ground[0] / resolution), round(ground[1] / resolution)
    flow = np.array([math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))])
    across = np.array([-flow[1], flow[0]])
    cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    # positions 0..3000 m lie 1500 m either side of the middle of the image
    start = np.array(ground) / 2 - 1500.0 * flow
    p = np.stack([cols, rows], axis=-1) * resolution - start
    u, v = p @ flow, p @ across
    zones = np.full((h, w), ROCK, np.uint8)
    fjord = np.abs(v) <= FJORD / 2
    zones[fjord & (u < shift)] = GLACIER
    zones[fjord & (u >= shift)] = OCEAN
    ocean, ice = zones == OCEAN, zones == GLACIER
    touch = np.zeros_like(ocean)
    touch[1:, :] |= ice[:-1, :]
    touch[:-1, :] |= ice[1:, :]
    touch[:, 1:] |= ice[:, :-1]
    touch[:, :-1] |= ice[:, 1:]
    front = np.where(ocean & touch, 255, 0).astype(np.uint8)
    return zones, front


def catalog_rows(tmp_path, resolutions=(10, 20), angle_deg=30.0):
    """Catalog rows (the columns the figure reads) of one glacier through time."""
    rows = []
    for i, shift in enumerate(SHIFTS):
        res = resolutions[i % len(resolutions)]
        zones, front = synthetic_scene(shift, res, angle_deg)
        h, w = zones.shape
        stem = f"G_{2000 + i}-01-01_TSX_{res}_1_001"
        zones_path = tmp_path / f"{stem}_zones.png"
        Image.fromarray(zones).save(zones_path)
        lines = trace_fronts(front.tobytes(), w, h)
        rows.append(
            {
                "stem": stem,
                "glacier": "G",
                "date_taken": dt.date(2000 + i, 1, 1),
                "satellite": "TSX",
                "spatial_resolution": res,
                "width": w,
                "height": h,
                "front_lines": [[[x / w, y / h] for x, y in line] for line in lines],
                "front_extent": [0.0, 0.0, 1.0, 1.0],
                "zones_path": str(zones_path),
            }
        )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("angle_deg", [30.0, -120.0])
def test_the_reference_of_a_synthetic_glacier_follows_its_flow(tmp_path, angle_deg):
    catalog = catalog_rows(tmp_path, angle_deg=angle_deg)
    problems = []
    refs = fp.references(catalog, report.read_zones, problems=problems)
    assert problems == []
    ref = refs["G"]
    # The fronts retreat along the fjord by more than its width: the flow
    # axis still comes from the fronts' course, and downstream from the zones.
    assert ref.flow_angle_deg == pytest.approx(angle_deg, abs=1.0)
    assert ref.downstream_known and ref.downstream_agreement == 1.0
    # traced pixel centres end up to a pixel (20 m) inside each fjord wall
    assert ref.width_m == pytest.approx(FJORD, abs=50.0)
    assert ref.extent_spread < fp.EXTENT_TOLERANCE
    table = fp.positions(catalog, refs=refs)
    labels = table[table["source"] == "label"].sort_values("date")
    got = labels["position_m"].to_numpy()
    # 0 at the most upstream labelled front; each shift as its position change,
    # to within a pixel of the coarser resolution
    assert got[0] == pytest.approx(0.0, abs=20.0)
    np.testing.assert_allclose(got - got[0], SHIFTS, atol=20.0)
    assert (labels["coverage"] > 0.9).all()


def test_without_zone_masks_the_flow_sign_is_unknown_but_fixed(tmp_path):
    catalog = catalog_rows(tmp_path, angle_deg=-150.0)
    ref = fp.references(catalog)["G"]
    assert not ref.downstream_known
    # the flow axis is still right, with the sign the convention gives
    # (its larger component positive)
    assert ref.flow_angle_deg == pytest.approx(30.0, abs=1.0)


def test_images_that_do_not_share_a_frame_are_reported(tmp_path):
    catalog = catalog_rows(tmp_path)
    # one image's name says 20 m but it has the pixels of a 10 m image
    catalog.loc[1, "spatial_resolution"] = 10
    problems = []
    refs = fp.references(catalog, problems=problems)
    assert refs["G"].extent_spread > fp.EXTENT_TOLERANCE
    assert len(problems) == 1 and problems[0].startswith("glacier G: its images do not cover")


def test_an_unreadable_zone_mask_is_one_line_and_the_others_still_vote(tmp_path):
    catalog = catalog_rows(tmp_path)
    (tmp_path / "broken_zones.png").write_bytes(b"not a png")
    catalog.loc[0, "zones_path"] = str(tmp_path / "broken_zones.png")
    problems = []
    ref = fp.references(catalog, report.read_zones, problems=problems)["G"]
    assert len(problems) == 1 and "broken_zones.png: zone mask unreadable" in problems[0]
    assert ref.downstream_known and ref.flow_angle_deg == pytest.approx(30.0, abs=1.0)


def test_model_fronts_are_their_own_series_also_on_images_without_labels(tmp_path):
    catalog = catalog_rows(tmp_path)
    refs = fp.references(catalog, report.read_zones)
    zones, front = synthetic_scene(2000.0, 20)
    h, w = zones.shape
    lines = trace_fronts(front.tobytes(), w, h)
    model = pd.DataFrame(
        [
            {
                "stem": "G_2010-01-01_S1_20_1_001",
                "glacier": "G",
                "date_taken": dt.date(2010, 1, 1),
                "resolution": 20,
                "width": w,
                "height": h,
                "valid": True,
                "front_lines": [[[x / w, y / h] for x, y in line] for line in lines],
            },
            {
                "stem": "G_2011-01-01_S1_20_1_001",
                "glacier": "G",
                "date_taken": dt.date(2011, 1, 1),
                "resolution": 20,
                "width": w,
                "height": h,
                "valid": False,
                "front_lines": None,
            },
        ]
    )
    table = fp.positions(catalog, {"net": model}, refs)
    assert list(table.columns) == fp.POSITION_COLUMNS
    net = table[table["source"] == "net"]
    assert len(net) == 1 and net["stem"].iloc[0] == "G_2010-01-01_S1_20_1_001"
    first = table[table["source"] == "label"].sort_values("date")["position_m"].iloc[0]
    assert net["position_m"].iloc[0] - first == pytest.approx(2000.0, abs=20.0)
    assert net["satellite"].iloc[0] == "S1"  # from the name: per-image rows have none
    # a glacier without labels: the model's front is kept, without a position
    other = model.iloc[:1].assign(glacier="H", stem="H_2010-01-01_S1_20_1_001")
    table = fp.positions(catalog, {"net": model, "other": other}, refs)
    h = table[table["glacier"] == "H"]
    assert len(h) == 1 and h["position_m"].isna().all() and h["coverage"].isna().all()
    png = tmp_path / "models.png"
    summary = report.plot_front_positions(table, refs, png)
    assert summary["G"]["series"] == {"label": len(SHIFTS), "net": 1}
    assert summary["H"]["reference"] is None and summary["H"]["left_out"] == {"other": 1}
    with Image.open(png) as image:
        assert image.format == "PNG"


def test_empty_inputs():
    empty = pd.DataFrame(columns=report.CATALOG_COLUMNS)
    assert fp.references(empty) == {}
    table = fp.positions(empty)
    assert table.empty and list(table.columns) == fp.POSITION_COLUMNS
    assert fp.glacier_reference([]) is None
    assert fp.glacier_reference([[np.zeros((0, 2))]]) is None
    assert fp.front_orientation([])[1] == 0.0


# ---------------------------------------------------------------- the figure


@pytest.mark.filterwarnings("error")
def test_the_figure_has_one_panel_per_glacier(tmp_path):
    parts = []
    for glacier, angle in (("COL", 30.0), ("JAC", 100.0), ("X", -45.0)):
        g = tmp_path / glacier
        g.mkdir()
        df = catalog_rows(g, angle_deg=angle)
        df["glacier"] = glacier
        parts.append(df)
    catalog = pd.concat(parts, ignore_index=True)
    png = tmp_path / "front_position.png"
    table, summary, problems = report.write_front_positions(catalog, png, tmp_path / "t.csv")
    assert problems == []
    assert list(summary) == ["COL", "JAC", "X"]  # known glaciers first, then others
    assert [info["panel"] for info in summary.values()] == [0, 1, 2]
    assert all(info["series"] == {"label": len(SHIFTS)} for info in summary.values())
    with Image.open(png) as image:
        assert image.format == "PNG" and image.width > 500
    assert len(pd.read_csv(tmp_path / "t.csv")) == len(table) == 3 * len(SHIFTS)


@pytest.mark.filterwarnings("error")
def test_the_figure_of_nothing(tmp_path):
    png = tmp_path / "empty.png"
    table, summary, problems = report.write_front_positions(
        pd.DataFrame(columns=report.CATALOG_COLUMNS), png
    )
    assert table.empty and summary == {} and problems == []
    with Image.open(png) as image:
        assert image.format == "PNG"


# ---------------------------------------------------------------- the rule's files


def write_catalog(path, rows: list[dict], labelled: list[bool]):
    """rows -> the catalog's schema, with the column `labelled`."""
    pq.write_table(with_labelled(catalog_schema.rows_table(rows), labelled), path)
    return path


def write_per_image(path, rows: list[dict], labelled: list[bool] | None):
    """rows -> the evaluate stage's schema, with `labelled` unless None."""
    pq.write_table(with_labelled(evaluate.rows_table(rows), labelled), path)
    return path


def model_row(stem, shift, res=20, labelled=True):
    """A model's row: the straight front of the synthetic glacier at `shift` m."""
    zones, front = synthetic_scene(shift, res)
    h, w = zones.shape
    lines = trace_fronts(front.tobytes(), w, h)
    name = stem.split("_")
    return {
        "stem": stem,
        "split": "test",
        "model": "net",
        "kind": "zones",
        "valid": True,
        "glacier": name[0],
        "resolution": res,
        "date_taken": dt.date.fromisoformat(name[1]),
        "width": w,
        "height": h,
        "has_front": True,
        "mde_m": 10.0 if labelled else None,  # images without labels have no error
        "front_lines": [[[x / w, y / h] for x, y in line] for line in lines],
    }


def bare_row(stem, res=20):
    """A catalog row of an image without label files (valid, no front)."""
    zones, _ = synthetic_scene(0.0, res)
    h, w = zones.shape
    name = stem.split("_")
    return {
        "stem": stem,
        "glacier": name[0],
        "date_taken": dt.date.fromisoformat(name[1]),
        "satellite": "TSX",
        "spatial_resolution": res,
        "width": w,
        "height": h,
        "valid": True,
    }


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("with_column", [True, False])
def test_the_rules_files_give_model_positions_also_on_images_without_labels(tmp_path, with_column):
    labelled = catalog_rows(tmp_path).to_dict("records")
    bare = "G_2010-06-01_TSX_20_1_001"
    catalog = write_catalog(
        tmp_path / "catalog.parquet",
        [*labelled, bare_row(bare)],
        [True] * len(labelled) + [False],
    )
    first = labelled[0]["stem"]  # its front is at 0 m
    per_image = write_per_image(
        tmp_path / "per_image.parquet",
        # The row of the image without labels may have no size: the catalog's is used.
        [
            model_row(first, 500.0),
            model_row(bare, 2000.0, labelled=False) | {"width": None, "height": None},
        ],
        [True, False] if with_column else None,
    )
    png, csv = tmp_path / "front_position.png", tmp_path / "front_position.csv"
    assert (
        report.main(
            ["--catalog", str(catalog), "--png", str(png), "--table", str(csv)]
            + ["--model", f"net={per_image}"]
        )
        == 0
    )
    table = pd.read_csv(csv)
    assert len(table[table["source"] == "label"]) == len(SHIFTS)  # not the bare image
    net = table[table["source"] == "net"].set_index("stem")["position_m"]
    label = table[table["source"] == "label"].set_index("stem")["position_m"]
    # The model's fronts in the labelled fronts' box, the bare image's too.
    assert net[first] - label[first] == pytest.approx(500.0, abs=25.0)
    assert net[bare] - label[first] == pytest.approx(2000.0, abs=25.0)
    labelled = table.set_index(["source", "stem"])["labelled"]
    assert bool(labelled["net", first]) and bool(labelled["net", bare]) == (not with_column)
    assert table[table["source"] == "label"]["labelled"].all()
    with Image.open(png) as image:
        assert image.format == "PNG"


@pytest.mark.filterwarnings("error")
def test_a_catalog_without_labelled_fronts_with_a_model(tmp_path):
    stems = ["G_2010-06-01_TSX_20_1_001", "G_2011-06-01_TSX_20_1_001"]
    catalog = write_catalog(
        tmp_path / "catalog.parquet", [bare_row(s) for s in stems], [False, False]
    )
    per_image = write_per_image(
        tmp_path / "per_image.parquet",
        [model_row(s, 1000.0, labelled=False) for s in stems],
        [False, False],
    )
    png = tmp_path / "front_position.png"
    table, summary, problems = report.write_front_positions(
        report.load_catalog(catalog),
        png,
        tmp_path / "t.csv",
        report.load_predictions({"net": per_image}),
    )
    assert problems == [] and summary["G"]["reference"] is None
    assert summary["G"]["left_out"] == {"net": 2}
    assert table["position_m"].isna().all()
    with Image.open(png) as image:
        assert image.format == "PNG"
