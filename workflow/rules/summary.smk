# The end summary on the console (and in results/<dataset>/summary.txt). A rule,
# not an onsuccess hook, so that it also prints when the workflow is used as a
# module; it runs last, whenever the dataset, catalog or figures were redone.
rule summary:
    input:
        ingest=rules.ingest.output.summary,
        catalog=rules.catalog.output.catalog,
        report=rules.catalog.output.report,
        figures=rules.plots.output,
        metrics=[e["metrics"] for e in EVALUATIONS.values()],
    output:
        f"{RESULTS}/summary.txt",
    log:
        f"{LOGS}/summary.log",
    localrule: True
    conda:
        "../../envs/caffe.yaml"
    params:
        dataset=DATASET,
        plugins=str(PLUGINS_DIR),
        models=bool(EVALUATIONS),
    message:
        "Summary of dataset {params.dataset}"
    script:
        "../scripts/summary.py"
