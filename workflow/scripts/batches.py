"""Rule batches: write one batch's manifest (its members).

The assignment is made again here as the Snakefile made it at its start: the
same manifests and data_dir give the same one, which the param records.
"""

import sys
from pathlib import Path

from caffe_workflow import batches
from caffe_workflow.caffe.layout import DataDirError, discover
from caffe_workflow.scriptlog import fail, stderr_to

stderr_to(snakemake.log[0])  # noqa: F821 (snakemake is set by Snakemake)
p = snakemake.params  # noqa: F821
batch = snakemake.wildcards.batch  # noqa: F821
try:
    found = discover(Path(p.data_dir))
except DataDirError as err:
    fail(f"{err}.")
assignment = batches.assign(found.sizes, batches.read_all(p.results), p.batch_bytes)
members = batches.only(assignment, batch)
if batches.describe(members) != p.members:
    fail(f"data_dir {p.data_dir} changed while this run started: run it again.")
batches.write(snakemake.output[0], members)  # noqa: F821
print(p.members, file=sys.stderr)
