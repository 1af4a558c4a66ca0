rule process_image:
    input:
        image=sar_image,
    output:
        directory("results/images/{split}/{stem}"),
    log:
        "logs/process_image/{split}/{stem}.log",
    conda:
        "../../envs/caffe.yaml"
    # Measured (2 cores, under load): the job itself peaks at 64 MB RSS and
    # 0.7 s on the largest full-size image (DBE TSX 7 m, 3330x2950). On Slurm
    # the request also covers the job's two Snakemake processes (job step and
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
    shell:
        "python -m caffe_workflow.process_image --image {input.image:q}"
        " --zones {params.zones:q} --front {params.front:q} --bbox {params.bbox:q}"
        " --split {wildcards.split:q} --out-dir {output:q}"
        " --thumbnail-height {params.thumbnail_height} 2> {log:q}"
