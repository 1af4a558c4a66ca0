# Models the workflow runs (config key `models`; caffe_workflow.stages.predict,
# planned in common.smk as MODEL_RUNS). One job per (model, batch of images),
# the batches of the per-image stage; inside, only the images whose
# prediction is missing, whose image changed or whose model fingerprint
# changed are predicted. Each job's manifest is the input of the evaluate
# job of the same (model, batch), which scores what it lists.


rule predict:
    input:
        # The job reads the batch's members from its manifest (rule batches),
        # after the start check.
        manifest=manifest("{batch}"),
        checked=CHECKED,
    output:
        # update(): the job reads the previous manifest to skip what is done.
        manifest=update(f"{RESULTS}/models/{{model}}/manifest_{{batch}}.json"),
    log:
        f"{LOGS}/predict/{{model}}/{{batch}}.log",
    wildcard_constraints:
        model="|".join(MODEL_RUNS.specs) or "(?!)",
    conda:
        "../../envs/caffe.yaml"
    threads: config["process_threads"]
    # On Slurm a GPU is asked for per rule in the profile (set-resources:
    # predict: slurm_extra), see profiles/slurm/README.md.
    resources:
        mem_mb=lambda wildcards, threads: 2000 + 200 * threads,
        runtime=60,
    params:
        entry=lambda w: config["models"][w.model],
        # Reruns every batch when the model file (its hash) or options change.
        fingerprint=lambda w: MODEL_RUNS.fingerprints[w.model],
        # Reruns the batch when one of its images is added, replaced or removed.
        images=batch_images,
        retry=lambda w: predict_stage.retry_token(
            predict_stage.manifest_path(RESULTS, w.model, w.batch)
        ),
        data_dir=str(DATA_DIR),
        out_dir=lambda w: predict_stage.models_dir(RESULTS, w.model),
    message:
        "Model {wildcards.model}, batch {wildcards.batch}: predict its new and changed images"
    script:
        "../scripts/predict.py"
