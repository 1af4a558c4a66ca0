"""Brain runs of the dataset: part of the ingest (the only writer).

For the per-image ``features`` (caffe_workflow.caffe.features, computed by
the per-image step) and, with the config key ``embeddings_model``, for the
``zoo_embeddings`` of a FiftyOne zoo model:

- ``<prefix>_viz``: ``fob.compute_visualization(method="pca")``, the App's
  Embeddings panel. New samples are projected through the fitted PCA
  (``add_samples``: the other points stay where they are); the PCA is fitted
  again when a sample left, an image's vector changed, or more than
  ``REFIT_SHARE`` of the points were projected rather than fitted on.
- ``<prefix>_sim``: ``fob.compute_similarity(backend="sklearn")`` on the
  field, "sort by similarity" in the App. An index on a field keeps no copy
  of the vectors: it reads the field whenever it is loaded, so a new sample
  joins it when its vector is written and a deleted one leaves with its
  document. It is made once and never recomputed.

PCA rather than UMAP: a PCA fit is quick and deterministic, while umap-learn
would add numba and llvmlite to the environment, and their import and first
fit (JIT compilation) to every ingest that refits.

Runs the ingest made are listed in ``dataset.info["_caffe_brain_runs"]``; a
run of the same name that is not listed is the user's and is left alone, as
is every other run.
"""

from __future__ import annotations

import logging
import time

import numpy as np

log = logging.getLogger("caffe_workflow.stages.ingest")

FEATURES = "features"
ZOO_FIELD = "zoo_embeddings"
# embedding field -> prefix of its brain keys
RUNS = {FEATURES: "features", ZOO_FIELD: "zoo"}
MANAGED_KEY = "_caffe_brain_runs"
# Set before a sample's vector is rewritten, cleared once the visualizations
# are fitted again: a crash in between cannot leave a stale point unnoticed.
STALE_KEY = "_caffe_brain_stale"
ZOO_KEY = "_caffe_zoo_model"
REFIT_SHARE = 0.2  # the share beyond which fiftyone-brain itself warns (UMAP)
SEED = 0  # the randomized PCA solver: the same vectors give the same points


def recorded_zoo_model(info: dict) -> str | None:
    """The zoo model whose embeddings the dataset's last ingest computed."""
    return info.get(ZOO_KEY)


def keys(field: str) -> tuple[str, str]:
    """(visualization key, similarity key) of an embedding field."""
    return f"{RUNS[field]}_viz", f"{RUNS[field]}_sim"


def before_update(dataset, old: dict, new: dict) -> None:
    """Called before changed samples are rewritten. ``old``/``new``: {id:
    (image_sha256, features)}. A new vector marks the visualizations stale;
    a new image file also drops its zoo embedding (computed again later)."""
    renewed = [
        sid
        for sid, (sha, vec) in new.items()
        if not _same_vector(old[sid][1], vec) or old[sid][0] != sha
    ]
    if not renewed:
        return
    if not dataset.info.get(STALE_KEY):
        dataset.info[STALE_KEY] = True
        dataset.save()
    if dataset.info.get(ZOO_KEY):  # the ingest's zoo_embeddings field
        other_file = [sid for sid in renewed if old[sid][0] != new[sid][0]]
        if other_file:
            dataset.set_values(ZOO_FIELD, dict.fromkeys(other_file), key_field="id")


def _same_vector(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return np.array_equal(np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32))


def duplicate_hashes(dataset) -> list[str]:
    """SHA-256 values shared by more than one sample: exact duplicates, from
    the hash the per-image step already made (fob.compute_exact_duplicates
    would read and hash every file again)."""
    if "image_sha256" not in dataset.get_field_schema():
        return []
    counts = dataset.count_values("image_sha256")
    return sorted(h for h, n in counts.items() if h and n > 1)


def refresh_brain(fo, dataset, zoo_model: str | None = None) -> dict:
    """Bring the managed brain runs in line with the samples; returns what
    was done per key ({key: "fitted" | "added N" | "created" | ...})."""
    import fiftyone.brain as fob

    started = time.perf_counter()
    done = {}
    stale = bool(dataset.info.get(STALE_KEY))
    # The features' runs first: they are done even if the zoo model fails.
    for field in (FEATURES, ZOO_FIELD):
        if field == ZOO_FIELD and not _refresh_zoo_field(fo, dataset, zoo_model):
            continue
        viz_key, sim_key = keys(field)
        done[viz_key] = _refresh_visualization(fob, dataset, viz_key, field, stale)
        done[sim_key] = _refresh_similarity(fob, dataset, sim_key, field)
    if stale:
        dataset.info.pop(STALE_KEY, None)
        dataset.save()
    done = {k: v for k, v in done.items() if v}
    log.info("brain runs: %s (%.2f s)", done or "unchanged", time.perf_counter() - started)
    return done


# ---------------------------------------------------------------- ownership


def _ours(dataset) -> set[str]:
    return set(dataset.info.get(MANAGED_KEY, []))


def _may_write(dataset, key: str) -> bool:
    """False (with a warning) for a run of this name the ingest did not make;
    otherwise records the key as the ingest's before the run is written."""
    ours = _ours(dataset)
    if key in ours:
        return True
    if dataset.has_brain_run(key):
        log.warning("brain run %r was not made by the ingest: left as it is", key)
        return False
    dataset.info[MANAGED_KEY] = sorted(ours | {key})
    dataset.save()
    return True


def _drop(dataset, key: str) -> bool:
    """Delete the ingest's run `key` (True if there was one)."""
    if key not in _ours(dataset):
        return False
    gone = dataset.has_brain_run(key)
    if gone:
        dataset.delete_brain_run(key)
    dataset.info[MANAGED_KEY] = sorted(_ours(dataset) - {key})
    dataset.save()
    return gone


def _config(dataset, key: str):
    return dataset.get_brain_info(key).config if dataset.has_brain_run(key) else None


# ---------------------------------------------------------------- runs


def _refresh_visualization(fob, dataset, key: str, field: str, stale: bool) -> str | None:
    having = dataset.exists(field)
    count = having.count()
    if count < 2:  # PCA needs two points
        return "deleted (fewer than 2 vectors)" if _drop(dataset, key) else None
    if not _may_write(dataset, key):
        return None
    config = _config(dataset, key)
    fit = stale or config is None or config.method != "pca" or config.embeddings_field != field
    if not fit:
        results = dataset.load_brain_results(key, cache=False)
        current = set(having.values("id"))
        if set(results.sample_ids.tolist()) - current:
            fit = True  # a sample left, or lost its vector
        else:
            new, fitted = results.get_new_ids(having)
            if not new:
                return None
            if fitted is None or len(results.sample_ids) + len(new) - fitted > REFIT_SHARE * fitted:
                fit = True
            else:
                try:
                    results.add_samples(having.select(new), embeddings=field, progress=False)
                    return f"added {len(new)}"
                except ValueError as err:  # a PCA pickled by another scikit-learn
                    log.warning("%s: fitted again (%s)", key, err)
                    fit = True
    if dataset.has_brain_run(key):
        dataset.delete_brain_run(key)
    fob.compute_visualization(
        dataset, embeddings=field, method="pca", brain_key=key, seed=SEED, progress=False
    )
    return f"fitted on {count}"


def _refresh_similarity(fob, dataset, key: str, field: str) -> str | None:
    config = _config(dataset, key)
    if (
        config is not None
        and config.method == "sklearn"
        and config.embeddings_field == field
        and key in _ours(dataset)
    ):
        return None  # reads the field when loaded: nothing to add or remove
    if not dataset.exists(field).count() or not _may_write(dataset, key):
        return None
    if config is not None:
        dataset.delete_brain_run(key)
    fob.compute_similarity(
        dataset,
        embeddings=field,
        backend="sklearn",
        metric="cosine",
        brain_key=key,
        progress=False,
    )
    return "created"


# ---------------------------------------------------------------- zoo model


def _refresh_zoo_field(fo, dataset, model: str | None) -> bool:
    """Compute ``zoo_embeddings`` of the samples that lack it (images that
    decoded, i.e. that have ``features``); True when the field is in use.
    A change of model drops the field and its runs first. Raises
    caffe_workflow.zoo_model.ZooModelError (one line) if the model cannot
    be loaded."""
    from fiftyone import ViewField as F

    from caffe_workflow.zoo_model import load

    previous = dataset.info.get(ZOO_KEY)
    if previous is not None and previous != model:
        for key in keys(ZOO_FIELD):
            _drop(dataset, key)
        if ZOO_FIELD in dataset.get_field_schema():
            dataset.delete_sample_field(ZOO_FIELD)
        dataset.info.pop(ZOO_KEY, None)
        dataset.save()
        log.info("zoo embeddings of %s removed", previous)
    if model is None:
        return False
    if dataset.info.get(ZOO_KEY) != model:
        if ZOO_FIELD in dataset.get_field_schema():
            log.warning("field %r was not made by the ingest: no zoo embeddings", ZOO_FIELD)
            return False
        # Recorded first: the field is then known as the ingest's.
        dataset.info[ZOO_KEY] = model
        dataset.save()
    if ZOO_FIELD not in dataset.get_field_schema():
        dataset.add_sample_field(
            ZOO_FIELD, fo.VectorField, description=f"Embeddings of the FiftyOne zoo model {model}"
        )
    todo = dataset.exists(FEATURES).match(F(ZOO_FIELD) == None)  # noqa: E711 (a query)
    count = todo.count()
    if count:
        # Reads the full images (the model resizes them), only of these samples.
        todo.compute_embeddings(
            load(model), embeddings_field=ZOO_FIELD, skip_failures=True, progress=False
        )
        log.info("zoo embeddings of %s: %d samples computed", model, count)
    return True
