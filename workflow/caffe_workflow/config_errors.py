"""One line for each mistake in the workflow's config.

Snakemake's `validate()` reports a schema violation with the whole schema and
config (well over a hundred lines); the line that matters is one of them. This
turns the violation into one line naming the key, the problem and what to do.
"""

from __future__ import annotations

import difflib

WHERE = "config/README.md describes every key"


def _is_validation_error(err) -> bool:
    """A jsonschema ValidationError (Snakemake's validate() raises one inside
    its WorkflowError; recognised by its fields, jsonschema being Snakemake's
    dependency, not this package's)."""
    return all(hasattr(err, name) for name in ("validator", "absolute_path", "schema", "instance"))


def validation_error(err: BaseException):
    """The jsonschema error inside Snakemake's WorkflowError (or `err` itself)."""
    if _is_validation_error(err):
        return err
    for arg in getattr(err, "args", ()):
        if _is_validation_error(arg):
            return arg
    cause = err.__cause__ or err.__context__
    return validation_error(cause) if cause is not None else None


def unknown_keys(config: dict, known) -> list[str]:
    return sorted(str(key) for key in config if key not in known)


def unknown_key_line(key: str, known) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown config key '{key}': {hint}({WHERE})"


def one_line(err: BaseException, config: dict) -> str:
    """The message of a config that does not fit the schema, on one line."""
    found = validation_error(err)
    if found is None:
        return str(err).strip().splitlines()[0]
    if found.validator == "additionalProperties" and not found.absolute_path:
        known = found.schema.get("properties", {})
        extra = unknown_keys(config, known)
        if extra:
            return "; ".join(unknown_key_line(key, known) for key in extra)
    key = ".".join(str(part) for part in found.absolute_path) or "(top level)"
    value = found.instance
    # The description's first sentence says what the key is for.
    description = " ".join(str(found.schema.get("description", "")).split()).split(". ")[0]
    what = f" ({description.rstrip('.')})" if description else ""
    problem = found.message
    if found.validator == "pattern" and key.startswith("predictions"):
        problem = f"{value!r} is not a valid model name (a letter, then letters, digits or _)"
    return (
        f"config {key}={value!r}: {problem}{what}; set it in config/config.yaml "
        f"or with --config {key.split('.')[0]}=... ({WHERE})"
    )
