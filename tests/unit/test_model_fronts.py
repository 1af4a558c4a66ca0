"""A model's fronts-over-time figure (rule model_fronts, caffe_workflow.stages.plots):
real catalog and per-image Parquets, written with the stages' own schemas."""

import datetime as dt
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for ingest_fixtures

from caffe_workflow.rows import rows_table as catalog_table  # noqa: E402
from caffe_workflow.stages import plots  # noqa: E402
from caffe_workflow.stages.evaluate import rows_table as per_image_table  # noqa: E402
from ingest_fixtures import make_row, with_labelled  # noqa: E402

SIZE = (400, 300)


def front(k: int) -> list:
    """A normalised front across the image, lower for larger k."""
    return [[[x / 10, 0.3 + 0.02 * k + 0.01 * (x % 2)] for x in range(11)]]


def stem(glacier: str, date: dt.date, i: int) -> str:
    return f"{glacier}_{date.isoformat()}_TSX_7_1_{i:03d}"


def catalog_row(root, glacier, date, i, size=SIZE, labelled=True):
    row = make_row(i, root, glacier)
    row.update(
        stem=stem(glacier, date, i),
        date_taken=date,
        year=date.year,
        satellite="TSX",
        spatial_resolution=7,
        width=size[0],
        height=size[1],
        front_lines=front(i),
        zones_path=None,
    )
    if not labelled:  # an image without label files: valid, no front
        row.update(front_lines=None, front_extent=None, front_path=None, front_length_km=None)
    return row


def write_catalog(path, rows, labelled=None):
    pq.write_table(with_labelled(catalog_table(rows), labelled), path)
    return path


def model_row(catalog_row, lines, valid=True, labelled=True):
    return {
        "stem": catalog_row["stem"],
        "split": catalog_row["split"],
        "model": "net",
        "kind": "zones",
        "valid": valid,
        "reason": None if valid else "size differs from the label",
        "glacier": catalog_row["glacier"],
        "resolution": 7,
        "date_taken": catalog_row["date_taken"],
        "width": catalog_row["width"] if valid else None,
        "height": catalog_row["height"] if valid else None,
        "has_front": bool(lines) if valid else None,
        "mde_m": 12.0 if valid and labelled and lines else None,
        "front_lines": lines if valid else None,
    }


def write_per_image(path, rows, labelled=None):
    pq.write_table(with_labelled(per_image_table(rows), labelled), path)
    return path


@pytest.fixture
def scene(tmp_path):
    """JAC: 5 labelled images of one size, one of another size, one without
    labels; COL: 2 labelled images. The model `net` scored 3 of JAC's labelled
    images of the common size, the other size, the image without labels, and
    failed on one (invalid); it has no prediction of COL."""
    days = [dt.date(2010 + k, 6, 1) for k in range(7)]
    jac = [catalog_row(tmp_path, "JAC", d, i) for i, d in enumerate(days[:5])]
    other = catalog_row(tmp_path, "JAC", days[5], 5, size=(200, 150))
    bare = catalog_row(tmp_path, "JAC", days[6], 6, labelled=False)
    col = [catalog_row(tmp_path, "COL", d, 7 + i) for i, d in enumerate(days[:2])]
    rows = jac + [other, bare] + col
    thumb = tmp_path / "thumbnails" / f"{jac[3]['stem']}.jpg"
    thumb.parent.mkdir()
    Image.new("L", SIZE, 90).save(thumb)
    jac[3]["thumbnail_path"] = str(thumb)
    catalog = write_catalog(tmp_path / "catalog.parquet", rows, [r is not bare for r in rows])
    scored = [model_row(r, front(i + 1)) for i, r in enumerate(jac[1:4])]
    scored += [model_row(other, front(2)), model_row(jac[4], None, valid=False)]
    # Its row may have no size (no label to read it from): the image's is used.
    scored.append(model_row(bare, front(9), labelled=False) | {"width": None, "height": None})
    flags = [True] * (len(scored) - 1) + [False]
    return {
        "catalog": catalog,
        "rows": rows,
        "model_rows": scored,
        "per_image": write_per_image(tmp_path / "per_image.parquet", scored, flags),
        "plain": write_per_image(tmp_path / "plain.parquet", scored),  # no `labelled`
        "thumbnail": jac[3]["stem"],
    }


@pytest.mark.filterwarnings("error")
def test_a_models_fronts_beside_the_labelled_fronts_of_the_images_it_scored(scene, tmp_path):
    png = tmp_path / "report" / "fronts_over_time" / "net.png"
    drawn = plots.write_model_fronts(scene["catalog"], scene["per_image"], "net", png)
    # Only the glacier the model has valid predictions of; COL has none.
    assert list(drawn) == ["JAC"]
    assert drawn["JAC"] == {
        "size": SIZE,  # the footprint of most of the model's fronts
        "model": 4,  # 3 labelled images and the one without labels
        "model_of": 4,
        "unlabelled": 1,
        "labels": 3,  # the labelled fronts of the images it scored, of that size
        "labels_of": 3,
        "scored": 5,  # its valid predictions of JAC (the invalid one is not drawn)
        "thumbnail": scene["thumbnail"],  # the latest readable one of either side
    }
    # One pair of panels, with the label panel's size of the catalog figure.
    with Image.open(png) as image:
        assert image.format == "PNG"
        assert image.size == (round((4.6 * 2 + 1) * plots.DPI), round((4.2 + 0.6) * plots.DPI))


def test_a_per_image_file_without_the_labelled_column_is_all_labelled(scene, tmp_path):
    drawn = plots.write_model_fronts(scene["catalog"], scene["plain"], "net", tmp_path / "n.png")
    assert drawn["JAC"]["model"] == 4 and drawn["JAC"]["unlabelled"] == 0


def test_the_pair_is_of_one_footprint_in_date_order(scene):
    labels, _ = plots._without_lines(
        pq.read_table(scene["catalog"], columns=plots.FRONT_MAP_COLUMNS)
    )
    model, _ = plots.load_model_fronts(scene["per_image"], labels)
    assert list(model["labelled"]) == [True] * 4 + [False]  # the invalid row is left out
    assert list(model["width"]) == [SIZE[0]] * 3 + [200, SIZE[0]]  # the last from the catalog
    pair = plots.pair_groups(labels, model)["JAC"]
    for side in ("labels", "model"):
        assert list(pair[side]["date_taken"]) == sorted(pair[side]["date_taken"])
        assert set(zip(pair[side]["width"], pair[side]["height"])) == {SIZE}
    assert set(pair["labels"]["stem"]) < set(pair["model"]["stem"])


@pytest.mark.filterwarnings("error")
def test_fewer_fronts_drawn_than_scored(scene, tmp_path):
    drawn = plots.write_model_fronts(
        scene["catalog"], scene["per_image"], "net", tmp_path / "few.png", max_fronts=2
    )
    assert (drawn["JAC"]["model"], drawn["JAC"]["model_of"]) == (2, 4)
    assert (drawn["JAC"]["labels"], drawn["JAC"]["labels_of"]) == (2, 3)


@pytest.mark.filterwarnings("error")
def test_a_model_that_found_no_front_and_a_catalog_without_fronts(scene, tmp_path):
    rows = scene["rows"]
    col = [r for r in rows if r["glacier"] == "COL"]
    per_image = write_per_image(tmp_path / "none.parquet", [model_row(r, []) for r in col])
    drawn = plots.write_model_fronts(scene["catalog"], per_image, "net", tmp_path / "a.png")
    # No model front: the labels' footprint, and the labels alone.
    assert drawn["COL"]["size"] == SIZE and drawn["COL"]["labels"] == 2
    assert drawn["COL"]["model"] == 0 and drawn["COL"]["scored"] == 2

    # Images without labels only, and a model without a front: two sentences.
    bare = [
        catalog_row(tmp_path, "COL", r["date_taken"], 20 + i, labelled=False)
        for i, r in enumerate(col)
    ]
    catalog = write_catalog(tmp_path / "bare.parquet", bare, [False] * len(bare))
    per_image = write_per_image(tmp_path / "bare_model.parquet", [model_row(r, []) for r in bare])
    drawn = plots.write_model_fronts(catalog, per_image, "net", tmp_path / "b.png")
    assert drawn["COL"]["size"] is None and drawn["COL"]["labels"] == 0
    with Image.open(tmp_path / "b.png") as image:
        assert image.format == "PNG"


@pytest.mark.filterwarnings("error")
def test_no_valid_prediction_is_a_figure_with_a_sentence(scene, tmp_path):
    per_image = write_per_image(tmp_path / "empty.parquet", [])
    assert plots.write_model_fronts(scene["catalog"], per_image, "net", tmp_path / "e.png") == {}
    with Image.open(tmp_path / "e.png") as image:
        assert image.format == "PNG"


def test_a_file_that_is_no_per_image_table_is_one_line(scene, tmp_path):
    path = tmp_path / "other.parquet"
    pq.write_table(pa.table({"stem": ["x"]}), path)
    with pytest.raises(ValueError, match=r"other.parquet: no column glacier, .*rerun") as err:
        plots.write_model_fronts(scene["catalog"], path, "net", tmp_path / "x.png")
    assert "\n" not in str(err.value)


def test_the_command_line_writes_every_figure_and_each_models(scene, tmp_path):
    out = tmp_path / "report"
    argv = ["--catalog", str(scene["catalog"]), "--out-dir", str(out)]
    assert plots.main([*argv, "--model", f"net={scene['per_image']}"]) == 0
    names = {p.relative_to(out).as_posix() for p in out.rglob("*.*")}
    assert names == set(plots.OUTPUTS.values()) | {f"{plots.MODEL_FRONTS_DIR}/net.png"}


def test_the_rule_writes_where_the_module_says():
    rules = (Path(__file__).resolve().parents[2] / "workflow" / "rules" / "plots.smk").read_text()
    assert f'/report/{plots.MODEL_FRONTS_DIR}/{{{{model}}}}.png"' in rules
    for name in plots.OUTPUTS.values():
        assert f'/report/{name}"' in rules
