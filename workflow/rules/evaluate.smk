# Scoring models on the benchmark (config key `predictions`, parsed in
# common.smk; caffe_workflow.stages.evaluate). Same batch design as the
# per-image stage: one job per (model, batch) over the batch's images that
# have a prediction; inside, only the images whose prediction or labels
# changed are evaluated again. Then one merge per model.


rule evaluate:
    input:
        # The batch's members come from its manifest on a cluster node too.
        manifest=manifest("{batch}"),
        # A model the workflow runs: its prediction job's manifest
        # (predict.smk) instead of its files, which that job writes.
        model_manifest=model_manifest,
        predictions=lambda w: (
            [] if model_manifest(w) else [m["prediction"] for m in eval_members(w.model, w.batch)]
        ),
    output:
        # update(): the previous rows are kept for the images that did not change.
        rows=update(f"{RESULTS}/evaluation/{{model}}/batches/{{batch}}.parquet"),
    log:
        f"{LOGS}/evaluate/{{model}}/{{batch}}.log",
    conda:
        "../../envs/caffe.yaml"
    threads: config["process_threads"]
    resources:
        mem_mb=lambda wildcards, threads: 1000 + 400 * threads,
        runtime=30,
    params:
        members=lambda w: eval_members(w.model, w.batch),
        labels=batch_labels,  # reruns the job when a label changes
        kind=lambda w: PREDICTIONS[w.model].kind,
        postprocessed=lambda w: PREDICTIONS[w.model].postprocessed,
        evaluation_version=EVALUATION_VERSION,
    message:
        "Model {wildcards.model}, batch {wildcards.batch}: score its new and changed predictions"
    script:
        "../scripts/evaluate.py"


rule evaluate_merge:
    input:
        eval_batch_files,
    output:
        per_image=f"{RESULTS}/evaluation/{{model}}/per_image.parquet",
        metrics=f"{RESULTS}/evaluation/{{model}}/metrics.json",
    log:
        f"{LOGS}/evaluate/{{model}}/merge.log",
    localrule: True
    conda:
        "../../envs/caffe.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        kind=lambda w: PREDICTIONS[w.model].kind,
        test_stems=test_stems,
        ignored=ignored_stems,
        source=lambda w: PREDICTIONS[w.model].source(),
    message:
        "Model {wildcards.model}: metrics"
    script:
        "../scripts/evaluate_merge.py"


# The models side by side in the Snakemake report (only with `predictions`).
rule evaluation_report:
    input:
        metrics=[e["metrics"] for e in EVALUATIONS.values()],
        per_image=[e["per_image"] for e in EVALUATIONS.values()],
    output:
        table=report(
            f"{RESULTS}/report/models.html",
            caption="../report/models.rst",
            category="Models",
            labels={"table": "models side by side"},
        ),
        breakdown=report(
            f"{RESULTS}/report/models_mde.png",
            caption="../report/models_mde.rst",
            category="Models",
            labels={"figure": "MDE by glacier and season"},
        ),
        distribution=report(
            f"{RESULTS}/report/models_errors.png",
            caption="../report/models_errors.rst",
            category="Models",
            labels={"figure": "per-image errors"},
        ),
        over_time=report(
            f"{RESULTS}/report/models_over_time.png",
            caption="../report/models_over_time.rst",
            category="Models",
            labels={"figure": "per-image error over time"},
        ),
    log:
        f"{LOGS}/evaluation_report.log",
    localrule: True
    conda:
        "../../envs/caffe.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    message:
        "The models side by side"
    script:
        "../scripts/evaluation_report.py"
