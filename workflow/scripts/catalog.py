"""Rule catalog: the batches' rows -> catalog + validation report."""

from caffe_workflow.scriptlog import stderr_to
from caffe_workflow.stages.catalog import run

stderr_to(snakemake.log[0])  # noqa: F821 (snakemake is set by Snakemake)
run(
    catalog=snakemake.output.catalog,  # noqa: F821
    report=snakemake.output.report,  # noqa: F821
    images_root=snakemake.params.images_root,  # noqa: F821
    data_dir=snakemake.params.data_dir,  # noqa: F821
    batch_files=list(snakemake.input),  # noqa: F821
)
