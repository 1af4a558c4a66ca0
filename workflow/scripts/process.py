"""Rule process: one batch of SAR images -> their folders and the batch's rows."""

import sys

from caffe_workflow.batches import members
from caffe_workflow.scriptlog import stderr_to
from caffe_workflow.stages.process import run_batch

stderr_to(snakemake.log[0])  # noqa: F821 (snakemake is set by Snakemake)
p = snakemake.params  # noqa: F821
done = run_batch(
    members=members(p.manifest, snakemake.wildcards.batch, p.data_dir),  # noqa: F821
    rows_path=snakemake.output.rows,  # noqa: F821
    images_root=snakemake.params.images_root,  # noqa: F821
    thumbnail_height=snakemake.params.thumbnail_height,  # noqa: F821
    workers=snakemake.threads,  # noqa: F821
)
print(f"{done['processed']} images processed, {done['kept']} unchanged", file=sys.stderr)
