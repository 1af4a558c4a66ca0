"""The optional FiftyOne zoo model for embeddings (config key ``embeddings_model``).

Off by default: tests and many clusters have no internet, and the per-image
``features`` need no model. When it is set, the run checks before any work
that the model loads (downloading it into FiftyOne's ``model_zoo_dir`` if
needed) and stops with one line if it cannot: a user who asked for the
model learns at once, not after the per-image work. The check is the rule
``check`` (workflow/rules/check.smk), which Snakemake reruns only when the
model's name changes. The ingest then loads the model again to compute the
embeddings of the samples that lack them.
"""

from __future__ import annotations

import urllib.parse


class ZooModelError(RuntimeError):
    """The zoo model cannot be loaded (the message is one line)."""


def _chain(err: BaseException) -> list[BaseException]:
    chain = [err]
    while len(chain) < 5 and (chain[-1].__cause__ or chain[-1].__context__) is not None:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)
    return chain


def _short(err: BaseException, limit: int = 160) -> str:
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(name: str, err: BaseException) -> str:
    """One line: what went wrong, in words a user can act on."""
    import requests

    off = "or set embeddings_model: null (the built-in features need no model)"
    chain = _chain(err)
    for e in chain:
        if isinstance(e, (requests.RequestException, ConnectionError, TimeoutError)):
            url = getattr(getattr(e, "request", None), "url", None)
            host = urllib.parse.urlsplit(url).hostname if url else None
            where = f" from {host}" if host else ""
            return (
                f"embeddings_model {name!r} cannot be loaded: its download{where} "
                f"failed (no internet access?). Download it where there is internet "
                f"(`fiftyone zoo models download {name}`, same FIFTYONE_MODEL_ZOO_DIR), {off}"
            )
    for e in chain:
        if isinstance(e, ImportError):
            return (
                f"embeddings_model {name!r} cannot be loaded: it needs a package that "
                f"is not installed ({_short(e)}). Install it into the project's "
                f"environment, {off}"
            )
    if isinstance(err, ValueError) and "not found" in str(err):
        return (
            f"embeddings_model {name!r}: the FiftyOne model zoo has no model of that "
            f"name (see `fiftyone zoo models list`); give another name, {off}"
        )
    return f"embeddings_model {name!r} cannot be loaded ({_short(err)}); {off}"


def load(name: str):
    """``fiftyone.zoo.load_zoo_model(name)``, or ZooModelError (one line)."""
    import fiftyone.zoo as foz

    try:
        return foz.load_zoo_model(name)
    # The zoo fails through many layers (requests, package checks, the
    # manifest, the model's own loading): all of them are one line here.
    except Exception as err:
        raise ZooModelError(describe(name, err)) from None
