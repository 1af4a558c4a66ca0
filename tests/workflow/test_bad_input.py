"""Issue 3, bad input: one real workflow run over a corpus of broken files.

Fourteen generated images are good; every other file is a copy of one good
image (and its labels) under a bad name, or a good name with bad content. The
run must complete, every bad case must be named (file and what is wrong) in the
catalog, the validation report and on its FiftyOne sample, the failing label
must not be attached, the good images must come through untouched and the
source tree must not change. Data-dir level errors are one-line errors before
any work.
"""

from __future__ import annotations

import io
import os
import resource
import shutil
import struct
import subprocess
import sys
import time
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

from caffe_dev.sample_data import generate
from caffe_workflow.caffe.layout import label_paths
from runner import REPO, catalog, package_env, results, run, tree_checksums

pytestmark = [pytest.mark.slow, pytest.mark.mongod]

DATASET = "caffe-bad-input-test"
# Marker file that a shell injection through a file name would create.
PWNED = f"pwned-{uuid.uuid4().hex[:8]}"
LABELS = ("zones", "front", "front_lines", "front_extent")


@dataclass
class Case:
    """One source image and what the workflow must make of it."""

    stem: str
    split: str = "train"
    valid: bool = False
    says: str = ""  # text the problem (or, when valid, the warning) must contain
    missing: tuple = ()  # labels that must not be attached
    build: object = None  # build(data_dir, case, base) writes the files
    notes: list = field(default_factory=list)


# ---------------------------------------------------------------- files


def copy_base(data_dir: Path, case: Case, base: dict, skip=()) -> dict[str, Path]:
    """Copy the base image and its labels under the case's stem."""
    dest = label_paths(data_dir, case.split, case.stem)
    dest["image"] = data_dir / "sar_images" / case.split / f"{case.stem}.png"
    for kind, path in dest.items():
        if kind not in skip:
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(base[kind], path)
    return dest


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height 8-bit gray pixels: what a
    decompression bomb looks like to a reader, without allocating anything."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    chunks = png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def with_image(make):
    """A build step: copy everything, then replace the SAR image by make(base)."""

    def build(data_dir, case, base):
        dest = copy_base(data_dir, case, base)
        dest["image"].write_bytes(make(base))

    return build


def with_label(kind, make):
    """A build step: copy everything, then replace (make returns bytes) or
    delete (make returns None) one label file."""

    def build(data_dir, case, base):
        dest = copy_base(data_dir, case, base)
        data = make(base)
        if data is None:
            dest[kind].unlink()
        else:
            dest[kind].write_bytes(data)

    return build


def png_bytes(image: Image.Image, fmt="PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def jpeg(base):
    return png_bytes(Image.open(base["image"]).convert("L"), "JPEG")


def truncated(base):
    data = base["image"].read_bytes()
    return data[: len(data) // 2]


def rgb(base):
    return png_bytes(Image.open(base["image"]).convert("RGB"))


def sixteen_bit(base):
    image = Image.open(base["image"]).convert("I").point(lambda v: v * 257)
    return png_bytes(image.convert("I;16"))


def small_zones(base):
    return png_bytes(Image.open(base["zones"]).resize((10, 10), Image.Resampling.NEAREST))


def zones_with_200(base):
    zones = Image.open(base["zones"]).copy()
    zones.putpixel((0, 0), 200)
    return png_bytes(zones)


def empty_front(base):
    return png_bytes(Image.new("L", Image.open(base["front"]).size, 0))


def bbox_text(text):
    return lambda base: text.encode()


# ---------------------------------------------------------------- cases


def name_case(stem, valid=False, says="", split="train"):
    """A copy of the good base image under a bad (or unusual) name: its labels
    are fine, so they are attached whatever the name."""
    return Case(stem, split, valid, says, (), lambda d, c, b: copy_base(d, c, b))


CASES = [
    # Names: the image becomes a sample with whatever fields could be parsed.
    name_case("COL_2011-01-05_TDX_7_1", says="name has 5 parts"),
    name_case("COL_2011-01-05_TDX_7_1_083_x_y", says="name has 8 parts"),
    name_case("COL_2011-13-40_TDX_7_1_083", says="date '2011-13-40' is not a real date"),
    name_case(
        "COL_2011-01-06_TDX_seven_1_083", says="resolution 'seven' is not a positive whole number"
    ),
    name_case("Helheim_2011-01-07_TDX_7_1_083", valid=True, says="unknown glacier code 'Helheim'"),
    name_case("COL_2011-01-08_ICEYE_7_1_083", valid=True, says="unknown satellite code 'ICEYE'"),
    name_case("COL_2011-01-09_TDX_7_1_083 copy", says="name has spaces", split="test"),
    name_case("Jökulsárlón_2011-01-10_TDX_7_1_083", says="non-ASCII"),
    # Shell metacharacters: each would create the PWNED file if a name ever
    # reached a shell unquoted.
    name_case(f"COL_2011-01-11_TDX_7_1_083_$(touch {PWNED})", says="name has spaces"),
    name_case(f"COL_2011-01-12_TDX_7_1_083;touch {PWNED}", says="orbit '083;touch"),
    name_case(f"COL_2011-01-13_TDX_7_1_083_`touch {PWNED}`", says="modality '`touch"),
    name_case(
        'COL_2011-01-14_TDX_7_1_083_it\'s"quoted"',
        says="modality 'it's\"quoted\"' is not alphanumeric",
    ),
    name_case("COL_2011-01-15_TDX_7_1_083_(1)", says="modality '(1)' is not alphanumeric"),
    name_case("COL_2011-01-17_TDX_7_1_083_$HOME", says="modality '$HOME' is not alphanumeric"),
    name_case(f"COL_2011-01-18_TDX_7_1_083\ntouch {PWNED}", says="unprintable characters"),
    # Image files that are not what they claim. Nothing can be checked against
    # an image that cannot be read, so no label is attached.
    Case(
        "COL_2012-01-01_TDX_7_1_083",
        says="image is JPEG, not PNG",
        missing=LABELS,
        build=with_image(jpeg),
    ),
    Case(
        "COL_2012-01-02_TDX_7_1_083",
        says="image cannot be decoded",
        missing=LABELS,
        build=with_image(truncated),
    ),
    Case(
        "COL_2012-01-03_TDX_7_1_083",
        says="image cannot be decoded",
        missing=LABELS,
        build=with_image(lambda b: b""),
    ),
    Case(
        "COL_2012-01-04_TDX_7_1_083",
        says="refused as a decompression bomb",
        missing=LABELS,
        build=with_image(lambda b: png_claiming(40000, 40000)),
    ),
    Case(
        "COL_2012-01-05_TDX_7_1_083",
        says="larger than the 64,000,000-pixel limit",
        missing=LABELS,
        build=with_image(lambda b: png_claiming(9000, 9000)),
    ),
    # Other modes: handled (converted for the thumbnail) and said.
    Case(
        "COL_2012-01-06_TDX_7_1_083", valid=True, says="image has mode RGB", build=with_image(rgb)
    ),
    Case(
        "COL_2012-01-07_TDX_7_1_083",
        valid=True,
        says="image has mode I;16",
        build=with_image(sixteen_bit),
    ),
    # Labels: only the failing one is left off.
    Case(
        "COL_2012-01-08_TDX_7_1_083",
        says="zone mask missing: COL_2012-01-08_TDX_7_1_083_zones.png",
        missing=("zones",),
        build=with_label("zones", lambda b: None),
    ),
    Case(
        "COL_2012-01-09_TDX_7_1_083",
        says="zone mask is 10x10, the image is",
        missing=("zones",),
        build=with_label("zones", small_zones),
    ),
    Case(
        "COL_2012-01-10_TDX_7_1_083",
        says="zone mask holds values outside 0/64/127/254: 200",
        missing=("zones",),
        build=with_label("zones", zones_with_200),
    ),
    Case(
        "COL_2012-01-11_TDX_7_1_083",
        says="zone mask cannot be decoded: COL_2012-01-11_TDX_7_1_083_zones.png",
        missing=("zones",),
        build=with_label("zones", lambda b: b"not a png"),
    ),
    Case(
        "COL_2012-01-12_TDX_7_1_083",
        says="front mask missing: COL_2012-01-12_TDX_7_1_083_front.png",
        missing=("front", "front_lines"),
        build=with_label("front", lambda b: None),
    ),
    Case(
        "COL_2012-01-13_TDX_7_1_083",
        says="front mask has no front pixel",
        missing=("front", "front_lines"),
        build=with_label("front", empty_front),
    ),
    Case(
        "COL_2012-01-14_TDX_7_1_083",
        split="test",
        says="bounding box file missing: COL_2012-01-14_TDX_7_1_083_front_extent_coord.txt",
        missing=("front_extent",),
        build=with_label("bbox", lambda b: None),
    ),
    Case(
        "COL_2012-01-15_TDX_7_1_083",
        says="bounding box file is empty: COL_2012-01-15_TDX_7_1_083",
        missing=("front_extent",),
        build=with_label("bbox", bbox_text("x,y\n")),
    ),
    Case(
        "COL_2012-01-16_TDX_7_1_083",
        says="bounding box file is malformed: COL_2012-01-16_TDX_7_1_083",
        missing=("front_extent",),
        build=with_label("bbox", bbox_text("x,y\n1,2\nthree,4\n")),
    ),
    Case(
        "COL_2012-01-17_TDX_7_1_083",
        says="bounding box lies outside the image: COL_2012-01-17_TDX_7_1_083",
        missing=("front_extent",),
        build=with_label("bbox", bbox_text("x,y\n-50,-10\n-50,-90\n-20,-90\n-20,-10\n")),
    ),
]

# Files in the image folders that are not processed: ignored and listed in
# the report with the reason. None: a copy of the base image, "jpeg": a JPEG.
NOT_PNG = "not a .png file"
STRAYS = {
    "sar_images/train/.DS_Store": (b"\0\0\0\1Bud1", NOT_PNG),
    "sar_images/test/photo_of_the_field_trip.jpg": ("jpeg", NOT_PNG),
    "sar_images/train/notes.txt": (b"to do\n", NOT_PNG),
    "sar_images/train/folder.png": ("folder", NOT_PNG),
    # Snakemake would read {stem} as a wildcard and refuse the whole workflow.
    "sar_images/train/COL_2011-01-16_TDX_7_1_083_{stem}.png": (None, "name contains { or }"),
    # Latin-1 bytes from an old archive: Snakemake cannot encode the path.
    os.fsdecode(b"sar_images/train/J\xf6kul_2011-01-19_TDX_7_1_083.png"): (
        None,
        "name is not valid UTF-8",
    ),
}


def shown(path) -> str:
    """How the report writes a path: control characters and undecodable
    bytes escaped, so that every entry stays on one line."""
    return str(path).replace("\n", "\\n").replace("\udcf6", "\\xf6")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, mongod):
    root = tmp_path_factory.mktemp("bad-input")
    data_dir, workdir = root / "data_raw", root / "work"
    good = generate(data_dir, 14, seed=23, size="small")
    assert not {c.stem for c in CASES} & set(good)

    base_stem = good[0]
    base_split = next((data_dir / "sar_images").glob(f"*/{base_stem}.png")).parent.name
    base = label_paths(data_dir, base_split, base_stem)
    base["image"] = data_dir / "sar_images" / base_split / f"{base_stem}.png"
    for case in CASES:
        case.build(data_dir, case, base)
    for rel, (data, _) in STRAYS.items():
        path = data_dir / rel
        if data == "folder":
            path.mkdir()
        elif data is None:
            shutil.copyfile(base["image"], path)
        else:
            path.write_bytes(jpeg(base) if data == "jpeg" else data)

    before = tree_checksums(data_dir)
    env = package_env()
    started = time.monotonic()
    done = run(workdir, data_dir, DATASET, env)
    return {
        "data_dir": data_dir,
        "workdir": workdir,
        "root": root,
        "good": good,
        "before": before,
        "after": tree_checksums(data_dir),
        "log": done.log,
        "seconds": time.monotonic() - started,
        "catalog": {row["stem"]: row for row in catalog(workdir)},
        "report": (results(workdir) / "validation_report.md").read_text(),
    }


def sample_for(corpus, case):
    import fiftyone as fo

    dataset = fo.load_dataset(DATASET)
    path = str(corpus["data_dir"] / "sar_images" / case.split / f"{case.stem}.png")
    return dataset[path]


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_each_bad_case_is_named_and_kept_apart(corpus, case):
    row = corpus["catalog"][case.stem]
    filepath = str(corpus["data_dir"] / "sar_images" / case.split / f"{case.stem}.png")
    assert row["filepath"] == filepath and row["split"] == case.split

    # Catalog: valid or not, and what is wrong (or was handled).
    assert row["valid"] is case.valid, row["problems"]
    told = row["warnings"] if case.valid else row["problems"]
    assert any(case.says in text for text in told), told
    if case.valid:
        assert row["problems"] == []

    # Validation report: a line naming the file and the problem or warning.
    lines = [line for line in corpus["report"].splitlines() if shown(filepath) in line]
    assert any(case.says in line for line in lines), lines

    # FiftyOne: tag, problems field, the failing label left off, the rest on.
    sample = sample_for(corpus, case)
    assert ("invalid" in sample.tags) is not case.valid
    assert case.split in sample.tags
    assert sample["problems"] == row["problems"]
    assert sample["warnings"] == row["warnings"]
    for label in LABELS:
        attached = sample[label] is not None
        assert attached is (label not in case.missing), label
    if "zones" not in case.missing:
        assert Path(sample.zones.mask_path).is_file()
    # The thumbnail exists whenever the image could be read.
    readable = "zones" not in case.missing or "front" not in case.missing
    if readable:
        assert Path(sample["thumbnail_path"]).is_file()


def test_good_images_are_unaffected(corpus):
    import fiftyone as fo

    dataset = fo.load_dataset(DATASET)
    assert len(dataset) == 14 + len(CASES)
    for stem in corpus["good"]:
        row = corpus["catalog"][stem]
        assert row["valid"] and row["problems"] == [] and row["warnings"] == [], stem
        sample = dataset[row["filepath"]]
        assert sample.tags == [row["split"]]
        assert all(sample[label] is not None for label in LABELS), stem
        assert sample.metadata.width == row["width"] > 0
    summary = corpus["report"].splitlines()[2]
    invalid = sum(not c.valid for c in CASES)
    total = 14 + len(CASES)
    assert summary.startswith(f"{total} images: {total - invalid} valid, {invalid} invalid")


def test_stray_files_are_listed_not_processed(corpus):
    report = corpus["report"]
    ignored = report.split("## Files ignored in sar_images/", 1)[1]
    for rel, (_, reason) in STRAYS.items():
        assert f"`{shown(corpus['data_dir'] / rel)}`: {reason}" in ignored
    assert not {Path(rel).stem for rel in STRAYS} & set(corpus["catalog"])
    assert f"{len(STRAYS)} files ignored." in report


def test_no_name_reached_a_shell(corpus):
    places = [corpus["root"], REPO, Path.cwd(), Path.home(), Path("/tmp")]
    found = [
        p
        for place in places
        for p in place.glob(f"**/{PWNED}" if place == corpus["root"] else PWNED)
    ]
    assert found == []
    # and every metacharacter name really went through the workflow
    assert all(c.stem in corpus["catalog"] for c in CASES if PWNED in c.stem)


def test_source_tree_is_unchanged(corpus):
    assert corpus["after"] == corpus["before"]


def test_decompression_bomb_is_refused_within_little_memory(corpus, tmp_path):
    """The per-image step on the 40000 x 40000 claim, under a 1 GiB address
    space limit (the pixels would need 1.6 GB): refused."""
    case = next(c for c in CASES if "decompression bomb" in c.says)
    labels = label_paths(corpus["data_dir"], case.split, case.stem)
    image = corpus["data_dir"] / "sar_images" / case.split / f"{case.stem}.png"
    limit = 1 << 30

    def cap_memory():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "caffe_workflow.stages.process",
            "--image",
            str(image),
            "--zones",
            str(labels["zones"]),
            "--front",
            str(labels["front"]),
            "--bbox",
            str(labels["bbox"]),
            "--split",
            case.split,
            "--out-dir",
            str(tmp_path / case.stem),
            "--thumbnail-height",
            "64",
        ],
        env=package_env(),
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=cap_memory,
    )
    assert done.returncode == 0, done.stderr
    assert "refused as a decompression bomb" in done.stderr


# ---------------------------------------------------------------- data_dir


def one_line_error(tmp_path, data_dir, config=()):
    """A dry run; returns the single `Error:` line after checking that nothing
    was done (no results, no traceback)."""
    workdir = tmp_path / "work"
    done = run(workdir, data_dir, DATASET, dict(os.environ), "--dry-run", config=config, ok=False)
    errors = [line for line in done.log.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, done.log
    assert "Traceback" not in done.log
    assert not (workdir / "results").exists() and not (workdir / "logs").exists()
    return errors[0]


def test_split_folder_other_than_train_test_is_an_error(tmp_path):
    data_dir = tmp_path / "data_raw"
    generate(data_dir, 3, seed=2)
    (data_dir / "sar_images" / "val").mkdir()
    error = one_line_error(tmp_path, data_dir)
    assert f"split folder {data_dir}/sar_images/val is neither 'train' nor 'test'" in error


def test_empty_data_dir_is_an_error(tmp_path):
    (tmp_path / "data_raw").mkdir()
    error = one_line_error(tmp_path, tmp_path / "data_raw")
    assert "holds no sar_images/ folder" in error


def test_data_dir_without_images_is_an_error(tmp_path):
    (tmp_path / "data_raw" / "sar_images" / "train").mkdir(parents=True)
    error = one_line_error(tmp_path, tmp_path / "data_raw")
    assert "holds no SAR images" in error


def test_missing_data_dir_without_download_is_an_error(tmp_path):
    error = one_line_error(tmp_path, tmp_path / "nowhere", ["download=false"])
    assert f"data_dir {tmp_path / 'nowhere'} does not exist" in error


def test_data_dir_that_is_a_file_is_an_error(tmp_path):
    (tmp_path / "data_raw.txt").write_text("not a folder")
    error = one_line_error(tmp_path, tmp_path / "data_raw.txt")
    assert error.endswith(f"data_dir {tmp_path / 'data_raw.txt'} is not a directory.")


def test_data_dir_that_is_the_zip_says_to_unzip_it(tmp_path):
    (tmp_path / "data_raw.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip
    error = one_line_error(tmp_path, tmp_path / "data_raw.zip")
    assert f"data_dir {tmp_path / 'data_raw.zip'} is a zip file: unzip it" in error
    assert "leave data_dir unset to download" in error


def test_missing_data_dir_other_than_the_default_is_an_error_not_a_download(tmp_path):
    """A typo in data_dir with download: true (the default) downloads nothing."""
    error = one_line_error(tmp_path, tmp_path / "mydata" / "data_rw")
    assert f"data_dir {tmp_path / 'mydata' / 'data_rw'} does not exist: check the path" in error
    assert "leave data_dir unset to download" in error
    assert not (tmp_path / "work" / "resources").exists()


# ---------------------------------------------------------------- config keys


def test_misspelled_config_key_is_one_line_with_the_close_name(tmp_path):
    data_dir = tmp_path / "data_raw"
    generate(data_dir, 1, seed=2)
    error = one_line_error(tmp_path, data_dir, ["dataset=foo"])
    assert error.startswith("Error: unknown config key 'dataset': did you mean 'dataset_name'?")


@pytest.mark.parametrize(
    "entry, expected",
    [
        ("thumbnail_height=3", "config thumbnail_height=3: 3 is less than the minimum of 16"),
        ("thumbnail_height=big", "config thumbnail_height='big': 'big' is not of type 'integer'"),
        ("take_over_dataset=maybe", "config take_over_dataset='maybe': 'maybe' is not one of"),
        ("batch_mb=0", "config batch_mb=0: 0 is less than or equal to the minimum of 0"),
    ],
)
def test_config_value_that_breaks_the_schema_is_one_line(tmp_path, entry, expected):
    data_dir = tmp_path / "data_raw"
    generate(data_dir, 1, seed=2)
    error = one_line_error(tmp_path, data_dir, [entry])
    assert error.startswith(f"Error: {expected}"), error
    key = entry.split("=")[0]
    assert f"--config {key}=..." in error and "config/README.md" in error


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any folder")
def test_unreadable_data_dir_is_an_error(tmp_path):
    data_dir = tmp_path / "data_raw"
    generate(data_dir, 1, seed=2)
    data_dir.chmod(0)
    try:
        error = one_line_error(tmp_path, data_dir)
    finally:
        data_dir.chmod(0o755)
    assert f"data_dir {data_dir} is not readable" in error
