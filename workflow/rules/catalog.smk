rule merge_catalog:
    input:
        image_dirs,
    output:
        # update(): Snakemake keeps the old catalog for the merge, which reuses
        # the rows of folders unchanged since it was written.
        catalog=update("results/catalog.parquet"),
        report="results/validation_report.md",
    log:
        "logs/merge_catalog.log",
    # On the submit host: at 681 rows it takes 2.7 s and peaks at 225 MB RSS
    # (measured), while a Slurm job would add a Snakemake start, queueing and
    # status polls (~45 s here).
    localrule: True
    conda:
        "../../envs/caffe.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        data_dir=str(DATA_DIR),
    shell:
        "python -m caffe_workflow.catalog --catalog {output.catalog:q}"
        " --report {output.report:q} --images-root results/images"
        " --data-dir {params.data_dir:q} {input:q}"
        " 2> {log:q}"
