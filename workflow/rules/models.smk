# Functions of the models the workflow runs (rules/predict.smk; MODEL_RUNS
# is planned in common.smk), apart from the rule as --lint asks.


def model_manifest(wildcards):
    """The evaluate rule's input for a model the workflow runs, else []."""
    if wildcards.model not in MODEL_RUNS.specs | MODEL_RUNS.kept:
        return []
    return predict_stage.manifest_path(RESULTS, wildcards.model, wildcards.batch)


def model_manifests():
    """Every prediction job's manifest: {model: [paths]}."""
    return {
        model: [
            predict_stage.manifest_path(RESULTS, model, batch) for batch in layout()[1]
        ]
        for model in MODEL_RUNS.specs
    }


def record_model_checks():
    """Remember the ONNX models that passed the start's check (onstart: a
    dry run writes nothing)."""
    predict_stage.record_checks(MODEL_RUNS)


def finish_models():
    """What each model predicted, on which provider; a model's problem again
    and a non-zero exit status (onsuccess)."""
    if MODEL_RUNS.specs or MODEL_RUNS.problems:
        predict_stage.finish(MODEL_RUNS, model_manifests())
