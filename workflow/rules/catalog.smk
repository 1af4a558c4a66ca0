rule catalog:
    input:
        batch_files,
    output:
        catalog=f"{RESULTS}/catalog.parquet",
        report=f"{RESULTS}/validation_report.md",
    log:
        f"{LOGS}/catalog.log",
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
        images_root=f"{RESULTS}/images",
    script:
        "../scripts/catalog.py"
