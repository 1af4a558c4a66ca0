"""CaFFe workflow: per-image processing, catalog merge and FiftyOne ingest.

Keep this module cheap to import: the Snakefile and every per-image job load it.
"""

# Bump when a change to the package changes what the per-image step writes.
# The rules pass it as a param, so Snakemake reruns exactly the affected jobs,
# while comments and refactors rerun nothing.
OUTPUT_VERSION = 2
