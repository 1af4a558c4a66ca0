"""Rule image_folders: redo the per-image folders that are gone."""

import concurrent.futures
import os
from pathlib import Path

from caffe_workflow.atomic import write_atomically
from caffe_workflow.batches import member, read
from caffe_workflow.scriptlog import say, stderr_to
from caffe_workflow.stages.process import process_and_log

stderr_to(snakemake.log[0])  # noqa: F821 (snakemake is set by Snakemake)
p = snakemake.params  # noqa: F821
root = Path(p.images_root)
gone = [
    member(p.data_dir, split, stem)
    for path in snakemake.input.manifests  # noqa: F821
    for split, stem in sorted(read(path))
    if not (root / split / stem).is_dir()
]
gone = [m for m in gone if os.path.exists(m["image"])]
with concurrent.futures.ThreadPoolExecutor(max(1, snakemake.threads)) as pool:  # noqa: F821
    # An image's problems and warnings are in its batch's log already.
    list(pool.map(lambda m: process_and_log(m, root, p.thumbnail_height), gone))
if gone:
    names = ", ".join(m["stem"] for m in gone[:5]) + (" ..." if len(gone) > 5 else "")
    say(f"{len(gone)} image folder(s) were gone and are redone: {names}")
text = f"{len(gone)} folders redone\n"
write_atomically(snakemake.output[0], lambda f: f.write(text.encode()))  # noqa: F821
