"""Rule check: the start check, before any per-image work."""

import json
import os

from caffe_workflow.atomic import write_atomically
from caffe_workflow.ownership import OwnershipError, early_check
from caffe_workflow.scriptlog import fail, say, stderr_to

stderr_to(snakemake.log[0])  # noqa: F821 (snakemake is set by Snakemake)
# FiftyOne's own messages (e.g. on the database version) go to the log.
os.environ["FIFTYONE_LOGGING_DESTINATION"] = "stderr"
p = snakemake.params  # noqa: F821
model = p.embeddings_model
say(
    f"Checking that FiftyOne dataset '{p.dataset}' may be built from {p.data_dir}"
    + (f" and that zoo model {model} loads" if model else "")
    + " (starts FiftyOne and its database; once per dataset and data_dir)"
)
try:
    asked = early_check(p.dataset, p.data_dir, p.take_over)
except OwnershipError as err:
    fail(str(err))
if not asked:
    say("(dataset owner not checked now: the database did not answer; the ingest checks it)")
if model:
    from caffe_workflow.zoo_model import ZooModelError, load

    try:
        load(model)
    except ZooModelError as err:
        fail(str(err))
record = {
    "dataset": p.dataset,
    "data_dir": p.data_dir,
    "owner_checked": asked,
    "embeddings_model": model,
}
text = json.dumps(record, indent=2) + "\n"
write_atomically(snakemake.output[0], lambda f: f.write(text.encode()))  # noqa: F821
