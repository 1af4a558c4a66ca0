# CaFFe SAR benchmark -> catalog -> persistent FiftyOne dataset.
# Stages, each one rule file (workflow/rules/), one rule and one module
# (caffe_workflow.stages): fetch (only when data_dir is missing), process
# (per image), catalog, predict (models in `models`), evaluate (models in
# `predictions` and `models`), ingest, plots.
import os

from snakemake.utils import min_version

min_version("9.27")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/fetch.smk"
include: "workflow/rules/process.smk"
include: "workflow/rules/catalog.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/plots.smk"


rule all:
    default_target: True
    input:
        rules.catalog.output,
        rules.ingest.output,
        rules.plots.output,
        [e["metrics"] for e in EVALUATIONS.values()],
        rules.evaluation_report.output if EVALUATIONS else [],


onstart:
    check_dataset_owner()
    check_zoo_model()
    record_model_checks()


onsuccess:
    print_summary()
    finish_models()
