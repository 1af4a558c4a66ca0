"""Rule evaluate: one model's predictions of one batch of images -> their rows."""

import sys

from caffe_workflow.scriptlog import stderr_to
from caffe_workflow.stages.evaluate import run_batch
from caffe_workflow.stages.predict import predicted_members

stderr_to(snakemake.log[0])  # noqa: F821 (snakemake is set by Snakemake)
done = run_batch(
    # A model the workflow runs: only the images its prediction job wrote.
    members=predicted_members(snakemake.params.members, snakemake.input.model_manifest),  # noqa: F821
    model=snakemake.wildcards.model,  # noqa: F821
    kind=snakemake.params.kind,  # noqa: F821
    rows_path=snakemake.output.rows,  # noqa: F821
    workers=snakemake.threads,  # noqa: F821
    postprocessed=snakemake.params.postprocessed,  # noqa: F821
)
print(f"{done['evaluated']} images evaluated, {done['kept']} unchanged", file=sys.stderr)
