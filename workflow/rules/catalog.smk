# The batches' rows -> one catalog and the validation report. The catalog is
# the one step that sees every image at once, so it also removes the folders
# (results/<dataset>/images/<split>/<stem>/) of images no longer in data_dir:
# the per-image folders belong to the workflow, not to the user, and one kept
# for a removed image would be taken for a current one.
rule catalog:
    input:
        batch_files,
    output:
        catalog=f"{RESULTS}/catalog.parquet",
        report=f"{RESULTS}/validation_report.md",
    log:
        f"{LOGS}/catalog.log",
    # On the submit host: it takes seconds, while a Slurm job would add a
    # Snakemake start, queueing and status polls.
    localrule: True
    conda:
        "../../envs/caffe.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        dataset=DATASET,
        data_dir=str(DATA_DIR),
        images_root=f"{RESULTS}/images",
    message:
        "Catalog of dataset {params.dataset}"
    script:
        "../scripts/catalog.py"
