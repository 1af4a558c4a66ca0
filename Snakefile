# CaFFe SAR benchmark -> catalog -> persistent FiftyOne dataset.
# Stages: per-image processing (fan-out), catalog merge, dataset ingest.
import os

from snakemake.utils import min_version

min_version("9.27")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/per_image.smk"
include: "workflow/rules/catalog.smk"
include: "workflow/rules/dataset.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        rules.merge_catalog.output,
        rules.ingest_dataset.output,
        rules.plot_catalog.output,


onstart:
    check_dataset_owner()
    warn_unless_threads()


onsuccess:
    print_summary()
