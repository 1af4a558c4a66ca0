import functools
import hashlib
import os
import sys
from pathlib import Path

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
    label_paths,
)
from caffe_workflow.predictions import PredictionsError, parse_config
import caffe_workflow.stages.predict as predict_stage
from caffe_workflow.stages.fetch import where_to_get
from caffe_workflow.stages.ingest_models import FIELDS_VERSION
from caffe_workflow.ownership import precheck
from caffe_workflow.zoo_model import precheck as precheck_zoo_model

# Models to score (config key `predictions`): a bad name, a missing folder or
# a folder with both kinds of prediction is a one-line error now, before any
# work (checked before the schema, whose message would be many lines).
try:
    PREDICTIONS = parse_config(config.get("predictions"))
except PredictionsError as err:
    sys.exit(f"Error: {err}.")

# Models the workflow runs (config key `models`, rules/predict.smk): checked
# now (one line per model that cannot be used), each usable one is one more
# entry of PREDICTIONS, whose files its prediction jobs write.
MODEL_RUNS = predict_stage.plan(
    config.get("models"),
    f"results/{config.get('dataset_name')}",
    workflow.is_main_process,
)
MODEL_RUNS.add_to(PREDICTIONS, lambda: [stem for _, stem in layout()[0]])

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
        return discover(DATA_DIR)
    except DataDirError as err:
        sys.exit(f"Error: {err}.")


MANIFEST = f"{RESULTS}/batches.tsv"
BATCH_BYTES = int(config["batch_mb"] * 1e6)


def from_manifest():
    """(split, stem) -> path of the manifest's images: what a job started by a
    cluster executor needs, without listing data_dir again on the node."""
    return {
        key: Path(batches_mod.member(DATA_DIR, *key)["image"])
        for key in batches_mod.read(MANIFEST)
    }


@functools.cache
def layout():
    """(images, batches): (split, stem) -> SAR image path, and batch -> its
    members' keys. The main process lists data_dir and updates the manifest
    (caffe_workflow.batches); a job on a cluster node reads the manifest."""
    if not workflow.is_main_process and Path(MANIFEST).exists():
        found = from_manifest()
        return found, batches_mod.update(
            MANIFEST, {k: 0 for k in found}, BATCH_BYTES, False
        )
    if not DATA_DIR.exists():
        checkpoints.fetch.get()  # downloads and unpacks it first
    found = discover_or_exit()
    members = batches_mod.update(
        MANIFEST, found.sizes, BATCH_BYTES, workflow.is_main_process
    )
    return found.images, members


# A data_dir that exists is used as it is (and any problem with it is a one-line
# error now, before any work); a missing one is downloaded and unpacked by the
# fetch checkpoint, and its images are found after that.
if DATA_DIR.exists():
    layout()
elif str(config["download"]).lower() != "true":
    sys.exit(f"Error: data_dir {DATA_DIR} does not exist. {where_to_get()}")


wildcard_constraints:
    batch="b[0-9]+",
    model="[A-Za-z][A-Za-z0-9_]*",


def batch_files(wildcards):
    return [f"{RESULTS}/batches/{batch}.parquet" for batch in layout()[1]]


def batch_images(wildcards):
    """A digest of the paths, sizes and mtimes of the batch's SAR images.

    A param, not inputs: Snakemake would otherwise check every image file at
    every start and keep them in its DAG (at 20,000 images the no-op rerun's
    main cost), while the digest reruns the batch's job when an image is
    added, replaced or removed, and the job then redoes only those images.
    """
    images = layout()[0]
    digest = hashlib.sha1()
    for key in layout()[1][wildcards.batch]:
        path = images[key]
        try:
            stat = os.stat(path)
            digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns};".encode())
        except FileNotFoundError:
            digest.update(f"{path}:missing;".encode())
    return digest.hexdigest()


def batch_members(wildcards):
    """Each member's image and label paths (the job reads them from the manifest)."""
    return [batches_mod.member(DATA_DIR, *key) for key in layout()[1][wildcards.batch]]


def batch_labels(wildcards):
    """A digest of the size and mtime of the batch's label files.

    The labels are a param, not inputs: a label that is edited, added or
    removed reruns its batch's job (which then redoes only that image), while
    Snakemake handles one input per image instead of four.
    """
    digest = hashlib.sha1()
    for member in batch_members(wildcards):
        for name in ("zones", "front", "bbox"):
            try:
                stat = os.stat(member[name])
                digest.update(
                    f"{member[name]}:{stat.st_size}:{stat.st_mtime_ns};".encode()
                )
            except FileNotFoundError:
                digest.update(f"{member[name]}:missing;".encode())
    return digest.hexdigest()


# Scoring models (workflow/rules/evaluate.smk).


def eval_members(model, batch):
    """The batch's images that have a prediction of `model`, with their files."""
    files = PREDICTIONS[model].files
    members = []
    for split, stem in layout()[1].get(batch, []):
        if stem in files:
            labels = label_paths(DATA_DIR, split, stem)
            members.append(
                {"split": split, "stem": stem, "prediction": files[stem]}
                | {name: str(path) for name, path in labels.items()}
            )
    return members


def eval_batches(model):
    files = PREDICTIONS[model].files
    return [
        batch
        for batch, keys in layout()[1].items()
        if any(stem in files for _, stem in keys)
    ]


def eval_batch_files(wildcards):
    return [
        f"{RESULTS}/evaluation/{wildcards.model}/batches/{batch}.parquet"
        for batch in eval_batches(wildcards.model)
    ]


def test_stems(wildcards):
    return sorted(stem for split, stem in layout()[0] if split == "test")


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


def check_dataset_owner():
    """Before any job: stop if the dataset belongs to another data_dir (onstart)."""
    precheck(RESULTS, DATASET, str(DATA_DIR), TAKE_OVER)


def check_zoo_model():
    """Before any job: stop if `embeddings_model` cannot be loaded (onstart)."""
    precheck_zoo_model(RESULTS, config["embeddings_model"])


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
    if EVALUATIONS:
        print(plugin_hint(), file=sys.stderr)


def plugin_hint():
    """How the App finds the plugin @caffe/metrics: never by changing a
    FIFTYONE_PLUGINS_DIR the user set (FiftyOne reads one plugins folder)."""
    plugins = Path(workflow.basedir) / "workflow" / "plugins"
    mine = os.environ.get("FIFTYONE_PLUGINS_DIR")
    if not mine:
        return (
            f"  the CaFFe metrics plugin (README: Scoring models): "
            f"export FIFTYONE_PLUGINS_DIR={plugins} before launching the App, "
            f"or link {plugins / 'caffe-metrics'} into your own plugins folder"
        )
    if (
        Path(mine, "caffe-metrics").exists()
        or Path(mine).resolve() == plugins.resolve()
    ):
        return f"  the CaFFe metrics plugin is in your FIFTYONE_PLUGINS_DIR ({mine})"
    return (
        f"  the CaFFe metrics plugin is not in your FIFTYONE_PLUGINS_DIR ({mine}): "
        f"ln -s {plugins / 'caffe-metrics'} {mine}/"
    )
