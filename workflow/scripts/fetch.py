"""Checkpoint fetch: download, verify and unpack CaFFe into data_dir."""

import sys

from caffe_workflow.scriptlog import stderr_to
from caffe_workflow.stages.fetch import main

stderr_to(snakemake.log[0], console=True)  # noqa: F821 (progress stays visible)
p = snakemake.params  # noqa: F821
report = snakemake.output[0]  # noqa: F821
argv = ["--url", p.url, "--zip", p.zip, "--data-dir", p.data_dir, f"--sha256={p.sha256}"]
sys.exit(main([*argv, "--report", report]))
