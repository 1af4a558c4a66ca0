"""Issue 11: however the workflow is started, a rerun keeps every sample and
everything users added.

Snakemake is started the way users start it: `.venv/bin/snakemake` from the
folder they work in, with a PATH that does not contain the venv (no
activation), and data_dir written every way people write it. One dataset is
built, a user tags a sample and adds a field, then each form of data_dir in
turn gets one new image: each rerun adds exactly one sample and rewrites none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import runner
from caffe_dev.sample_data import generate

pytestmark = [pytest.mark.slow, pytest.mark.mongod]

SNAKEMAKE = Path(sys.executable).parent / "snakemake"
# A PATH without the venv: rules must not depend on which `python` comes first.
BARE_PATH = "/usr/bin:/bin"


def as_user(cwd: Path, env: dict, *config: str, ok: bool = True) -> str:
    """`.venv/bin/snakemake --cores 2 --config ...` run from `cwd`, not activated."""
    env = dict(env, PATH=BARE_PATH)
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    cmd = [
        str(SNAKEMAKE),
        "--snakefile",
        str(runner.REPO / "Snakefile"),
        "--cores",
        "2",
        "--config",
        *config,
    ]
    done = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=runner.RUN_TIMEOUT
    )
    log = done.stdout + done.stderr
    assert (done.returncode == 0) == ok, log
    return log


def summary(workdir: Path, dataset: str) -> dict:
    return json.loads((runner.results(workdir, dataset) / "ingest_summary.json").read_text())


def test_every_form_of_data_dir_keeps_samples_and_user_work(tmp_path, fiftyone_env):
    import fiftyone as fo
    from fiftyone import ViewField as F

    dataset, seed = "same-samples", 21
    data_dir = tmp_path / "caffe" / "data_raw"
    work = tmp_path / "project" / "run"
    work.mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "caffe")
    home = tmp_path  # `~` for the runs below
    env = dict(fiftyone_env, HOME=str(home))
    count = 5
    stems = generate(data_dir, count, seed=seed)

    log = as_user(work, env, f"data_dir={data_dir}", f"dataset_name={dataset}")
    assert summary(work, dataset)["added"] == count, log
    ds = fo.load_dataset(dataset)
    ds.reload()
    sample = ds.one(F("stem") == stems[0])
    sample.tags.append("my-tag")
    sample["my_note"] = "checked"
    sample.save()
    ids = dict(zip(*ds.values(["filepath", "id"])))

    forms = {
        "relative with ..": "../../caffe/data_raw",
        "with . and ..": f"{tmp_path}/./caffe/../caffe/data_raw",
        "trailing slash": f"{data_dir}/",
        "~": "~/caffe/data_raw",
        "a linked folder": f"{tmp_path}/link/data_raw",
        "relative, the linked folder": "../../link/data_raw/.",
    }
    for form, spelled in forms.items():
        count += 1
        generate(data_dir, 1, seed=seed, first_index=count - 1)
        log = as_user(work, env, f"data_dir={spelled}", f"dataset_name={dataset}")
        got = summary(work, dataset)
        assert (got["added"], got["updated"], got["deleted"], got["relinked"]) == (1, 0, 0, 0), (
            form,
            got,
            log,
        )
        assert got["total"] == count, form
        assert runner.job_counts(log).get("process") == 1, (form, log)

    ds.reload()
    on_disk = sorted(str(p) for p in data_dir.glob("sar_images/*/*.png"))
    assert sorted(ds.values("filepath")) == on_disk
    # The first samples are the same documents: nothing was deleted and re-added.
    assert {fp: i for fp, i in zip(*ds.values(["filepath", "id"])) if fp in ids} == ids
    mine = ds.one(F("stem") == stems[0])
    assert "my-tag" in mine.tags and mine["my_note"] == "checked"
    assert ds.info["data_dir"] == str(data_dir)
    catalog = runner.catalog(work, dataset)
    assert sorted(r["filepath"] for r in catalog) == on_disk
    assert "Nothing to be done" in as_user(
        work, env, "data_dir=~/caffe/data_raw", f"dataset_name={dataset}"
    )


def test_dataset_of_an_earlier_version_is_migrated_in_place(tmp_path, fiftyone_env):
    """An earlier version stored the path as given (through a link here) and
    no data_dir: its samples are moved to the canonical path, not re-added."""
    import fiftyone as fo
    from fiftyone import ViewField as F

    dataset, seed = "migrate-paths", 22
    real = tmp_path / "real"
    data_dir = real / "data_raw"
    (tmp_path / "link").symlink_to(real)
    stems = generate(data_dir, 4, seed=seed)
    work = tmp_path / "work"
    work.mkdir()
    as_user(work, fiftyone_env, f"data_dir={data_dir}", f"dataset_name={dataset}")

    # What the earlier version left: paths through the link, no data_dir.
    ds = fo.load_dataset(dataset)
    old = {
        sid: fp.replace(str(real), str(tmp_path / "link"))
        for sid, fp in zip(*ds.values(["id", "filepath"]))
    }
    ds.set_values("filepath", old, key_field="id")
    info = dict(ds.info)
    del info["data_dir"]
    ds.info = info
    ds.save()
    sample = ds.one(F("stem") == stems[1])
    sample.tags.append("my-tag")
    sample.save()

    generate(data_dir, 1, seed=seed, first_index=4)
    log = as_user(work, fiftyone_env, f"data_dir={data_dir}", f"dataset_name={dataset}")
    got = summary(work, dataset)
    assert (got["added"], got["deleted"], got["relinked"], got["total"]) == (1, 0, 4, 5), log
    ds.reload()
    assert sorted(ds.values("filepath")) == sorted(
        str(p) for p in data_dir.glob("sar_images/*/*.png")
    )
    assert set(old) <= set(ds.values("id"))  # the same samples
    assert "my-tag" in ds.one(F("stem") == stems[1]).tags
    assert ds.info["data_dir"] == str(data_dir)


def test_module_start_and_make_style_start_agree(tmp_path, fiftyone_env):
    """`python -m snakemake` with the venv's interpreter and a bare PATH."""
    data_dir = tmp_path / "data_raw"
    generate(data_dir, 2, seed=23)
    env = dict(fiftyone_env, PATH=BARE_PATH)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(runner.REPO / "Snakefile"),
            "--cores",
            "2",
            "--config",
            f"data_dir={data_dir}",
            "dataset_name=module-start",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=runner.RUN_TIMEOUT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary(tmp_path, "module-start")["total"] == 2
    assert os.environ["PATH"] != BARE_PATH  # the test did change what rules would see
