# One job per batch of images (caffe_workflow.batches: about batch_mb of SAR
# PNG each, members fixed once assigned). The job processes, in `threads`
# threads, only the members whose image or labels changed since its last run,
# so a new image costs one image of work; Snakemake and a cluster see a few
# jobs instead of one per image.
rule process:
    output:
        # update(): Snakemake keeps the batch's previous rows, so the job
        # can reuse those of the members that did not change.
        rows=update(f"{RESULTS}/batches/{{batch}}.parquet"),
    log:
        f"{LOGS}/process/{{batch}}.log",
    conda:
        "../../envs/caffe.yaml"
    threads: config["process_threads"]
    # Measured on full-size images: ~65 ms of CPU and at most ~70 MB per
    # image at a time, so a thread; a batch of 1 GB of PNG is ~2 min of CPU.
    resources:
        mem_mb=lambda wildcards, threads: 500 + 100 * threads,
        runtime=30,
    params:
        # The job reads its members from the manifest: as a param the member
        # list would be compared, and printed when it changes, at every start.
        manifest=MANIFEST,
        data_dir=str(DATA_DIR),
        # Rerun the batch's job when one of its images or labels changes.
        images=batch_images,
        labels=batch_labels,
        images_root=f"{RESULTS}/images",
        thumbnail_height=config["thumbnail_height"],
        output_version=OUTPUT_VERSION,
        row_format=ROW_FORMAT,
    script:
        "../scripts/process.py"
