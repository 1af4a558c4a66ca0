"""Rule process: one batch of SAR images -> their folders and the batch's rows."""

from caffe_workflow.batches import members
from caffe_workflow.scriptlog import say, stderr_to
from caffe_workflow.stages.process import run_batch

stderr_to(snakemake.log[0])  # noqa: F821 (snakemake is set by Snakemake)
p = snakemake.params  # noqa: F821
batch = snakemake.wildcards.batch  # noqa: F821
redone = []
done = run_batch(
    members=members(snakemake.input.manifest, batch, p.data_dir),  # noqa: F821
    rows_path=snakemake.output.rows,  # noqa: F821
    images_root=p.images_root,
    thumbnail_height=p.thumbnail_height,
    workers=snakemake.threads,  # noqa: F821
    redone=redone,
)
# Why the batch reran, readably: which images were new or changed.
names = ", ".join(redone[:5]) + (f" and {len(redone) - 5} more" if len(redone) > 5 else "")
say(
    f"batch {batch}: {done['processed']} of {done['processed'] + done['kept']} images "
    f"processed (new or changed{': ' + names if redone else ''})"
)
