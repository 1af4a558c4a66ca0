import functools
import sys
from pathlib import Path

from snakemake.utils import validate

try:
    from caffe_workflow import OUTPUT_VERSION
except ImportError:
    sys.exit(
        "Error: the package caffe_workflow is not importable: run this workflow "
        f"with the project's environment ({Path(workflow.basedir) / '.venv/bin/snakemake'} "
        f"after `make setup`), not with {sys.executable}."
    )
from caffe_workflow.caffe.layout import DataDirError, canonical_dir, discover, label_paths
from caffe_workflow.stages.fetch import where_to_get
from caffe_workflow.ownership import precheck

validate(config, "../schemas/config.schema.yaml")

# One spelling of data_dir (and so of every image path) whatever form it was
# given in: relative, with `..`, `~`, a trailing slash or through a link.
DATA_DIR = canonical_dir(config["data_dir"])
DATASET = config["dataset_name"]
TAKE_OVER = str(config["take_over_dataset"]).lower() == "true"
# Everything a run makes belongs to one dataset, which belongs to one data_dir:
# runs for other datasets (the demo's, another data_dir's) keep their own
# results in the same folder, and none reuses another's.
RESULTS = f"results/{DATASET}"
LOGS = f"logs/{DATASET}"


def discover_or_exit():
    try:
        return discover(DATA_DIR).images
    except DataDirError as err:
        sys.exit(f"Error: {err}.")


# A data_dir that exists is used as it is (and any problem with it is a one-line
# error now, before any work); a missing one is downloaded and unpacked by the
# fetch checkpoint, and its images are found after that.
if DATA_DIR.exists():
    IMAGES = discover_or_exit()
elif str(config["download"]).lower() == "true":
    IMAGES = None
else:
    sys.exit(f"Error: data_dir {DATA_DIR} does not exist. {where_to_get()}")


wildcard_constraints:
    split="train|test",
    stem="[^/]+",


def images():
    """(split, stem) -> path of every SAR image."""
    if IMAGES is not None:
        return IMAGES
    checkpoints.fetch.get()
    return discover_or_exit()


def image_dirs(wildcards):
    return [f"{RESULTS}/images/{split}/{stem}" for split, stem in images()]


def sar_image(wildcards):
    return str(images()[(wildcards.split, wildcards.stem)])


@functools.cache
def labels_of(split, stem):
    """The label files of one image (four params of its job ask for them)."""
    return label_paths(DATA_DIR, split, stem)


def label_path(name):
    def get(wildcards):
        return str(labels_of(wildcards.split, wildcards.stem)[name])

    return get


def label_signature(wildcards):
    """Size and mtime of the image's label files ("missing" when absent).

    The labels are params, not inputs: each time a job finishes, Snakemake's
    scheduler stats every input of every job still waiting, a cost that grows
    with the square of the number of images (measured: most of the 94 s of CPU
    the main Snakemake process spent on 681 images with four inputs per job).
    As a param, a label that is edited, added or removed still reruns its job.
    """
    signature = []
    for name, path in labels_of(wildcards.split, wildcards.stem).items():
        try:
            stat = path.stat()
            signature.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
        except FileNotFoundError:
            signature.append(f"{name}:missing")
    return " ".join(signature)


def check_dataset_owner():
    """Before any job: stop if the dataset belongs to another data_dir (onstart)."""
    precheck(RESULTS, DATASET, str(DATA_DIR), TAKE_OVER)


def warn_unless_threads():
    """The per-image `run:` jobs are meant to run in threads (profiles/default)."""
    if not workflow.use_threads:
        print(
            "Warning: without --force-use-threads (set in profiles/default) every "
            "process job starts its own Snakemake process, ~1.7 s each. "
            "Add --force-use-threads to your own --workflow-profile.",
            file=sys.stderr,
        )


def print_summary():
    """What a run built and how to open it (called from the Snakefile's onsuccess)."""
    import json

    summary_path = Path(RESULTS, "ingest_summary.json")
    if not summary_path.exists():
        return
    s = json.loads(summary_path.read_text())
    lines = Path(RESULTS, "validation_report.md").read_text().splitlines()
    counts = lines[2] if len(lines) > 2 else ""
    print(
        f"\nFiftyOne dataset '{s['dataset']}': {s['total']} samples "
        f"({s['added']} added, {s['updated']} updated, {s['deleted']} deleted, "
        f"{s['unchanged']} unchanged).\n"
        f"  {counts}\n"
        f"  catalog: {Path(RESULTS, 'catalog.parquet').absolute()}\n"
        f"  report:  {Path(RESULTS, 'validation_report.md').absolute()}\n"
        f"Open it:  {Path(sys.executable).parent / 'fiftyone'} app launch "
        f"{s['dataset']}   (then http://localhost:5151)",
        file=sys.stderr,
    )
