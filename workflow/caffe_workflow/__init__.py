"""CaFFe workflow: per-image processing, catalog merge and FiftyOne ingest.

Keep this module cheap to import: the Snakefile loads it at every start.
"""

# Bump when a change to the package changes what the per-image step writes.
# It is a param of the per-image rule and part of every image's fingerprint,
# so the batch jobs redo every image once,
# while comments and refactors rerun nothing.
OUTPUT_VERSION = 4

# Bump when the rows gain a column computed from the others: a param of the
# per-image rule, so each batch job reruns once and fills the column in for
# the rows it keeps, redoing no image.
ROW_FORMAT = 4

# The same for the evaluate stage (stages/evaluate.py, caffe/evaluation.py):
# part of every evaluated row's fingerprint, so bumping it scores every
# prediction once more.
EVALUATION_VERSION = 3
