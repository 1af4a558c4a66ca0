"""Rule summary: what the run built and how to open it, on the console."""

from pathlib import Path

from caffe_workflow.atomic import write_atomically
from caffe_workflow.model_summary import summary_lines
from caffe_workflow.scriptlog import say, stderr_to
from caffe_workflow.summary import summary

stderr_to(snakemake.log[0])  # noqa: F821 (snakemake is set by Snakemake)
i, p = snakemake.input, snakemake.params  # noqa: F821
text = summary(i.ingest, i.catalog, i.report, Path(p.plugins) if p.models else None)
text += "".join(line + "\n" for line in summary_lines(i.metrics))
say("\n" + text.rstrip("\n"))
write_atomically(snakemake.output[0], lambda f: f.write(text.encode()))  # noqa: F821
