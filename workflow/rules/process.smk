# One job per batch of images (caffe_workflow.batches: about batch_mb of SAR
# PNG each, members fixed once assigned). The job processes, in `threads`
# threads, only the members whose image or labels changed since its last run,
# or whose folder is gone (common.smk), so a new image costs one image of
# work; Snakemake and a cluster see a few jobs instead of one per image.


# A batch's manifest, results/<dataset>/batches/<batch>.tsv: its members as
# the Snakefile assigned them in memory at its start (handed to the job with
# the param), written only by this job, so that a dry run changes nothing. It
# reruns when the batch's members change, and then so does the batch's job,
# which reads its members from it (on a cluster node too); a batch whose
# members stayed is not touched.
rule batches:
    input:
        # Nothing is written before the start check has passed.
        checked=CHECKED,
    output:
        manifest("{batch}"),
    log:
        f"{LOGS}/batches/{{batch}}.log",
    localrule: True
    conda:
        "../../envs/caffe.yaml"
    params:
        members=members_param,
    message:
        "Batch {wildcards.batch}: its members, {params.members}"
    script:
        "../scripts/batches.py"


rule process:
    input:
        # The job reads its members from its manifest: as a param the member
        # list would be compared, and printed when it changes, at every start.
        manifest=manifest("{batch}"),
        # The start check comes first. Not ancient(): Snakemake then skips the
        # own reasons of the jobs after a job that reruns.
        checked=CHECKED,
    output:
        # update(): Snakemake keeps the batch's previous rows, so the job
        # can reuse those of the members that did not change.
        rows=update(f"{RESULTS}/batches/{{batch}}.parquet"),
    log:
        f"{LOGS}/process/{{batch}}.log",
    conda:
        "../../envs/caffe.yaml"
    threads: config["process_threads"]
    # Per image at a time a thread and its decoded pixels; docs/benchmarks.md
    # has measured figures.
    resources:
        mem_mb=lambda wildcards, threads: 500 + 100 * threads,
        runtime=30,
    params:
        data_dir=str(DATA_DIR),
        # Reruns the batch's job when one of its images or labels changes.
        inputs=batch_inputs,
        images_root=f"{RESULTS}/images",
        thumbnail_height=config["thumbnail_height"],
        output_version=OUTPUT_VERSION,
        row_format=ROW_FORMAT,
    message:
        "Batch {wildcards.batch}: process its new and changed images"
    script:
        "../scripts/process.py"


# The per-image folders (results/<dataset>/images/<split>/<stem>/) are made by
# the batch jobs but not declared as their outputs: thousands of outputs would
# make every start check and record each one. This job redoes the folders that
# are gone although their batch's rows are up to date (a folder deleted by
# hand): its param counts them at every start, so the next plain run notices.
# A job of its own, so that a repaired folder reruns no catalog or ingest; on
# the submit host, since it usually only lists the folders.
rule image_folders:
    input:
        # After the batch jobs; it runs again after any of them, at the cost
        # of a listing.
        manifests=lambda w: [manifest(batch) for batch in layout()[1]],
        rows=batch_files,
    output:
        f"{RESULTS}/image_folders.txt",
    log:
        f"{LOGS}/image_folders.log",
    localrule: True
    conda:
        "../../envs/caffe.yaml"
    threads: config["process_threads"]
    resources:
        mem_mb=lambda wildcards, threads: 500 + 100 * threads,
        runtime=30,
    params:
        missing=folders_param,
        data_dir=str(DATA_DIR),
        images_root=f"{RESULTS}/images",
        thumbnail_height=config["thumbnail_height"],
    message:
        "Image folders: {params.missing}"
    script:
        "../scripts/image_folders.py"
