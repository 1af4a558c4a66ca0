# The only rule that talks to the database: one writer, on the submit host.
rule ingest_dataset:
    input:
        catalog="results/catalog.parquet",
    output:
        summary="results/ingest_summary.json",
    log:
        "logs/ingest_dataset.log",
    localrule: True
    conda:
        "../../envs/caffe.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        dataset=config["dataset_name"],
    shell:
        "python -m caffe_workflow.ingest --catalog {input.catalog:q}"
        " --dataset {params.dataset:q} --summary {output.summary:q} 2> {log:q}"
