"""Rule batches: write one batch's manifest (its members).

The members come with the param (caffe_workflow.batches.Members): the
assignment the Snakefile made at its start, from the manifests as they were
then. (Made again here, it could differ: another batch's manifest may have
been written since.)
"""

import sys

from caffe_workflow import batches
from caffe_workflow.scriptlog import stderr_to

stderr_to(snakemake.log[0])  # noqa: F821 (snakemake is set by Snakemake)
members = snakemake.params.members  # noqa: F821
batches.write(snakemake.output[0], members.entries)  # noqa: F821
print(members, file=sys.stderr)
