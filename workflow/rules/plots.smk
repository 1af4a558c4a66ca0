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


# Front positions through time (caffe_workflow.report_front_position): the
# labelled fronts and every scored model's, so it waits for the evaluations
# (and reruns with them) while the catalog's figures above do not.
rule front_position:
    input:
        catalog=f"{RESULTS}/catalog.parquet",
        per_image=[e["per_image"] for e in EVALUATIONS.values()],
    output:
        figure=report(
            f"{RESULTS}/report/front_position.png",
            caption="../report/front_position.rst",
            category="Fronts",
            labels={"figure": "front position over time"},
        ),
        table=report(
            f"{RESULTS}/report/front_position.csv",
            caption="../report/front_position_table.rst",
            category="Fronts",
            labels={"table": "front positions"},
        ),
    log:
        f"{LOGS}/front_position.log",
    localrule: True
    conda:
        "../../envs/caffe.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models=list(EVALUATIONS),
    message:
        "Front positions through time"
    script:
        "../scripts/front_position.py"


# One figure per scored model: its fronts through time beside the labelled ones.
rule model_fronts:
    input:
        catalog=f"{RESULTS}/catalog.parquet",
        per_image=f"{RESULTS}/evaluation/{{model}}/per_image.parquet",
    output:
        figure=report(
            f"{RESULTS}/report/fronts_over_time/{{model}}.png",
            caption="../report/model_fronts.rst",
            category="Fronts",
            labels={"figure": "fronts over time per glacier", "model": "{model}"},
        ),
    log:
        f"{LOGS}/model_fronts/{{model}}.log",
    wildcard_constraints:
        model="|".join(EVALUATIONS) or "(?!)",
    localrule: True
    conda:
        "../../envs/caffe.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    message:
        "Model {wildcards.model}: its fronts over time"
    script:
        "../scripts/model_fronts.py"
