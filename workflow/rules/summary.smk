# The end summary on the console (and in results/<dataset>/summary.txt). A rule,
# not an onsuccess hook, so that it also prints when the workflow is used as a
# module; it runs last, whenever the dataset, catalog or figures were redone.
# With `models`: a line per model run by the workflow, and each model problem
# again, after which the job fails (exit status 1, no summary.txt), so the
# next run reports it again until the model is mended or removed.
rule summary:
    input:
        ingest=rules.ingest.output.summary,
        catalog=rules.catalog.output.catalog,
        report=rules.catalog.output.report,
        figures=rules.plots.output,
        positions=rules.front_position.output,
        model_fronts=expand(rules.model_fronts.output.figure, model=EVALUATIONS),
        metrics=[e["metrics"] for e in EVALUATIONS.values()],
        model_manifests=model_manifests,
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
        model_problems=MODEL_RUNS.problem_lines(),
    message:
        "Summary of dataset {params.dataset}"
    script:
        "../scripts/summary.py"
