# Downloads, verifies and unpacks CaFFe when data_dir holds none (see common.smk).
# The zip and data_dir are not declared outputs: Snakemake deletes the outputs
# of a failed job, and neither a partial download nor user data may be lost.
checkpoint fetch:
    output:
        # Per dataset: a download made for another dataset (or data_dir, a
        # param) is never taken as this one's.
        f"{RESULTS}/download_report.json",
    log:
        f"{LOGS}/fetch.log",
    localrule: True
    conda:
        "../../envs/caffe.yaml"
    params:
        url=config["download_url"],
        sha256=config["download_sha256"] or "",  # empty: not verified
        zip=config["download_zip"],
        data_dir=str(DATA_DIR),
    message:
        "Download and unpack CaFFe into {params.data_dir}"
    script:
        "../scripts/fetch.py"
