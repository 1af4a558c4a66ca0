"""Rule plots: figures and the validation table for the report."""

from caffe_workflow.scriptlog import stderr_to
from caffe_workflow.stages.plots import OUTPUTS, write_all

stderr_to(snakemake.log[0], console=True)  # noqa: F821 (the progress bar stays visible)
write_all(snakemake.input.catalog, {key: snakemake.output[key] for key in OUTPUTS})  # noqa: F821
