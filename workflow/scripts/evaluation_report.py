"""Rule evaluation_report: every model's metrics -> table and figures for the report."""

from caffe_workflow.scriptlog import stderr_to
from caffe_workflow.stages.evaluation_report import write_all

stderr_to(snakemake.log[0])  # noqa: F821 (snakemake is set by Snakemake)
write_all(
    snakemake.input.metrics,  # noqa: F821
    snakemake.input.per_image,  # noqa: F821
    snakemake.output.table,  # noqa: F821
    snakemake.output.breakdown,  # noqa: F821
    snakemake.output.distribution,  # noqa: F821
    snakemake.output.over_time,  # noqa: F821
)
