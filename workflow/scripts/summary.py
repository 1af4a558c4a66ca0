"""Rule summary: what the run built and how to open it, on the console."""

import sys
from pathlib import Path

from caffe_workflow.atomic import write_atomically
from caffe_workflow.model_summary import summary_lines
from caffe_workflow.scriptlog import console, say, stderr_to
from caffe_workflow.stages.predict import end_lines, run_start
from caffe_workflow.summary import summary

stderr_to(snakemake.log[0])  # noqa: F821 (snakemake is set by Snakemake)
i, p = snakemake.input, snakemake.params  # noqa: F821
text = summary(i.ingest, i.catalog, i.report, Path(p.plugins) if p.models else None)
text += "".join(line + "\n" for line in summary_lines(i.metrics))
# The models the workflow runs.
lines, errors = end_lines(p.model_problems, list(i.model_manifests), run_start())
text += "".join(line + "\n" for line in lines)
if errors:
    # A model that could not be used or failed: the run fails, and without
    # summary.txt the next run reports it again. The lines go to the console
    # only: the failed job's log is printed too (show-failed-logs).
    console("\n" + text.rstrip("\n"))
    for line in errors:
        console(f"Error: {line}")
    print(f"ERROR: {len(errors)} model problem(s), listed on the console", file=sys.stderr)
    sys.exit(1)
say("\n" + text.rstrip("\n"))
write_atomically(snakemake.output[0], lambda f: f.write(text.encode()))  # noqa: F821
