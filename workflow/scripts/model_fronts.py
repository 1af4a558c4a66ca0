"""Rule model_fronts: a model's fronts through time beside the labelled fronts."""

import sys

from caffe_workflow.scriptlog import fail, stderr_to
from caffe_workflow.stages.plots import write_model_fronts

stderr_to(snakemake.log[0])  # noqa: F821 (snakemake is set by Snakemake)
try:
    drawn = write_model_fronts(
        snakemake.input.catalog,  # noqa: F821
        snakemake.input.per_image,  # noqa: F821
        snakemake.wildcards.model,  # noqa: F821
        snakemake.output.figure,  # noqa: F821
    )
except ValueError as err:  # a per_image.parquet of another kind: one line
    fail(str(err))
for glacier, info in drawn.items():
    print(f"{glacier}: {info}", file=sys.stderr)
