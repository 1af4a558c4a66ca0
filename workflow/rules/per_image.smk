rule process_image:
    input:
        unpack(image_inputs),
    output:
        directory("results/images/{split}/{stem}"),
    log:
        "logs/process_image/{split}/{stem}.log",
    conda:
        "../../envs/caffe.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        zones=label_path("zones"),
        front=label_path("front"),
        bbox=label_path("bbox"),
        thumbnail_height=config["thumbnail_height"],
        output_version=OUTPUT_VERSION,
    shell:
        "python -m caffe_workflow.process_image --image {input.image:q}"
        " --zones {params.zones:q} --front {params.front:q} --bbox {params.bbox:q}"
        " --split {wildcards.split:q} --out-dir {output:q}"
        " --thumbnail-height {params.thumbnail_height} 2> {log:q}"
