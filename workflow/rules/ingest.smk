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
        mem_mb=1000,  # measured: 341 MB peak at 681 rows (first build)
        runtime=5,  # measured: 14 s at 681 rows
    params:
        dataset=DATASET,
        data_dir=str(DATA_DIR),
        take_over=TAKE_OVER,
        # Not an output: the early owner check's cache (see ownership.py).
        source_record=f"{RESULTS}/source.json",
        models={m: e["kind"] for m, e in EVALUATIONS.items()},
        # Reruns the ingest when the models' fields change (a new field).
        model_fields_version=FIELDS_VERSION,
        # A change reruns the ingest (checked at the start: common.smk).
        embeddings_model=config["embeddings_model"],
    script:
        "../scripts/ingest.py"
