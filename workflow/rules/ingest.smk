# The only rule that talks to the database: one writer, on the submit host.
rule ingest:
    input:
        catalog=f"{RESULTS}/catalog.parquet",
        # The models' evaluations (config key `predictions`), when any.
        evaluations=[e["per_image"] for e in EVALUATIONS.values()],
    output:
        summary=f"{RESULTS}/ingest_summary.json",
    log:
        f"{LOGS}/ingest.log",
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
        models={m: e["kind"] for m, e in EVALUATIONS.items()},
        # Reruns the ingest when the models' fields change (a new field).
        model_fields_version=FIELDS_VERSION,
        # A change reruns the ingest (checked at the start: rule check).
        embeddings_model=config["embeddings_model"],
    message:
        "Ingest into FiftyOne dataset {params.dataset}"
    script:
        "../scripts/ingest.py"
