"""The CaFFe-format sample data generator (small images; fast)."""

import datetime as dt
import hashlib
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from caffe_dev import sample_data as sd

STEM = re.compile(
    r"^(COL|JAC|Crane|DBE|Jorum|Mapple|SI)_(\d{4}-\d{2}-\d{2})_"
    r"(ERS|ENVISAT|RSAT|S1|PALSAR|TSX|TDX)_(\d+)_([1-6])_(\d{3})$"
)
# (satellite, resolution) combinations of the real data, by glacier (CAFFE.md).
COMBOS = {
    ("ERS", 20),
    ("ENVISAT", 20),
    ("S1", 20),
    ("PALSAR", 17),
    ("RSAT", 12),
    ("RSAT", 20),
    ("TSX", 7),
}
TEST_GLACIERS = {"COL", "Mapple"}
REAL_GLACIER_COUNTS = {
    "COL": 65,
    "Mapple": 57,
    "Crane": 69,
    "DBE": 133,
    "JAC": 159,
    "Jorum": 77,
    "SI": 121,
}
REAL_SATELLITE_COUNTS = {
    "TSX": 348,
    "ENVISAT": 82,
    "ERS": 54,
    "RSAT": 54,
    "PALSAR": 48,
    "S1": 48,
    "TDX": 47,
}


def allowed(glacier, satellite, resolution):
    if glacier == "JAC":
        return (satellite, resolution) == ("TSX", 6)
    if satellite == "TDX":
        return glacier == "COL" and resolution == 7
    return (satellite, resolution) in COMBOS


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def load(path: Path) -> np.ndarray:
    """An 8-bit grayscale PNG as an array (checks the mode, closes the file)."""
    with Image.open(path) as im:
        assert im.mode == "L", path
        return np.array(im)


def split_of(stem):
    return "test" if stem.split("_")[0] in TEST_GLACIERS else "train"


def files_of(root: Path, stem: str) -> dict[str, Path]:
    s = split_of(stem)
    return {
        "sar": root / "sar_images" / s / f"{stem}.png",
        "zones": root / "zones" / s / f"{stem}_zones.png",
        "front": root / "fronts" / s / f"{stem}_front.png",
        "bbox": root / "bounding_boxes" / f"{stem}_front_extent_coord.txt",
    }


@pytest.fixture(scope="module")
def data14(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample") / "data_raw"
    stats = {}
    stems = sd.generate(root, 14, seed=0, jobs=2, stats=stats)  # a process pool
    return root, stems, stats


def test_layout_and_counts(data14):
    root, stems, stats = data14
    assert len(stems) == len(set(stems)) == 14
    assert stats["written"] == 14 and stats["skipped"] == 0
    expected = {str(p.relative_to(root)) for s in stems for p in files_of(root, s).values()}
    actual = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert actual == expected  # nothing else, in particular no temporary files
    assert len(list(root.glob("bounding_boxes/*"))) == 14
    assert stats["bytes"] == sum((root / p).stat().st_size for p in actual)


def test_count_14_covers_glaciers_satellites_splits(data14):
    _, stems, _ = data14
    parts = [s.split("_") for s in stems]
    assert {p[0] for p in parts} == set(REAL_GLACIER_COUNTS)
    assert {p[2] for p in parts} == set(REAL_SATELLITE_COUNTS)
    assert {split_of(s) for s in stems} == {"train", "test"}


def test_names_well_formed_and_unique_far_beyond_681():
    specs = [sd.image_spec(3, i) for i in range(4 * 681)]
    stems = [s.stem for s in specs]
    assert len(set(stems)) == len(stems)
    for spec in specs:
        m = STEM.match(spec.stem)
        assert m, spec.stem
        glacier, date, sat, res, quality, orbit = m.groups()
        assert allowed(glacier, sat, int(res)), spec.stem
        assert dt.date(1995, 11, 13) <= dt.date.fromisoformat(date) <= dt.date(2020, 6, 12)
        assert orbit != "000"
        assert (spec.glacier, spec.satellite, spec.resolution, spec.orbit) == (
            glacier,
            sat,
            int(res),
            orbit,
        )
        assert spec.split == split_of(spec.stem)
    # Every allowed combination is used.
    used = {(s.glacier, s.satellite, s.resolution) for s in specs}
    assert len(used) == sum(len(g.sensors) for g in sd.GLACIERS.values()) == 29


@pytest.mark.parametrize("first_index", [0, 681, 1000])
def test_any_681_consecutive_images_have_the_real_counts(first_index):
    specs = [sd.image_spec(0, first_index + i) for i in range(681)]
    assert Counter(s.glacier for s in specs) == REAL_GLACIER_COUNTS
    assert Counter(s.satellite for s in specs) == REAL_SATELLITE_COUNTS
    assert Counter(s.split for s in specs) == {"train": 559, "test": 122}


def test_deterministic_and_index_local(data14, tmp_path):
    root, stems, _ = data14
    again = tmp_path / "again"
    assert sd.generate(again, 14, seed=0, jobs=1) == stems  # one process
    assert digest(again) == digest(root)
    # Images 12 and 13 alone are byte-identical to the same images in the full run.
    part = tmp_path / "part"
    assert sd.generate(part, 2, seed=0, first_index=12) == stems[12:]
    assert digest(part) == {
        k: v for k, v in digest(root).items() if any(s in k for s in stems[12:])
    }
    # Another seed gives other data.
    other = sd.generate(tmp_path / "other", 3, seed=1)
    assert not set(other) & set(stems)


def test_first_index_gives_disjoint_names(tmp_path):
    first = sd.generate(tmp_path, 14, seed=7)
    more = sd.generate(tmp_path, 2, seed=7, first_index=14)
    assert not set(first) & set(more)
    assert len(list(tmp_path.glob("sar_images/*/*.png"))) == 16
    assert more == [sd.image_spec(7, i).stem for i in (14, 15)]


def test_masks_and_sar(data14):
    root, stems, _ = data14
    for stem in stems:
        f = files_of(root, stem)
        sar, zones, front = (load(f[k]) for k in ("sar", "zones", "front"))
        assert sar.shape == zones.shape == front.shape
        assert set(np.unique(zones)) == {0, 64, 127, 254}, stem
        assert set(np.unique(front)) == {0, 255}, stem
        # SAR is 0 exactly on no-data, textured elsewhere, brighter on ice than ocean.
        assert np.array_equal(sar == 0, zones == 0), stem
        assert sar[zones == 127].mean() > sar[zones == 254].mean() + 20
        assert sar[zones == 127].std() > 10
        check_front(zones, front == 255, stem)


def check_front(zones, front, stem):
    """Non-empty, on glacier pixels next to the ocean, one pixel wide, one 8-connected line."""
    ys, xs = np.nonzero(front)
    assert ys.size > 0, stem
    assert (zones[front] == 127).all(), stem
    ocean = zones == 254
    near = np.zeros_like(ocean)
    near[1:] |= ocean[:-1]
    near[:-1] |= ocean[1:]
    near[:, 1:] |= ocean[:, :-1]
    near[:, :-1] |= ocean[:, 1:]
    assert near[front].all(), stem
    # Every glacier pixel next to the ocean is on the front.
    assert np.array_equal(front, (zones == 127) & near), stem
    block = front[1:, 1:] & front[:-1, 1:] & front[1:, :-1] & front[:-1, :-1]
    assert not block.any(), f"{stem}: front thicker than one pixel"
    pixels = set(zip(ys.tolist(), xs.tolist()))
    todo, seen = [next(iter(pixels))], set()
    while todo:
        y, x = todo.pop()
        if (y, x) in seen:
            continue
        seen.add((y, x))
        todo.extend(
            (y + dy, x + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (y + dy, x + dx) in pixels
        )
    assert seen == pixels, f"{stem}: front is not one 8-connected line"


@pytest.mark.parametrize("index", list(range(0, 681, 17)) + [681, 1500, 2723])
def test_front_geometry_many_images(index):
    spec = sd.image_spec(5, index)
    sar, zones, front, corners = sd.render(spec, 5, "small")
    check_front(zones, front == 255, spec.stem)


def test_bounding_box_format(data14):
    root, stems, _ = data14
    for stem in stems:
        lines = files_of(root, stem)["bbox"].read_text().splitlines()
        assert lines[0] == "x,y" and len(lines) == 5
        pts = [tuple(float(v) for v in line.split(",")) for line in lines[1:]]
        (lux, luy), (llx, lly), (rlx, rly), (rux, ruy) = pts
        assert lux == llx < rlx == rux
        assert luy == ruy > lly == rly  # "upper" corners have the larger row
        ys, xs = np.nonzero(load(files_of(root, stem)["front"]))
        assert lux < xs.min() and xs.max() < rux and lly < ys.min() and ys.max() < luy


def test_sizes():
    spec_of = {
        (s.glacier, s.satellite, s.resolution): s for s in (sd.image_spec(0, i) for i in range(681))
    }
    assert sd.image_size(spec_of["JAC", "TSX", 6], "full") == (2639, 3143)
    assert sd.image_size(spec_of["COL", "TDX", 7], "full") == (4476, 2107)
    assert sd.image_size(spec_of["Mapple", "S1", 20], "full") == (382, 405)
    # Same ground at every resolution.
    w7, _ = sd.image_size(spec_of["Mapple", "TSX", 7], "full")
    assert abs(w7 * 7 - 382 * 20) <= 7
    small = [sd.image_size(s, "small") for s in spec_of.values()]
    assert max(max(wh) for wh in small) == 300
    assert min(min(wh) for wh in small) >= sd.SMALL_MIN_SIDE
    for s in spec_of.values():
        (w, h), (sw, sh) = sd.image_size(s, "full"), sd.image_size(s, "small")
        assert abs(sw / sh - w / h) < 0.03 * w / h


def test_full_size_image(tmp_path):
    # The smallest real size, rendered in full: 382 x 405 at 20 m.
    spec = next(
        s
        for s in (sd.image_spec(0, i) for i in range(681))
        if (s.glacier, s.resolution) == ("Mapple", 20)
    )
    sd.generate(tmp_path, 1, size="full", first_index=spec.index)
    f = files_of(tmp_path, spec.stem)
    sar, zones, front = (load(f[k]) for k in ("sar", "zones", "front"))
    assert sar.shape == zones.shape == front.shape == (405, 382)
    check_front(zones, front == 255, spec.stem)


def test_existing_files_kept_unless_forced(tmp_path):
    stems = sd.generate(tmp_path, 3, seed=2, jobs=1)
    before = digest(tmp_path)
    sar = files_of(tmp_path, stems[0])["sar"]
    sar.write_bytes(b"not a png")  # a changed file with the right name is kept
    files_of(tmp_path, stems[1])["zones"].unlink()  # a missing file is redone
    kept = files_of(tmp_path, stems[1])["sar"]
    kept_mtime = kept.stat().st_mtime_ns
    stats = {}
    assert sd.generate(tmp_path, 3, seed=2, jobs=1, stats=stats) == stems
    assert (stats["written"], stats["skipped"]) == (1, 2)
    assert sar.read_bytes() == b"not a png"
    assert kept.stat().st_mtime_ns == kept_mtime  # present files are not rewritten
    after = digest(tmp_path)
    assert {k: v for k, v in after.items() if stems[0] not in k} == {
        k: v for k, v in before.items() if stems[0] not in k
    }
    sd.generate(tmp_path, 3, seed=2, jobs=1, force=True, stats=stats)
    assert stats["written"] == 3 and digest(tmp_path) == before


def test_cli(tmp_path):
    env = dict(os.environ)
    cmd = [
        sys.executable,
        "-m",
        "caffe_dev.sample_data",
        str(tmp_path),
        "--count",
        "2",
        "--seed",
        "4",
        "--first-index",
        "3",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sample_data: 2 images (2 written")
    total = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert f" {total} bytes" in lines[0]
    stems = sorted(p.stem for p in tmp_path.glob("sar_images/*/*.png"))
    assert stems == sorted(sd.image_spec(4, i).stem for i in (3, 4))
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    assert "(0 written, 2 already present)" in again.stdout


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        sd.generate(tmp_path, 1, size="huge")
    with pytest.raises(ValueError):
        sd.generate(tmp_path, -1)


def test_names_stay_unique_and_valid_past_the_distinct_dates():
    from caffe_workflow.caffe.names import parse_stem

    stems = [sd.image_spec(0, i).stem for i in range(25_000)]
    assert len(set(stems)) == len(stems)
    repeated = [s for s in stems if len(s.split("_")) == 7]
    assert repeated and all(s.endswith(("_r1", "_r2")) for s in repeated)
    assert all(not parse_stem(s).problems for s in repeated[:50] + stems[:50])


def test_demo_dataset_explicit_name_is_recorded(tmp_path):
    record = tmp_path / "sample_data" / "dataset_name"
    assert sd.demo_dataset(tmp_path / "data_raw", record, explicit="mine") == "mine"
    assert record.read_text() == "mine\n"


def test_demo_dataset_keeps_the_recorded_name_without_asking_the_database(tmp_path):
    record = tmp_path / "dataset_name"
    record.write_text("caffe-sample-3\n")

    def no_database(*args):
        raise AssertionError("the database was asked")

    assert sd.demo_dataset(tmp_path / "data_raw", record, say=no_database) == "caffe-sample-3"


def test_demo_dataset_unchecked_name_is_not_recorded(tmp_path, monkeypatch):
    # An unreachable database: the default name, not recorded, and one line.
    monkeypatch.setenv("FIFTYONE_DATABASE_URI", "mongodb://127.0.0.1:9")
    import fiftyone as fo  # reads the variable once, at its first import

    monkeypatch.setattr(fo.config, "database_uri", "mongodb://127.0.0.1:9")
    said = []
    record = tmp_path / "dataset_name"
    assert sd.demo_dataset(tmp_path / "data_raw", record, say=said.append) == "caffe-sample"
    assert not record.exists()
    assert len(said) == 1 and said[0].startswith("sample_data: demo dataset name not checked (")
