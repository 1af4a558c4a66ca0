"""Ingest: catalog Parquet -> FiftyOne dataset, against a real mongod.

The database tests use the session's private mongod (tests/conftest.py), to
which FiftyOne is already pointed; each test uses its own dataset name.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for ingest_fixtures

from caffe_dev.mongod import free_port  # noqa: E402
from caffe_workflow.database import mask_uri  # noqa: E402
from caffe_workflow.ingest import catalog_reader  # noqa: E402
from caffe_workflow.ingest import samples as ingest_samples  # noqa: E402
from caffe_workflow.ingest import schema as ingest_schema  # noqa: E402
from caffe_workflow.ingest import views as ingest_views  # noqa: E402
from caffe_workflow.rows import ROW_SCHEMA, rows_table  # noqa: E402
from caffe_workflow.stages import ingest as ig  # noqa: E402
from ingest_fixtures import (  # noqa: E402
    make_caffe_rows,
    make_invalid_row,
    make_row,
    write_catalog,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fo(mongod):
    import fiftyone

    return fiftyone


@pytest.fixture
def name(fo):
    """A fresh dataset name, deleted afterwards."""
    dataset_name = f"caffe-test-{uuid.uuid4().hex[:8]}"
    yield dataset_name
    if fo.dataset_exists(dataset_name):
        fo.delete_dataset(dataset_name)


def small_rows(root: Path) -> list[dict]:
    """Eight rows: both splits, four glaciers, one invalid."""
    glaciers = ["JAC", "JAC", "DBE", "COL", "COL", "Mapple", "DBE"]
    rows = [make_row(i, root, g) for i, g in enumerate(glaciers)]
    rows.append(make_invalid_row(7, root, "DBE"))
    return rows


def saved_view_infos(dataset) -> dict:
    """{name: info} of the saved views; info without last_loaded_at, which
    every load_saved_view() sets."""
    infos = dataset.list_saved_views(info=True)
    return {i["name"]: {k: v for k, v in i.items() if k != "last_loaded_at"} for i in infos}


def catalog_hash(row: dict) -> str:
    """The catalog hash by its definition, written independently of
    ingest.catalog_hash: the first 32 hex digits of the SHA-256 of the JSON of
    [INGEST_FORMAT, row_sha, evaluation or null], where row_sha is the first
    32 hex digits of the SHA-256 of the JSON of the row's catalog columns
    (null where missing); keys sorted, no spaces, dates in ISO format.
    test_catalog_hash_known_answer pins the outer text by hand."""
    columns = {name: row.get(name) for name in ROW_SCHEMA.names if name != "row_sha"}
    text = json.dumps(
        columns, sort_keys=True, separators=(",", ":"), default=lambda value: value.isoformat()
    )
    sha = hashlib.sha256(text.encode()).hexdigest()[:32]
    text = json.dumps(
        [ingest_samples.INGEST_FORMAT, sha, row.get("evaluation")],
        sort_keys=True,
        separators=(",", ":"),
        default=lambda value: value.isoformat(),
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def by_filepath(dataset) -> dict:
    return {s.filepath: s for s in dataset.iter_samples()}


def assert_matches_catalog(dataset, rows: list[dict]) -> None:
    """Every managed field of every sample equals the catalog."""
    samples = by_filepath(dataset)
    assert sorted(samples) == sorted(r["filepath"] for r in rows)
    assert len(dataset) == len(rows)
    for row in rows:
        s = samples[row["filepath"]]
        for field in (
            "stem",
            "split",
            "glacier",
            "glacier_name",
            "satellite",
            "sensor_band",
            "season",
            "hemisphere",
            "orbit",
            "modality",
            "image_mode",
            "date_taken",
            "year",
            "spatial_resolution",
            "quality_factor",
            "zone_na_fraction",
            "zone_rock_fraction",
            "zone_glacier_fraction",
            "zone_ocean_fraction",
            "front_pixels",
            "front_length_km",
            "valid",
            "thumbnail_path",
        ):
            assert s[field] == row[field], (field, s[field], row[field])
        assert list(s.problems) == row["problems"]
        assert list(s.warnings) == row["warnings"]
        assert s.catalog_hash == catalog_hash(row)
        managed = {t for t in s.tags if t in ingest_samples.MANAGED_TAGS}
        assert managed == {row["split"]} | (set() if row["valid"] else {"invalid"})
        assert s.metadata.width == row["width"] and s.metadata.height == row["height"]
        assert s.metadata.size_bytes == row["size_bytes"]
        assert (s.zones.mask_path if s.zones else None) == row["zones_path"]
        assert (s.front.mask_path if s.front else None) == row["front_path"]
        if row["front_lines"]:
            got = [[list(p) for p in pl.points[0]] for pl in s.front_lines.polylines]
            assert got == row["front_lines"]
        else:
            assert s.front_lines is None
        assert (s.front_extent.bounding_box if s.front_extent else None) == row["front_extent"]


# ------------------------------------------------------------ no database needed


def test_mask_uri_hides_credentials():
    assert mask_uri("mongodb://caffeuser:s3cret@db.example:27017/x?authSource=admin") == (
        "mongodb://***@db.example:27017/x?authSource=admin"
    )
    assert mask_uri("mongodb://127.0.0.1:27017") == "mongodb://127.0.0.1:27017"


def test_catalog_hash_known_answer():
    row = {
        "stem": "COL_2011-01-05_TDX_7_1_083",
        "row_sha": "0123456789abcdef0123456789abcdef",
        "evaluation": {"m1": {"mde_m": 2.5, "status": "scored"}},
    }
    text = (
        f'[{ingest_samples.INGEST_FORMAT},"0123456789abcdef0123456789abcdef",'
        '{"m1":{"mde_m":2.5,"status":"scored"}}]'
    )
    assert ingest_samples.catalog_hash(row) == hashlib.sha256(text.encode()).hexdigest()[:32]
    without = f'[{ingest_samples.INGEST_FORMAT},"0123456789abcdef0123456789abcdef",null]'
    row.pop("evaluation")
    assert ingest_samples.catalog_hash(row) == hashlib.sha256(without.encode()).hexdigest()[:32]


def test_catalog_hash_of_a_row_without_row_sha(tmp_path):
    """A catalog made without row_sha (by hand, or an older workflow's): its
    rows hash as the same rows with row_sha do, so that neither rewrites the
    other's samples."""
    fixed = {
        "stem": "COL_2011-01-05_TDX_7_1_083",
        "split": "test",
        "filepath": "/data/sar_images/test/COL_2011-01-05_TDX_7_1_083.png",
        "date_taken": datetime.date(2011, 1, 5),
        "valid": True,
        "problems": [],
    }
    # Pinned: a change rewrites every sample of every dataset once, so it
    # must come with a new INGEST_FORMAT (and a new value here).
    assert ingest_samples.INGEST_FORMAT == 4
    assert ingest_samples.catalog_hash(fixed) == "880ac8fb97f843171c9383741b508c91"

    row = make_row(3, tmp_path)
    assert "row_sha" not in row
    # The row as the per-image stage writes it, with row_sha, read back.
    (stored,) = rows_table([row]).to_pylist()
    assert stored["row_sha"]
    assert ingest_samples.catalog_hash(row) == ingest_samples.catalog_hash(stored)
    assert ingest_samples.catalog_hash(row) == ingest_samples.catalog_hash(
        dict(reversed(list(row.items())))
    )
    # A key that is no catalog column is not part of the row.
    assert ingest_samples.catalog_hash(row) == ingest_samples.catalog_hash(row | {"extra": 1})
    for change in (
        {"quality_factor": 6},
        {"front_lines": [[[0.0, 0.0], [1.0, 1.0]]]},
        {"evaluation": {"m1": {"mde_m": 1.0}}},
    ):
        assert ingest_samples.catalog_hash(row) != ingest_samples.catalog_hash(row | change)
    # Dates hash as their ISO text, in the row and in its evaluations.
    iso = fixed | {"date_taken": "2011-01-05"}
    assert ingest_samples.catalog_hash(iso) == ingest_samples.catalog_hash(fixed)
    dated = row | {"evaluation": {"m1": {"date_taken": datetime.date(2011, 1, 5)}}}
    as_text = row | {"evaluation": {"m1": {"date_taken": "2011-01-05"}}}
    assert ingest_samples.catalog_hash(dated) == ingest_samples.catalog_hash(as_text)


def test_progress_is_a_bar_on_a_terminal_and_spaced_log_lines_elsewhere(monkeypatch, caplog):
    import io

    from caffe_workflow.ingest import progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    bar = progress.Progress(4, stream=terminal)
    assert list(bar.each("ab")) == ["a", "b"]
    bar.count(2)
    bar.close()
    assert "4/4" in terminal.getvalue() and "image" in terminal.getvalue()

    log_file = io.StringIO()
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
    with caplog.at_level("INFO", logger="caffe_workflow.stages.ingest"):
        lines = progress.Progress(3, stream=log_file)
        lines.count(1)
        lines.count(1)
        lines.count(1)  # the last: the ingest's summary line says it
        lines.close()
    assert log_file.getvalue() == ""  # no bar redraws in a log file
    assert [r.getMessage() for r in caplog.records] == [
        "ingest: 1 of 3 images done",
        "ingest: 2 of 3 images done",
    ]


def test_duplicate_filepath_is_refused(tmp_path):
    row = make_row(1, tmp_path)
    path = write_catalog([row, row | {"stem": "other"}], tmp_path / "catalog.parquet")
    with pytest.raises(catalog_reader.CatalogError, match="appears twice"):
        catalog_reader.read_catalog(path)


def test_unreachable_database_is_one_clear_line(tmp_path):
    port = free_port()  # closed: nothing listens there
    env = dict(
        os.environ,
        FIFTYONE_DATABASE_URI=f"mongodb://caffeuser:s3cret@127.0.0.1:{port}",
        PYTHONPATH=str(REPO / "workflow"),
    )
    catalog = write_catalog([make_row(1, tmp_path)], tmp_path / "catalog.parquet")
    summary = tmp_path / "summary.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "caffe_workflow.stages.ingest",
            "--catalog",
            str(catalog),
            "--dataset",
            "never",
            "--summary",
            str(summary),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(
        f"ERROR: cannot reach the FiftyOne database at mongodb://***@127.0.0.1:{port}"
    )
    assert "s3cret" not in proc.stderr and "caffeuser" not in proc.stderr
    assert "start mongod" in lines[0] and "FIFTYONE_DATABASE_URI" in lines[0]
    assert not summary.exists()


# ------------------------------------------------------------ real database


@pytest.mark.slow
@pytest.mark.mongod
def test_first_ingest_builds_the_dataset(fo, name, tmp_path):
    rows = small_rows(tmp_path)
    summary = ig.ingest(write_catalog(rows, tmp_path / "catalog.parquet"), name)
    assert summary == {
        "added": 8,
        "updated": 0,
        "deleted": 0,
        "unchanged": 0,
        "relinked": 0,
        "total": 8,
        "dataset": name,
    }

    ds = fo.load_dataset(name)
    assert ds.persistent and ds.media_type == "image"
    assert_matches_catalog(ds, rows)

    schema = ds.get_field_schema()
    assert isinstance(schema["date_taken"], fo.DateField)
    for f in ("year", "spatial_resolution", "quality_factor", "front_pixels"):
        assert isinstance(schema[f], fo.IntField), f
    for f in ("zone_ocean_fraction", "front_length_km"):
        assert isinstance(schema[f], fo.FloatField), f
    assert isinstance(schema["valid"], fo.BooleanField)
    assert isinstance(schema["orbit"], fo.StringField)
    assert isinstance(schema["problems"], fo.ListField)
    assert schema["zones"].document_type is fo.Segmentation
    assert schema["front"].document_type is fo.Segmentation
    assert schema["front_lines"].document_type is fo.Polylines
    assert schema["front_extent"].document_type is fo.Detection
    assert schema["metadata"].document_type is fo.ImageMetadata
    assert "Calving front" in schema["front_lines"].description
    # Nulls in every row of a batch must not lose the type: modality is all null.
    assert isinstance(schema["modality"], fo.StringField)

    assert ds.get_index_information()["filepath"].get("unique") is True
    assert ds.count_sample_tags() == {"train": 5, "test": 3, "invalid": 1}

    sample = ds.match(fo.ViewField("valid")).first()
    assert sample.zones.mask is None and sample.zones.mask_path.endswith("_zones.png")
    assert sample.metadata.mime_type == "image/png" and sample.metadata.num_channels == 1
    line = sample.front_lines.polylines[0]
    assert (line.label, line.closed, line.filled) == ("front", False, False)
    assert sample.front_extent.label == "front_extent"

    bad = ds.match_tags("invalid").first()
    assert bad.valid is False and bad.problems and bad.zones is None and bad.front_lines is None

    assert ds.mask_targets == {
        "zones": {0: "NA", 64: "rock", 127: "glacier", 254: "ocean"},
        "front": {255: "front"},
    }
    cfg = ds.app_config
    assert cfg.media_fields == ["filepath", "thumbnail_path"]
    assert cfg.grid_media_field == "thumbnail_path"
    assert cfg.active_fields.exclude is False
    assert set(cfg.active_fields.paths) == {"front_lines", "front_extent"}
    colors = {f["path"]: f for f in cfg.color_scheme.fields}
    zone_colors = {c["intTarget"]: c["color"] for c in colors["zones"]["maskTargetsColors"]}
    assert zone_colors == {
        64: ingest_schema.ROCK,
        127: ingest_schema.GLACIER,
        254: ingest_schema.OCEAN,
    }
    assert colors["front_lines"]["fieldColor"] == ingest_schema.FRONT

    managed = {*ingest_views.TIMELINE_VIEWS, ingest_views.DUPLICATES_VIEW}
    glaciers = {"JAC", "DBE", "COL", "Mapple"}
    assert set(ds.list_saved_views()) == {
        "train",
        "test",
        "val",
        "invalid",
        "unlabelled",
        *glaciers,
        *managed,
    }
    # make_row's images are none of the official 56 validation images.
    assert len(ds.load_saved_view("val")) == 0
    assert set(ds.distinct("official_split")) <= {"train", "test"}
    assert ds.load_saved_view("JAC").values("date_taken") == sorted(
        r["date_taken"] for r in rows if r["glacier"] == "JAC"
    )
    timeline = ds.load_saved_view("glacier-timeline")
    # iter_dynamic_groups() raises ValueError on a view without dynamic groups.
    groups = {g.first().glacier: g.values("date_taken") for g in timeline.iter_dynamic_groups()}
    assert {k: len(v) for k, v in groups.items()} == {"JAC": 2, "DBE": 3, "COL": 2, "Mapple": 1}
    assert all(dates == sorted(dates) for dates in groups.values())
    assert len(ds.load_saved_view("test")) == 3
    assert len(ds.load_saved_view("DBE")) == 3
    assert len(ds.load_saved_view("invalid")) == 1

    assert "10.5194/essd-14-4287-2022" in ds.info["citation"]
    assert ds.info["license"] == "CC-BY-4.0"
    assert "10.1594/PANGAEA.940950" in ds.info["source"]
    assert "front_lines" in ds.info["fields"]
    assert "CaFFe" in ds.description


@pytest.mark.slow
@pytest.mark.mongod
def test_rerun_without_changes_writes_nothing(fo, name, tmp_path):
    catalog = write_catalog(small_rows(tmp_path), tmp_path / "catalog.parquet")
    ig.ingest(catalog, name)
    ds = fo.load_dataset(name)
    ds.reload()  # the ingest's in-memory copy has timestamps finer than Mongo's ms
    before = dict(zip(*ds.values(["id", "last_modified_at"])))
    views_before = saved_view_infos(ds)
    ds_modified = ds.last_modified_at

    summary = ig.ingest(catalog, name)
    assert summary == {
        "added": 0,
        "updated": 0,
        "deleted": 0,
        "unchanged": 8,
        "relinked": 0,
        "total": 8,
        "dataset": name,
    }
    ds.reload()
    assert dict(zip(*ds.values(["id", "last_modified_at"]))) == before
    assert saved_view_infos(ds) == views_before
    assert ds.last_modified_at == ds_modified


@pytest.mark.slow
@pytest.mark.mongod
def test_change_add_delete_gives_exact_counts_and_dataset(fo, name, tmp_path):
    rows = small_rows(tmp_path)
    catalog = tmp_path / "catalog.parquet"
    ig.ingest(write_catalog(rows, catalog), name)
    ds = fo.load_dataset(name)
    untouched = rows[1]["filepath"]
    stamp = ds.one(fo.ViewField("filepath") == untouched).last_modified_at

    rows[0] = rows[0] | {"quality_factor": 6, "front_lines": [[[0.0, 0.5], [1.0, 0.5]]]}
    del rows[2]  # a DBE row; DBE keeps two
    rows += [make_row(100, tmp_path, "SI"), make_row(101, tmp_path, "JAC")]
    summary = ig.ingest(write_catalog(rows, catalog), name)
    assert summary == {
        "added": 2,
        "updated": 1,
        "deleted": 1,
        "unchanged": 6,
        "relinked": 0,
        "total": 9,
        "dataset": name,
    }
    ds.reload()
    assert_matches_catalog(ds, rows)
    assert ds.one(fo.ViewField("filepath") == untouched).last_modified_at == stamp
    assert "SI" in ds.list_saved_views()

    # The last Mapple image goes: its saved view goes with it.
    rows = [r for r in rows if r["glacier"] != "Mapple"]
    summary = ig.ingest(write_catalog(rows, catalog), name)
    assert (summary["deleted"], summary["total"]) == (1, 8)
    ds.reload()
    assert "Mapple" not in ds.list_saved_views()
    assert_matches_catalog(ds, rows)

    # And a second identical run is a no-op.
    assert ig.ingest(catalog, name)["unchanged"] == 8

    # An empty catalog is refused rather than emptying the dataset.
    with pytest.raises(catalog_reader.CatalogError, match="refusing to delete all 8"):
        ig.ingest(write_catalog([], catalog), name)
    assert len(ds) == 8


@pytest.mark.slow
@pytest.mark.mongod
def test_user_tags_fields_labels_and_views_survive(fo, name, tmp_path):
    rows = small_rows(tmp_path)
    catalog = tmp_path / "catalog.parquet"
    ig.ingest(write_catalog(rows, catalog), name)
    ds = fo.load_dataset(name)
    target = rows[0]["filepath"]

    sample = ds.one(fo.ViewField("filepath") == target)
    sample.tags.append("checked")
    sample["reviewer"] = "ann"
    sample["predictions"] = fo.Segmentation(mask_path="/tmp/pred.png")
    sample.zones.tags.append("suspicious")
    sample.save()
    ds.save_view("my-view", ds.match_tags("checked"), description="mine")
    ds.info["my_note"] = "keep"
    ds.save()

    # The row turns invalid (zones dropped), then valid again with new paths.
    rows[0] = make_invalid_row(0, tmp_path, "JAC")
    assert ig.ingest(write_catalog(rows, catalog), name)["updated"] == 1
    ds.reload()
    sample = ds.one(fo.ViewField("filepath") == target)
    assert set(sample.tags) == {"train", "invalid", "checked"}
    assert sample.zones is None

    rows[0] = make_row(0, tmp_path, "JAC") | {"zones_path": "/new/zones.png"}
    assert ig.ingest(write_catalog(rows, catalog), name)["updated"] == 1
    ds.reload()
    sample = ds.one(fo.ViewField("filepath") == target)
    assert set(sample.tags) == {"train", "checked"}
    assert sample.reviewer == "ann"
    assert sample.predictions.mask_path == "/tmp/pred.png"
    assert sample.zones.mask_path == "/new/zones.png"
    assert ds.has_saved_view("my-view") and len(ds.load_saved_view("my-view")) == 1
    assert ds.get_saved_view_info("my-view")["description"] == "mine"
    assert ds.info["my_note"] == "keep"
    assert_matches_catalog(ds, rows)

    # An in-place label update keeps the label's id and label tags.
    zones_id = sample.zones.id
    rows[0] = rows[0] | {"zones_path": "/newer/zones.png"}
    ig.ingest(write_catalog(rows, catalog), name)
    ds.reload()
    sample = ds.one(fo.ViewField("filepath") == target)
    assert sample.zones.id == zones_id and sample.zones.mask_path == "/newer/zones.png"


@pytest.mark.slow
@pytest.mark.mongod
def test_a_users_view_under_a_newly_managed_name_is_kept(fo, name, tmp_path):
    catalog = write_catalog(small_rows(tmp_path), tmp_path / "catalog.parquet")
    ig.ingest(catalog, name)
    ds = fo.load_dataset(name)
    # As if made before this ingest managed the name: the user's, not ours.
    ds.info["_caffe_saved_views"].remove("glacier-timeline")
    ds.save()
    ds.save_view("glacier-timeline", ds.limit(2), description="mine", overwrite=True)
    ig.ingest(catalog, name)
    ds.reload()
    assert ds.get_saved_view_info("glacier-timeline")["description"] == "mine"
    assert len(ds.load_saved_view("glacier-timeline")) == 2
    assert "glacier-timeline" not in ds.info["_caffe_saved_views"]


@pytest.mark.slow
@pytest.mark.mongod
def test_cli_writes_summary_atomically(fo, name, tmp_path, fiftyone_env):
    catalog = write_catalog(small_rows(tmp_path), tmp_path / "catalog.parquet")
    summary = tmp_path / "out" / "ingest_summary.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "caffe_workflow.stages.ingest",
            "--catalog",
            str(catalog),
            "--dataset",
            name,
            "--summary",
            str(summary),
        ],
        env=fiftyone_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(summary.read_text()) == {
        "added": 8,
        "updated": 0,
        "deleted": 0,
        "unchanged": 0,
        "relinked": 0,
        "total": 8,
        "dataset": name,
    }
    assert [p.name for p in summary.parent.iterdir()] == ["ingest_summary.json"]
    assert proc.stdout == ""


@pytest.mark.slow
@pytest.mark.mongod
def test_681_rows_then_a_rerun_that_changes_nothing(fo, name, tmp_path):
    # The ingest's speed at this size is the benchmark's business, not a test's.
    rows = make_caffe_rows(tmp_path)
    catalog = write_catalog(rows, tmp_path / "catalog.parquet")
    first = ig.ingest(catalog, name)
    again = ig.ingest(catalog, name)
    assert first["added"] == 681 and again["unchanged"] == 681
    assert_matches_catalog(fo.load_dataset(name), rows)
