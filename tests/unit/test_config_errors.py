"""caffe_workflow.config_errors: Snakemake's schema errors as one line."""

from pathlib import Path

import pytest
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from caffe_workflow.config_errors import one_line

SCHEMA = str(Path(__file__).resolve().parents[2] / "workflow/schemas/config.schema.yaml")


def message(config: dict) -> str:
    with pytest.raises(WorkflowError) as caught:
        validate(config, SCHEMA)
    return one_line(caught.value, config)


def test_a_typo_names_the_close_key():
    assert message({"dataset": "foo"}) == (
        "unknown config key 'dataset': did you mean 'dataset_name'? "
        "(config/README.md describes every key)"
    )


def test_a_key_with_no_close_name_gets_no_guess():
    line = message({"zzzz": 1})
    assert line.startswith("unknown config key 'zzzz': (") and "did you mean" not in line


def test_a_bad_value_names_key_problem_and_what_to_do():
    line = message({"thumbnail_height": 3})
    assert line.startswith("config thumbnail_height=3: 3 is less than the minimum of 16 (Height")
    assert "--config thumbnail_height=..." in line and "\n" not in line


def test_snakemakes_own_message_is_long():
    """What one_line replaces: Snakemake's message, with the whole schema."""
    with pytest.raises(WorkflowError) as caught:
        validate({"dataset": "foo"}, SCHEMA)
    assert len(str(caught.value).splitlines()) > 20
