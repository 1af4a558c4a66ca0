# Figures and the validation table for `snakemake --report report.html`.
# Captions live in workflow/report/ (reStructuredText, rendered with Jinja).
rule plots:
    input:
        catalog=f"{RESULTS}/catalog.parquet",
    output:
        timeline=report(
            f"{RESULTS}/report/images_over_time.png",
            caption="../report/images_over_time.rst",
            category="Catalog",
            labels={"figure": "images per glacier over time"},
        ),
        mix=report(
            f"{RESULTS}/report/quality_resolution.png",
            caption="../report/quality_resolution.rst",
            category="Catalog",
            labels={"figure": "quality factor and resolution"},
        ),
        fronts=report(
            f"{RESULTS}/report/front_length.png",
            caption="../report/front_length.rst",
            category="Fronts",
            labels={"figure": "front length over time"},
        ),
        front_maps=report(
            f"{RESULTS}/report/fronts_over_time.png",
            caption="../report/fronts_over_time.rst",
            category="Fronts",
            labels={"figure": "fronts over time per glacier"},
        ),
        validation=report(
            f"{RESULTS}/report/validation.html",
            caption="../report/validation.rst",
            category="Validation",
            labels={"table": "invalid images and warnings"},
        ),
    log:
        f"{LOGS}/plots.log",
    localrule: True
    conda:
        "../../envs/caffe.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    message:
        "Figures for the report"
    script:
        "../scripts/plots.py"
