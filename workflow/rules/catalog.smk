rule merge_catalog:
    input:
        image_dirs,
    output:
        catalog="results/catalog.parquet",
        report="results/validation_report.md",
    log:
        "logs/merge_catalog.log",
    conda:
        "../../envs/caffe.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        data_dir=str(DATA_DIR),
    shell:
        "python -m caffe_workflow.catalog --catalog {output.catalog:q}"
        " --report {output.report:q} --images-root results/images"
        " --data-dir {params.data_dir:q} {input:q}"
        " 2> {log:q}"
