# One job per batch of images (caffe_workflow.batches: about batch_mb of SAR
# PNG each, members fixed once assigned). The job processes, in `threads`
# threads, only the members whose image or labels changed since its last run,
# or whose folder is gone (common.smk), so a new image costs one image of
# work; Snakemake and a cluster see a few jobs instead of one per image.


# The batch manifest, results/<dataset>/batches.tsv: the assignment the
# Snakefile computed in memory at its start, written only by this job, so that
# a dry run changes nothing. It reruns when the assignment changes (images came
# or went); the batch jobs read it (on a cluster node too) and take it as an
# ancient() input, so that rewriting it reruns no batch whose members stayed.
# `run:` rather than `script:`: the assignment lives in this Snakemake process.
rule batches:
    output:
        MANIFEST,
    log:
        f"{LOGS}/batches.log",
    localrule: True
    params:
        assignment=manifest_param,
    message:
        "Batch manifest: {params.assignment}"
    run:
        batches_mod.write(output[0], layout()[2])
        Path(log[0]).write_text(f"{params.assignment}\n")


rule process:
    input:
        # The job reads its members from the manifest: as a param the member
        # list would be compared, and printed when it changes, at every start.
        manifest=ancient(MANIFEST),
        checked=ancient(CHECKED),
    output:
        # update(): Snakemake keeps the batch's previous rows, so the job
        # can reuse those of the members that did not change.
        rows=update(f"{RESULTS}/batches/{{batch}}.parquet"),
    log:
        f"{LOGS}/process/{{batch}}.log",
    conda:
        "../../envs/caffe.yaml"
    threads: config["process_threads"]
    # Per image at a time a thread and its decoded pixels; see the README's
    # performance section for measured figures.
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
# A job of its own, so that a repaired folder reruns no catalog or ingest.
rule image_folders:
    input:
        manifest=ancient(MANIFEST),
        rows=lambda w: [ancient(f) for f in batch_files(w)],
    output:
        f"{RESULTS}/image_folders.txt",
    log:
        f"{LOGS}/image_folders.log",
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
