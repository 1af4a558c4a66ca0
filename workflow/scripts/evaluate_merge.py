"""Rule evaluate_merge: a model's batch rows -> per_image.parquet and metrics.json."""

import sys

from caffe_workflow.model_summary import model_line
from caffe_workflow.scriptlog import stderr_to
from caffe_workflow.stages.evaluate import merge

stderr_to(snakemake.log[0])  # noqa: F821 (snakemake is set by Snakemake)
summary = merge(
    batch_files=list(snakemake.input),  # noqa: F821
    model=snakemake.wildcards.model,  # noqa: F821
    kind=snakemake.params.kind,  # noqa: F821
    test_stems=snakemake.params.test_stems,  # noqa: F821
    ignored=snakemake.params.ignored,  # noqa: F821
    per_image=snakemake.output.per_image,  # noqa: F821
    metrics_path=snakemake.output.metrics,  # noqa: F821
    source=snakemake.params.source,  # noqa: F821
)
print(model_line(summary), file=sys.stderr)
