from caffe_workflow.stages.process import process_and_log


# A `run:` block, executed in a thread of the Snakemake process itself
# (force-use-threads in profiles/default; Slurm job steps always use threads):
# a job then costs no Python start and no imports, which were half of its
# time as a `python -m` shell command. So it runs in Snakemake's environment
# (the project's venv), hence no conda: directive.
rule process:
    input:
        image=sar_image,
    output:
        folder=directory(f"{RESULTS}/images/{{split}}/{{stem}}"),
    log:
        messages=f"{LOGS}/process/{{split}}/{{stem}}.log",
    # Measured (2 cores, under load): the work peaks at 64 MB RSS and 0.7 s
    # on the largest full-size image (DBE TSX 7 m, 3330x2950). On Slurm the
    # request also covers the job's two Snakemake processes (job step and
    # member): a group job peaked at 441 MB summed RSS with the 681-image
    # DAG. Each member of a group job costs 5-20 s, mostly Snakemake start;
    # a group asks for the sum of its members' runtime (24 x 3 min).
    resources:
        mem_mb=1000,
        runtime=3,
    params:
        zones=label_path("zones"),
        front=label_path("front"),
        bbox=label_path("bbox"),
        labels=label_signature,  # reruns the job when a label changes
        thumbnail_height=config["thumbnail_height"],
        output_version=OUTPUT_VERSION,
    run:
        process_and_log(
            input.image,
            params.zones,
            params.front,
            params.bbox,
            wildcards.split,
            output.folder,
            params.thumbnail_height,
            log.messages,
        )
