# Downloads, verifies and unpacks CaFFe when data_dir holds none (see common.smk).
# The zip and data_dir are not declared outputs: Snakemake deletes the outputs
# of a failed job, and neither a partial download nor user data may be lost.
checkpoint fetch_data:
    output:
        "resources/download_report.json",
    log:
        "logs/fetch_data.log",
    localrule: True
    conda:
        "../../envs/caffe.yaml"
    params:
        url=config["download_url"],
        sha256=config["download_sha256"] or "",  # empty: not verified
        zip=config["download_zip"],
        data_dir=str(DATA_DIR),
    shell:
        "python -m caffe_workflow.download --url {params.url:q} --zip {params.zip:q}"
        " --data-dir {params.data_dir:q} --sha256={params.sha256:q}"
        " --report {output:q}"
        " 2>&1 | tee {log:q}"
