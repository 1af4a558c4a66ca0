"""Rule ingest: the catalog -> the persistent FiftyOne dataset."""

from caffe_workflow.scriptlog import console, stderr_to
from caffe_workflow.stages.ingest import leave, run

log = snakemake.log[0]  # noqa: F821 (snakemake is set by Snakemake)
stderr_to(log)
status = run(
    catalog=snakemake.input.catalog,  # noqa: F821
    dataset=snakemake.params.dataset,  # noqa: F821
    summary=snakemake.output.summary,  # noqa: F821
    data_dir=snakemake.params.data_dir,  # noqa: F821
    take_over=snakemake.params.take_over,  # noqa: F821
    zoo_model=snakemake.params.embeddings_model,  # noqa: F821
    evaluations={
        model: {"kind": kind, "per_image": per_image}
        for (model, kind), per_image in zip(
            snakemake.params.models.items(),  # noqa: F821
            snakemake.input.evaluations,  # noqa: F821
        )
    },
)
if status:
    # A refused ingest says why in one line ("ERROR: ..."); the console gets it too.
    with open(log, encoding="utf-8", errors="replace") as f:
        reasons = [line.rstrip("\n") for line in f if line.startswith("ERROR: ")]
    console(
        f"Error: {reasons[-1][len('ERROR: ') :]}"
        if reasons
        else f"Error: the ingest failed (see {log})"
    )
leave(status)
