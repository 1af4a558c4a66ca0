"""Rule front_position: the front-position figure and table for the report."""

import sys

from caffe_workflow.report_front_position import (
    load_catalog,
    load_predictions,
    write_front_positions,
)
from caffe_workflow.scriptlog import stderr_to

stderr_to(snakemake.log[0])  # noqa: F821 (snakemake is set by Snakemake)
models = dict(zip(snakemake.params.models, snakemake.input.per_image))  # noqa: F821
_, summary, problems = write_front_positions(
    load_catalog(snakemake.input.catalog),  # noqa: F821
    snakemake.output.figure,  # noqa: F821
    snakemake.output.table,  # noqa: F821
    load_predictions(models),
)
sys.stderr.writelines(f"{line}\n" for line in problems)
for glacier, info in summary.items():
    print(f"{glacier}: fronts {info['series']}, left out {info['left_out']}", file=sys.stderr)
