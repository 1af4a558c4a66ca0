"""`snakemake` from nothing: no data_dir, so the workflow downloads data_raw.zip
from a loopback mirror (tests/zip_server.py stands in for PANGAEA), verifies
and unpacks it, then builds the catalog and the FiftyOne dataset in the same
run; a rerun downloads nothing. `make run` does the same against PANGAEA: give
`SNAKEMAKE_ARGS="--config download_url=http://127.0.0.1:PORT/data_raw.zip"` to
point it at such a mirror."""

import hashlib
import json

import pytest

import runner
from caffe_dev.sample_data import generate
from zip_server import ZipServer, zip_tree

pytestmark = [pytest.mark.slow, pytest.mark.mongod]


def test_workflow_downloads_unpacks_and_builds(tmp_path, fiftyone_env):
    source = tmp_path / "mirror" / "data_raw"
    stems = generate(source, count=6, seed=11)
    payload = zip_tree(source)
    server = ZipServer(payload)
    try:
        workdir, data_dir = tmp_path / "work", tmp_path / "work" / "resources" / "data_raw"
        sha = hashlib.sha256(payload).hexdigest()
        config = (f"download_url={server.url}", f"download_sha256={sha}")
        runner.run(workdir, data_dir, "caffe-download-test", fiftyone_env, config=config)

        assert sorted(p.stem for p in data_dir.glob("sar_images/*/*.png")) == sorted(stems)
        assert (workdir / "resources" / "data_raw.zip").read_bytes() == payload
        provenance = json.loads(
            (workdir / "resources" / "data_raw.zip.provenance.json").read_text()
        )
        assert provenance["sha256"] == sha
        catalog = runner.catalog(workdir)
        assert sorted(r["stem"] for r in catalog) == sorted(stems)
        assert all(r["valid"] for r in catalog)
        summary = json.loads((runner.results(workdir) / "ingest_summary.json").read_text())
        assert (summary["added"], summary["total"]) == (6, 6)

        requests = len(server.ranges)
        log = runner.run(workdir, data_dir, "caffe-download-test", fiftyone_env, config=config).log
        assert "Nothing to be done" in log and len(server.ranges) == requests
    finally:
        server.close()
