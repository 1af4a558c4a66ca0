# CaFFe SAR benchmark -> catalog -> persistent FiftyOne dataset.
# Stages, each one rule file (workflow/rules/), one rule and one module
# (caffe_workflow.stages): fetch (only when the default data_dir is missing),
# check (the start check), process (per image), catalog, predict (models in
# `models`), evaluate (models in `predictions` and `models`), ingest, plots
# (+ front_position and model_fronts, the figures that read the models'
# fronts), summary (on the console). The start check and the summary are
# rules, not onstart/onsuccess hooks, so that they also run when this
# workflow is used as a module.
import os

from snakemake.utils import min_version

min_version("9.27")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/fetch.smk"
include: "workflow/rules/check.smk"
include: "workflow/rules/process.smk"
include: "workflow/rules/catalog.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/summary.smk"


rule all:
    default_target: True
    input:
        rules.catalog.output,
        rules.ingest.output,
        rules.plots.output,
        rules.front_position.output,
        expand(rules.model_fronts.output.figure, model=EVALUATIONS),
        [e["metrics"] for e in EVALUATIONS.values()],
        rules.evaluation_report.output if EVALUATIONS else [],
        rules.image_folders.output,
        rules.summary.output,
    message:
        f"Dataset {DATASET}: every result is up to date"
