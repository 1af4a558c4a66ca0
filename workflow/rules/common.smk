import sys
from pathlib import Path

from snakemake.utils import validate

# Jobs run `python -m caffe_workflow...` from the installed package (make setup
# installs it in editable mode); the Snakefile itself imports it from the tree.
sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))

from caffe_workflow import OUTPUT_VERSION
from caffe_workflow.discover import discover, label_paths

validate(config, "../schemas/config.schema.yaml")

DATA_DIR = Path(config["data_dir"]).absolute()


wildcard_constraints:
    split="train|test",
    stem="[^/]+",


def images():
    """(split, stem) -> SAR image path, once the data is known to be in place.

    Discovery waits for the `locate_data` checkpoint, so a missing data_dir is
    reported by that job (or fetched, once downloading exists) and `--lint` or
    a dry run works without any data.
    """
    checkpoints.locate_data.get()
    return discover(DATA_DIR).images


def image_dirs(wildcards):
    return [f"results/images/{split}/{stem}" for split, stem in images()]


def image_inputs(wildcards):
    """The SAR image and whichever of its label files exist.

    Missing labels are not errors here: the per-image step reports them, and a
    label that appears later changes the input set, which reruns the job.
    """
    labels = label_paths(DATA_DIR, wildcards.split, wildcards.stem)
    found = {name: str(path) for name, path in labels.items() if path.exists()}
    image = DATA_DIR / "sar_images" / wildcards.split / f"{wildcards.stem}.png"
    return {"image": str(image), **found}


def label_path(name):
    def get(wildcards):
        return str(label_paths(DATA_DIR, wildcards.split, wildcards.stem)[name])

    return get
