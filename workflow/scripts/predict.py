"""Rule predict: one model of `models` on one batch of images."""

from caffe_workflow.batches import members
from caffe_workflow.scriptlog import stderr_to
from caffe_workflow.stages.predict import run_batch

stderr_to(snakemake.log[0])  # noqa: F821 (snakemake is set by Snakemake)
run_batch(
    model=snakemake.wildcards.model,  # noqa: F821
    entry=snakemake.params.entry,  # noqa: F821
    images=[
        m["image"]
        for m in members(
            snakemake.input.manifest,  # noqa: F821
            snakemake.wildcards.batch,  # noqa: F821
            snakemake.params.data_dir,  # noqa: F821
        )
    ],
    out_dir=snakemake.params.out_dir,  # noqa: F821
    manifest=snakemake.output.manifest,  # noqa: F821
    retry=snakemake.params.retry,  # noqa: F821
    threads=snakemake.threads,  # noqa: F821
    log=snakemake.log[0],  # noqa: F821
)
