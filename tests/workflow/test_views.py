"""Issue 15 on a real Snakemake run of generated data and a real mongod: the
time-ordered saved views (dynamic groups per glacier and per glacier and
sensor, per-glacier views sorted by date), their stability over reruns, a
user's saved view surviving, and the fronts-over-time figure."""

from pathlib import Path

import pytest
from PIL import Image

import runner
from caffe_dev.sample_data import generate
from caffe_workflow.ingest import views as ig
from caffe_workflow.stages import plots

pytestmark = [pytest.mark.slow, pytest.mark.mongod]

DATASET = "caffe-views-test"
FIGURE_DATASET = "caffe-views-figure-test"


def snakemake(workdir: Path, data_dir: Path, env: dict, *extra: str) -> str:
    return runner.run(workdir, data_dir, DATASET, env, *extra).log


def view_docs(dataset) -> dict[str, dict]:
    """The stored saved views' info (name, description, slug, colour, times)
    but last_loaded_at, which every load sets (the ingest's comparisons too);
    writing a view again sets its last_modified_at."""
    dataset.reload()
    infos = dataset.list_saved_views(info=True)
    return {i["name"]: {k: v for k, v in i.items() if k != "last_loaded_at"} for i in infos}


def check_order(dataset, rows: list[dict]) -> None:
    """Every managed time view holds the right samples in date order."""
    dated = [r for r in rows if r["glacier"] and r["date_taken"]]
    for name, key in (
        ("glacier-timeline", ["glacier"]),
        ("glacier-sensor-timeline", ["glacier", "satellite"]),
    ):
        view = dataset.load_saved_view(name)
        groups = {}  # iter_dynamic_groups() raises ValueError without dynamic groups
        for group in view.iter_dynamic_groups():
            keys = {tuple(k) for k in zip(*(group.values(f) for f in key))}
            assert len(keys) == 1, (name, keys)
            dates = group.values("date_taken")
            assert dates == sorted(dates), (name, keys, dates)
            groups[keys.pop()] = sorted(group.values("stem"))
        want = {}
        for r in dated:
            want.setdefault(tuple(r[f] for f in key), []).append(r["stem"])
        assert groups == {k: sorted(v) for k, v in want.items()}, name
    for glacier in {r["glacier"] for r in dated}:
        view = dataset.load_saved_view(glacier)
        dates = view.values("date_taken")
        assert dates == sorted(dates) and len(dates) == sum(
            r["glacier"] == glacier for r in rows
        ), glacier


def test_time_views_are_ordered_stable_and_leave_users_views(tmp_path, fiftyone_env):
    import fiftyone as fo

    data_dir, workdir = tmp_path / "data_raw", tmp_path / "work"
    generate(data_dir, count=21, seed=11)
    snakemake(workdir, data_dir, fiftyone_env)
    dataset = fo.load_dataset(DATASET)
    first = view_docs(dataset)
    glaciers = set(dataset.distinct("glacier"))
    assert len(glaciers) == 7
    assert set(first) == {
        "train",
        "test",
        "val",
        "invalid",
        "unlabelled",
        *glaciers,
        *ig.TIMELINE_VIEWS,
        ig.DUPLICATES_VIEW,
    }
    assert sorted(dataset.info["_caffe_saved_views"]) == sorted(first)

    # A user's view, then the ingest again on unchanged data: no managed view
    # is rewritten (same stored documents, timestamps included).
    dataset.save_view(
        "my-mapple", dataset.match(fo.ViewField("glacier") == "Mapple").limit(2), description="mine"
    )
    mine = view_docs(dataset)["my-mapple"]
    log = snakemake(workdir, data_dir, fiftyone_env, "--forcerun", "ingest")
    assert runner.job_counts(log).get("ingest") == 1
    assert view_docs(dataset) == first | {"my-mapple": mine}

    rows = runner.catalog(workdir, DATASET)
    check_order(dataset, rows)

    # New images of the same glaciers: the views' definitions do not change,
    # the new samples join
    # their groups in date order, and the user's view is untouched.
    before = view_docs(dataset)
    generate(data_dir, count=6, seed=11, first_index=21)
    snakemake(workdir, data_dir, fiftyone_env)
    after = view_docs(dataset)
    assert after["my-mapple"] == mine
    assert after == before
    rows = runner.catalog(workdir, DATASET)
    assert len(dataset) == len(rows) == 27
    check_order(dataset, rows)
    assert len(dataset.load_saved_view("my-mapple")) == 2


def test_fronts_over_time_figure_has_one_panel_per_glacier(tmp_path, fiftyone_env):
    data_dir, workdir = tmp_path / "data_raw", tmp_path / "work"
    generate(data_dir, count=24, seed=4)
    runner.run(workdir, data_dir, FIGURE_DATASET, fiftyone_env, "--until", "plots")
    report = runner.results(workdir, FIGURE_DATASET) / "report"
    figure = report / plots.OUTPUTS["front_maps"]

    catalog = runner.results(workdir, FIGURE_DATASET) / "catalog.parquet"
    df = plots.load_front_maps(catalog)
    drawn = plots.plot_front_maps(df, tmp_path / "again.png")
    assert set(drawn) == set(df["glacier"].dropna())
    assert len(drawn) == 7
    for glacier, panel in drawn.items():
        part = df[df["glacier"] == glacier]
        # The largest footprint (image size) among images with a front.
        with_fronts = part[part["has_front"]]
        # Lines were loaded for exactly the images drawn.
        assert part["front_lines"].notna().sum() == panel["images"]
        sizes = with_fronts.groupby(["width", "height"]).size()
        assert panel["of"] == sizes.max() and panel["size"] in list(sizes.index)
        assert panel["images"] == min(sizes.max(), plots.MAX_FRONTS)
        assert panel["polylines"] >= panel["images"] and panel["thumbnail"] in set(part["stem"])
        assert panel["first"] <= panel["last"]

    # More fronts than a panel draws: evenly spaced, first and last included.
    few = plots.plot_front_maps(df, tmp_path / "few.png", max_fronts=3)
    for glacier, panel in few.items():
        assert panel["images"] == min(drawn[glacier]["of"], 3)
        assert (panel["first"], panel["last"]) == (drawn[glacier]["first"], drawn[glacier]["last"])

    # 7 panels: 3 columns by 3 rows, at the figure size plot_front_maps uses.
    with Image.open(figure) as image, Image.open(tmp_path / "again.png") as again:
        assert image.format == "PNG" and image.size == again.size
        assert image.size == (round((4.6 * 3 + 1) * plots.DPI), round((4.2 * 3 + 0.6) * plots.DPI))
