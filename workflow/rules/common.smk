import functools
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

try:
    from caffe_workflow import EVALUATION_VERSION, OUTPUT_VERSION, ROW_FORMAT
except ImportError:
    sys.exit(
        "Error: the package caffe_workflow is not importable: run this workflow "
        f"with the project's environment ({Path(workflow.basedir) / '.venv/bin/snakemake'} "
        f"after `make setup`), not with {sys.executable}."
    )
import caffe_workflow.batches as batches_mod
from caffe_workflow.caffe.layout import (
    DataDirError,
    canonical_dir,
    discover,
    has_labels,
    label_paths,
)
from caffe_workflow.config_errors import one_line
from caffe_workflow.fingerprint import fingerprint
from caffe_workflow.predictions import PredictionsError, parse_config
import caffe_workflow.stages.predict as predict_stage
from caffe_workflow.caffe.source import where_to_get
from caffe_workflow.ingest.models import FIELDS_VERSION

# Models to score (config key `predictions`): a bad name, a missing folder or
# a folder with both kinds of prediction is a one-line error now, before any
# work (checked before the schema, whose message would be many lines).
try:
    PREDICTIONS = parse_config(config.get("predictions"))
except PredictionsError as err:
    sys.exit(f"Error: {err}.")

# Every mistake in the config is one line (Snakemake's own message prints the
# whole schema and config).
try:
    validate(config, "../schemas/config.schema.yaml")
except WorkflowError as err:
    sys.exit(f"Error: {one_line(err, config)}")

# Models the workflow runs (config key `models`, rules/predict.smk): checked
# now (one line per model that cannot be used), each usable one is one more
# entry of PREDICTIONS, whose files its prediction jobs write.
MODEL_RUNS = predict_stage.plan(
    config.get("models"),
    f"results/{config['dataset_name']}",
    workflow.is_main_process,
)
MODEL_RUNS.add_to(PREDICTIONS, lambda: [stem for _, stem in layout()[0]])
if workflow.is_main_process:
    predict_stage.mark_start(MODEL_RUNS.started_ns)

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
# CaFFe is downloaded only into the default data_dir: any other data_dir that
# does not exist is a typo or an unmounted disk, never a reason for 2.86 GB.
DOWNLOAD_DIR = canonical_dir("resources/data_raw")


def discover_or_exit():
    try:
        return discover(DATA_DIR)
    except DataDirError as err:
        sys.exit(f"Error: {err}.")


BATCH_BYTES = int(config["batch_mb"] * 1e6)
# Written by rule `check`, the start check (workflow/rules/check.smk).
CHECKED = f"{RESULTS}/source.json"


def manifest(batch):
    """A batch's manifest: its members (caffe_workflow.batches)."""
    return f"{RESULTS}/batches/{batch}.tsv"


@functools.cache
def previous_assignment():
    """The assignment the manifests hold (as the last run left them)."""
    return batches_mod.read_all(RESULTS)


@functools.cache
def layout():
    """(images, batches, assignment): (split, stem) -> SAR image path, batch ->
    its members' keys, and (split, stem) -> (batch, bytes). The main process
    lists data_dir and assigns new images in memory (caffe_workflow.batches;
    rule `batches` writes each batch's manifest); a job on a cluster node
    reads the manifests."""
    if not workflow.is_main_process and previous_assignment():
        assignment = previous_assignment()
        images = {key: Path(batches_mod.member(DATA_DIR, *key)["image"]) for key in assignment}
        return images, batches_mod.group(assignment), assignment
    if not DATA_DIR.exists():
        checkpoints.fetch.get()  # downloads and unpacks it first
    found = discover_or_exit()
    assignment = batches_mod.assign(found.sizes, previous_assignment(), BATCH_BYTES)
    return found.images, batches_mod.group(assignment), assignment


# A data_dir that exists is used as it is (and any problem with it is a one-line
# error now, before any work); a missing one is downloaded and unpacked by the
# fetch checkpoint, and its images are found after that, but only when it is
# the default one.
if DATA_DIR.exists():
    layout()
elif DATA_DIR != DOWNLOAD_DIR:
    sys.exit(
        f"Error: data_dir {DATA_DIR} does not exist: check the path (--config "
        f"data_dir=... or config/config.yaml), or leave data_dir unset to download "
        f"CaFFe into {DOWNLOAD_DIR}."
    )
elif str(config["download"]).lower() != "true":
    sys.exit(f"Error: data_dir {DATA_DIR} does not exist. {where_to_get()}")


@functools.cache
def missing_folders():
    """(split, stem) of the images whose folder (results/<dataset>/images/
    <split>/<stem>/) is gone although their batch's rows hold them: a batch
    job made it. Images still to be processed (new, or in a batch a kill
    interrupted) are not counted: their batch job makes their folders."""
    made = previous_assignment() if workflow.is_main_process else {}
    if not made or not DATA_DIR.exists():
        return []
    present = {}
    for split in {split for split, _ in made}:
        try:
            present[split] = set(os.listdir(f"{RESULTS}/images/{split}"))
        except FileNotFoundError:
            present[split] = set()
    images = layout()[0]
    gone = [key for key in made if key in images and key[1] not in present[key[0]]]
    if not gone:
        return []
    import pyarrow.parquet as pq  # only when a folder is gone

    in_rows = set()
    for batch in sorted({made[key][0] for key in gone}):
        try:
            rows = pq.read_table(f"{RESULTS}/batches/{batch}.parquet", columns=["split", "stem"])
        except (OSError, ValueError):
            continue  # no rows yet: the batch job makes every folder
        in_rows.update(zip(rows["split"].to_pylist(), rows["stem"].to_pylist()))
    return sorted(key for key in gone if key in in_rows)


def batch_files(wildcards):
    return [f"{RESULTS}/batches/{batch}.parquet" for batch in layout()[1]]


def members_param(wildcards):
    """What reruns a batch's manifest job: its members changed (images came or
    went; a gone batch keeps its last manifest, read by no job)."""
    return batches_mod.describe(batches_mod.only(layout()[2], wildcards.batch))


def batch_members(wildcards):
    """Each member's image and label paths (the job reads them from its manifest)."""
    return [batches_mod.member(DATA_DIR, *key) for key in layout()[1][wildcards.batch]]


def batch_inputs(wildcards):
    """The batch's files as one readable param: its image count and the
    fingerprint of the paths, sizes and mtimes of its images and labels.

    A param, not inputs: Snakemake would otherwise check every file at every
    start and keep them in its DAG (at 20,000 images the no-op rerun's main
    cost), while the fingerprint reruns the batch's job when an image or label
    is added, replaced, edited or removed, and the job then redoes only those
    images (and logs which).
    """
    members = batch_members(wildcards)
    paths = [m[name] for m in members for name in ("image", "zones", "front", "bbox")]
    return f"{len(members)} images and their labels ({fingerprint(paths, named=True)})"


def folders_param(wildcards):
    """What reruns the image_folders job: a folder of a processed image is gone."""
    gone = missing_folders()
    if not gone:
        return "none missing"
    return f"{len(gone)} missing ({fingerprint([], *gone, length=12)})"


def batch_labels(wildcards):
    """The fingerprint of the batch's label files (rule evaluate's trigger)."""
    paths = [m[name] for m in batch_members(wildcards) for name in ("zones", "front", "bbox")]
    return f"labels of {len(paths) // 3} images ({fingerprint(paths, named=True)})"


# Scoring models (workflow/rules/evaluate.smk).


def eval_members(model, batch):
    """The batch's images that have a prediction of `model`, with their files."""
    files = PREDICTIONS[model].files
    return [
        batches_mod.member(DATA_DIR, split, stem) | {"prediction": files[stem]}
        for split, stem in layout()[1].get(batch, [])
        if stem in files
    ]


def eval_batches(model):
    files = PREDICTIONS[model].files
    return [batch for batch, keys in layout()[1].items() if any(stem in files for _, stem in keys)]


def eval_batch_files(wildcards):
    return [
        f"{RESULTS}/evaluation/{wildcards.model}/batches/{batch}.parquet"
        for batch in eval_batches(wildcards.model)
    ]


def test_stems(wildcards):
    """The test images a model is scored on: those with labels."""
    return sorted(
        stem
        for split, stem in layout()[0]
        if split == "test" and has_labels(*label_paths(DATA_DIR, split, stem).values())
    )


def ignored_stems(wildcards):
    """Predictions whose stem is no image of the catalog."""
    known = {stem for _, stem in layout()[0]}
    return sorted(set(PREDICTIONS[wildcards.model].files) - known)


EVALUATIONS = {
    model: {
        "kind": found.kind,
        "per_image": f"{RESULTS}/evaluation/{model}/per_image.parquet",
        "metrics": f"{RESULTS}/evaluation/{model}/metrics.json",
    }
    for model, found in PREDICTIONS.items()
}


# workflow/plugins of this repository, also when it is used as a module (then
# workflow.basedir is the folder of the Snakefile that uses it).
PLUGINS_DIR = Path(workflow.current_basedir.get_path_or_uri(secret_free=False)).parent / "plugins"


# Models the workflow runs (workflow/rules/predict.smk).


def model_manifest(wildcards):
    """The evaluate rule's input for a model the workflow runs, else []."""
    if wildcards.model not in MODEL_RUNS.specs | MODEL_RUNS.kept:
        return []
    return [predict_stage.manifest_path(RESULTS, wildcards.model, wildcards.batch)]


def model_manifests(wildcards):
    """Every prediction job's manifest (the summary reads them)."""
    return [
        predict_stage.manifest_path(RESULTS, model, batch)
        for model in MODEL_RUNS.specs
        for batch in layout()[1]
    ]


def batch_images(wildcards):
    """The fingerprint of the batch's SAR images (the trigger of the predict jobs): a
    param, not inputs, as for the per-image stage (batch_inputs)."""
    paths = [m["image"] for m in batch_members(wildcards)]
    return f"{len(paths)} images ({fingerprint(paths, named=True)})"
