# Makes sure CaFFe is at data_dir before anything is discovered in it.
checkpoint locate_data:
    output:
        "results/data_source.json",
    log:
        "logs/locate_data.log",
    localrule: True
    conda:
        "../../envs/caffe.yaml"
    params:
        data_dir=str(DATA_DIR),
    shell:
        "python -m caffe_workflow.discover --data-dir {params.data_dir:q}"
        " --record {output:q} 2>&1 | tee {log:q}"
