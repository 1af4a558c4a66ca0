# The start check: before any per-image work, stop when the dataset belongs to
# another data_dir (caffe_workflow.ownership) or `embeddings_model` cannot be
# loaded. A rule, not an onstart hook: it also runs when the workflow is used
# as a module (a module's onstart is not run), a dry run only lists it, and
# Snakemake reruns it only when one of its params changes, so FiftyOne's
# database is asked once per dataset, data_dir and model. The ingest checks
# the owner again, under its lock, before it writes.
rule check:
    output:
        CHECKED,
    log:
        f"{LOGS}/check.log",
    localrule: True
    conda:
        "../../envs/caffe.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        dataset=DATASET,
        data_dir=str(DATA_DIR),
        take_over=TAKE_OVER,
        embeddings_model=config["embeddings_model"],
    message:
        "Start check of dataset {params.dataset}"
    script:
        "../scripts/check.py"
