"""The models' report (stages/evaluation_report.py) on hand-made inputs: the
breakdown tables hold the right numbers in the right cells, and the
over-time figure has one panel per glacier with what each model scored."""

from __future__ import annotations

import datetime
from html.parser import HTMLParser

from PIL import Image

from caffe_workflow.stages import evaluation_report as er


class _Tables(HTMLParser):
    """Every <table> as a list of rows of cell texts."""

    def __init__(self):
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _tables(text: str) -> list[list[list[str]]]:
    parser = _Tables()
    parser.feed(text)
    return parser.tables


def _entry(mde, images, without=0):
    return {"mde_m": mde, "images": images, "images_without_front": without}


def _metrics(name, kind, mde, glacier_season, glacier_sensor, glacier_resolution, iou=None):
    return {
        "model": name,
        "kind": kind,
        "mde_m": mde,
        "images_evaluated": 5,
        "images_without_front": 1,
        "images_missing": {"count": 0, "stems": []},
        "invalid_predictions": {},
        "by_glacier": {"COL": _entry(mde, 3), "Mapple": _entry(mde, 2)},
        "by_season": {"winter": _entry(mde, 5)},
        "by_sensor": {"TSX/TDX": _entry(mde, 5)},
        "by_resolution": {"7": _entry(mde, 5)},
        "by_glacier_season": glacier_season,
        "by_glacier_sensor": glacier_sensor,
        "by_glacier_resolution": glacier_resolution,
        **({"zones": {"iou": {"mean": iou}}} if iou is not None else {}),
    }


MODELS = {
    "unet": _metrics(
        "unet",
        "zones",
        400.0,
        {
            "COL/winter": _entry(512.25, 2),
            "COL/summer": _entry(301.0, 1),
            "Mapple/winter": _entry(150.0, 2, without=1),
        },
        {
            "COL/TSX/TDX": _entry(450.5, 2),
            "COL/S1": _entry(900.0, 1),
            "Mapple/TSX/TDX": _entry(150.0, 2),
        },
        {
            "COL/7": _entry(450.5, 2),
            "COL/20": _entry(900.0, 1),
            "Mapple/17": _entry(99.0, 1),
            "Mapple/7": _entry(150.0, 1),
        },
        iou=0.8123,
    ),
    "hed": _metrics(
        "hed",
        "front",
        700.0,
        {"COL/winter": _entry(812.0, 2)},
        {"COL/TSX/TDX": _entry(812.0, 2)},
        {"COL/7": _entry(812.0, 2)},
    ),
}


def test_breakdown_tables_hold_the_numbers_in_their_cells():
    summary, season, sensor, resolution = _tables(er.table_html(MODELS, published=[]))
    assert summary[0][:3] == ["model", "kind", "all"]
    assert [row[0] for row in summary[1:]] == ["hed", "unet"]
    assert summary[2][-1] == "0.812"  # unet's zone IoU

    assert season[0] == ["glacier", "model", "summer", "winter"]
    assert season[1:] == [
        ["COL", "hed", "", "812.0 (2)"],
        ["COL", "unet", "301.0 (1)", "512.2 (2)"],
        ["Mapple", "unet", "", "150.0 (2, 1 without front)"],
    ]
    # Sensor values may hold "/" (TSX/TDX): split after the glacier only.
    assert sensor[0] == ["glacier", "model", "S1", "TSX/TDX"]
    assert sensor[2] == ["COL", "unet", "900.0 (1)", "450.5 (2)"]
    # Resolutions in numeric order, with their unit.
    assert resolution[0] == ["glacier", "model", "7 m", "17 m", "20 m"]
    assert resolution[3] == ["Mapple", "unet", "150.0 (1)", "99.0 (1)", ""]


def test_summary_table_resolution_columns_in_numeric_order():
    models = {"m": _metrics("m", "zones", 1.0, {}, {}, {})}
    models["m"]["by_resolution"] = {"12": _entry(2.0, 1), "6": _entry(3.0, 1), "20": _entry(4.0, 1)}
    (summary,) = _tables(er._summary_table(models))
    header = summary[0]
    assert [h for h in header if h.endswith(" m")] == ["6 m", "12 m", "20 m"]


def _row(glacier, day, mde, valid=True):
    return {
        "glacier": glacier,
        "date_taken": datetime.date(2010, 1, day),
        "mde_m": mde,
        "valid": valid,
    }


def test_over_time_one_panel_per_glacier(tmp_path):
    per_image = {
        "unet": [
            _row("COL", 3, 420.0),
            _row("COL", 1, 380.0),
            _row("COL", 9, None),
            _row("Mapple", 2, 120.0),
            _row("Mapple", 5, None, valid=False),
        ],
        "hed": [_row("COL", 3, 800.0), _row("JAC", 4, 50.0)],
    }
    path = tmp_path / "over_time.png"
    drawn = er.plot_over_time(per_image, path)
    assert drawn == {
        "COL": {"hed": {"scored": 1, "no_front": 0}, "unet": {"scored": 2, "no_front": 1}},
        "JAC": {"hed": {"scored": 1, "no_front": 0}},
        "Mapple": {"unet": {"scored": 1, "no_front": 0}},  # the invalid image is not drawn
    }
    with Image.open(path) as image:  # three panels in a row: 15 x 3.4 inches
        assert image.size == (15 * er.DPI, round(3.4 * er.DPI))


def test_over_time_without_images_still_writes_the_figure(tmp_path):
    path = tmp_path / "empty.png"
    assert er.plot_over_time({"unet": []}, path) == {}
    assert path.stat().st_size > 0


def test_published_rows_apart_from_the_computed_ones():
    """The package's published figures: reference rows below the computed
    ones, under their own heading, each value in its column and cited."""
    published = er.published_results()
    assert published and all(
        e["doi"] and e["citation"] and e["verified"] and e["figure"] == "mde_m" for e in published
    )
    text = er.table_html(MODELS)
    summary = _tables(text)[0]
    header = summary[0]
    assert [row[0] for row in summary[1:3]] == ["hed", "unet"]
    assert summary[3][0].startswith("Published (reference rows")
    rows = {row[0].split(" [")[0]: row for row in summary[4:]}
    by_model: dict = {}
    for e in published:
        by_model.setdefault(e["model"], {})[e["group"]] = e
    assert set(rows) == set(by_model)
    for model, groups in by_model.items():
        row = rows[model]
        assert row[1] == "published"
        for group, e in groups.items():
            cell = row[header.index(group)]
            want = f"{e['value']:g}" + ("" if e["sd"] is None else f" ± {e['sd']:g}")
            assert cell == want
        # No computed figure in a published row.
        assert row[header.index("images") :] == [""] * (len(header) - header.index("images"))
    for e in published:
        assert f"doi:<a href='https://doi.org/{e['doi']}'" in text
    assert "not comparable" in text  # the multi-annotator study, where it is named
    # The baseline's per-glacier figures as its README gives them.
    baseline = by_model["CaFFe baseline (U-Net)"]
    assert (baseline["Mapple"]["value"], baseline["Mapple"]["sd"]) == (150, 24)
    assert (baseline["COL"]["value"], baseline["COL"]["sd"]) == (840, 84)


def test_ignored_files_listed_first_few():
    models = {"m": _metrics("m", "zones", 1.0, {}, {}, {})}
    files = [{"file": f"/p/f{i}.txt", "reason": "not a png"} for i in range(8)]
    models["m"]["ignored_files"] = {"count": 8, "files": files}
    text = er.table_html(models, published=[])
    assert "m: 8: f0.txt (not a png)" in text and "and 3 more (metrics.json)" in text
    assert "f5.txt" not in text
