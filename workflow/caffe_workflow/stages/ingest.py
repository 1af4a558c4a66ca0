"""Stage `ingest`: the catalog Parquet -> a persistent FiftyOne dataset, incrementally.

The only step of the workflow that talks to the database (one writer). The
rule runs `run()` (workflow/scripts/ingest.py); its parts are in the package
caffe_workflow.ingest. By hand, on a dataset the workflow made:

    python -m caffe_workflow.stages.ingest --catalog results/caffe/catalog.parquet \
        --dataset caffe --summary ingest_summary.json

does what the rule's last run did: the scored models and the zoo model it
recorded in the dataset are kept and brought up to date from their results
files, and it refuses (one line: run snakemake) when those files are gone.

Samples are keyed by ``filepath`` (unique index). Each sample stores
``catalog_hash``, a hash of its catalog row; a rerun adds new filepaths,
rewrites only samples whose hash changed, deletes samples whose filepath left
the catalog and does not write unchanged ones. Fields, tags and saved views a
user added survive every rerun (caffe_workflow.ingest.samples, .views).

The database is checked (caffe_workflow.database) before the first query, so
a stopped mongod or a wrong password is reported within seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

from caffe_workflow.atomic import write_atomically
from caffe_workflow.caffe.layout import canonical_dir
from caffe_workflow.database import (
    DatabaseUnreachable,
    check_database,
    configured_fiftyone,
    configured_uri,
    describe_error,
)
from caffe_workflow.ingest import brain, models, schema, views
from caffe_workflow.ingest.catalog_reader import Catalog, CatalogError
from caffe_workflow.ingest.progress import Progress
from caffe_workflow.ingest.samples import add_samples, catalog_hash, update_samples
from caffe_workflow.ownership import (
    DatasetLock,
    LockTimeout,
    OwnershipError,
    check_owner,
)
from caffe_workflow.zoo_model import ZooModelError

log = logging.getLogger("caffe_workflow.stages.ingest")

# `evaluations` and `zoo_model` of ingest(): what the dataset recorded at its
# last ingest (the command line's default).
AS_RECORDED = "as recorded"


def ingest(
    catalog_path: str | os.PathLike,
    dataset_name: str,
    data_dir: str | None = None,
    take_over: bool = False,
    evaluations: dict | str | None = None,
    zoo_model: str | None = None,
) -> dict:
    """Bring the FiftyOne dataset ``dataset_name`` in line with the catalog.

    ``evaluations``: {model: {"kind", "per_image"}} of the scored models
    (stage evaluate); their fields, evaluation runs and views are managed
    (caffe_workflow.ingest.models), and those of a model no longer given are
    removed. The brain runs on ``features`` follow the samples
    (caffe_workflow.ingest.brain); ``zoo_model``: a FiftyOne zoo model whose
    embeddings are computed for the samples that lack them, last
    (ZooModelError, one line, if it cannot load). AS_RECORDED for either: what
    the dataset's last ingest used (models.RecordError when its files are gone).

    ``data_dir`` (canonical) is the folder the catalog was made from: the
    dataset records it, and an ingest from another data_dir is refused with
    OwnershipError unless ``take_over`` (None: neither checked nor recorded,
    for catalogs made by hand). One ingest at a time writes a dataset; others
    wait for it (DatasetLock).

    Returns the summary {added, updated, deleted, unchanged, relinked, total,
    dataset}. Raises DatabaseUnreachable (one clear line) when the database is
    down, refuses the login or the user lacks rights.
    """
    t0 = time.perf_counter()
    catalog = Catalog(catalog_path)
    recorded = evaluations == AS_RECORDED
    loaded = evaluations if recorded else models.load_evaluations(evaluations or {})
    uri = configured_uri()
    check_database(uri)
    fo = configured_fiftyone()
    import fiftyone.core.odm as foo
    import pymongo.errors

    t1 = time.perf_counter()
    try:
        lock = DatasetLock(foo.get_db_conn(), dataset_name, data_dir, say=log.warning)
        with lock:
            summary = _ingest(fo, catalog, dataset_name, data_dir, take_over, loaded, zoo_model)
    except pymongo.errors.ConnectionFailure as e:
        raise describe_error(uri, e) from None
    except pymongo.errors.OperationFailure as e:
        # A login or rights lost after the check: the same one line.
        # Any other failure is a bug worth its traceback.
        if e.code not in (13, 18):  # Unauthorized, AuthenticationFailed
            raise
        raise describe_error(uri, e) from None
    log.info(
        "ingest %s: %s (catalog, fiftyone and database check %.2f s, database work %.2f s)",
        dataset_name,
        {k: v for k, v in summary.items() if k != "dataset"},
        t1 - t0,
        time.perf_counter() - t1,
    )
    return summary


def _existing(dataset) -> tuple[dict, dict]:
    """({canonical filepath: (id, catalog_hash)}, {id: canonical filepath}
    of the samples stored under another spelling of their file)."""
    if dataset is None:
        return {}, {}
    ids, paths, old_hashes = dataset.values(["id", "filepath", "catalog_hash"])
    # One stored under another spelling of the same file (data_dir given
    # with `..` or through a link) is moved to the canonical path in
    # place, keeping its id and the user's work. Samples already at their
    # canonical path come first, so that another spelling of the same file is
    # the duplicate, kept under its own path (and so deleted, as an image that
    # is not in the catalog).
    existing, relink = {}, {}
    spelled = [(_canonical(path), path, sid, h) for sid, path, h in zip(ids, paths, old_hashes)]
    for canonical, path, sid, old_hash in sorted(spelled, key=lambda s: s[0] != s[1]):
        if canonical in existing:
            canonical = path
        existing[canonical] = (sid, old_hash)
        if canonical != path:
            relink[sid] = canonical
    return existing, relink


def _ingest(fo, catalog: Catalog, dataset_name: str, data_dir, take_over, scored, zoo_model):
    dataset = fo.load_dataset(dataset_name) if fo.dataset_exists(dataset_name) else None
    if scored == AS_RECORDED or zoo_model == AS_RECORDED:
        info = dataset.info if dataset is not None else {}
        if scored == AS_RECORDED:
            scored = models.load_evaluations(models.recorded_evaluations(dataset_name, info))
        if zoo_model == AS_RECORDED:
            zoo_model = brain.recorded_zoo_model(info)
    existing, relink = _existing(dataset)
    if data_dir is not None:
        info = dataset.info if dataset is not None else {}
        previous = check_owner(dataset_name, info, list(existing), data_dir, take_over)
        if previous not in (None, data_dir):
            log.warning("dataset %s taken over from %s", dataset_name, previous)
    if dataset is None:
        dataset = fo.Dataset(dataset_name, persistent=True)
    schema.ensure_schema(fo, dataset)
    # Fields, runs and views of models no longer scored go before any write.
    stale = models.declare_model_fields(fo, dataset, scored)
    if not catalog.paths and existing:
        # An empty catalog is far likelier a broken run (data_dir unmounted)
        # than a wish to lose every sample and what users added to them.
        raise CatalogError(
            f"the catalog is empty; refusing to delete all {len(existing)} samples "
            f"of {dataset_name} (delete the dataset yourself if that is wanted)"
        )

    gone = [sid for fp, (sid, _) in existing.items() if fp not in catalog.paths]
    if gone:
        dataset.delete_samples(gone)
    relink = {sid: path for sid, path in relink.items() if path in catalog.paths}
    if relink:
        dataset.set_values("filepath", relink, key_field="id")

    added = updated = 0
    glaciers = {}
    # With row_sha in the catalog, only the few columns that find the new and
    # changed rows are read for every row; the rest only for those rows.
    light = catalog.light_columns
    progress = Progress(len(catalog.paths))
    for batch in catalog.batches():
        rows = (batch.select(light) if light else batch).to_pylist()
        models.attach_evaluations(rows, scored)
        new, changed = [], {}
        for i, row in enumerate(rows):
            if row.get("glacier"):
                glaciers.setdefault(row["glacier"], row.get("glacier_name"))
            known = existing.get(row["filepath"])
            if known is None:
                new.append(i)
            elif known[1] != catalog_hash(row) or stale & set(row.get("evaluation") or ()):
                changed[known[0]] = i
        progress.count(len(rows) - len(new) - len(changed))
        if light and (new or changed):
            picked = sorted(new + list(changed.values()))
            full = dict(zip(picked, batch.take(picked).to_pylist()))
            models.attach_evaluations(list(full.values()), scored)
        else:
            full = dict(enumerate(rows))
        new = [full[i] for i in new]
        changed = {sid: full[i] for sid, i in changed.items()}
        if new:
            add_samples(fo, dataset, new, scored, counted=progress.each)
        if changed:
            update_samples(fo, dataset, changed, scored)
            progress.count(len(changed))
        added, updated = added + len(new), updated + len(changed)
    progress.close()

    log.info("ingest %s: dataset settings and saved views", dataset_name)
    schema.apply_dataset_settings(fo, dataset, glaciers, data_dir)
    views.refresh_saved_views(dataset, glaciers)
    if scored:
        log.info("ingest %s: scored models %s", dataset_name, ", ".join(sorted(scored)))
    models.refresh_models(fo, dataset, scored)
    # Last: everything else is written even if the zoo model cannot be loaded.
    brain.refresh_brain(fo, dataset, zoo_model)

    return {
        "added": added,
        "updated": updated,
        "deleted": len(gone),
        "unchanged": len(existing) - len(gone) - updated,
        "relinked": len(relink),
        "total": len(dataset),
        "dataset": dataset_name,
    }


def write_summary(summary: dict, path: str | os.PathLike) -> None:
    text = json.dumps(summary, indent=2) + "\n"
    write_atomically(path, lambda f: f.write(text.encode()))


def _canonical(path: str, _folders: dict = {}) -> str:  # noqa: B006 (a cache)
    """canonical_path, resolving each folder once (the samples share a few)."""
    folder, name = os.path.split(path)
    if folder not in _folders:
        _folders[folder] = str(canonical_dir(folder))
    return os.path.join(_folders[folder], name)


def run(
    catalog: str,
    dataset: str,
    summary: str,
    data_dir: str | None = None,
    take_over: bool = False,
    evaluations: dict | None = None,
    zoo_model: str | None = None,
) -> int:
    """The ingest as the workflow runs it: logs on stderr, summary file, exit code."""
    # Logs go to stderr. Any destination other than "stdout"/"stdout,stderr"
    # makes FiftyOne add no handler of its own; its records then propagate to
    # the root handler below.
    os.environ["FIFTYONE_LOGGING_DESTINATION"] = "stderr"
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        done = ingest(catalog, dataset, data_dir, take_over, evaluations, zoo_model)
    except (
        DatabaseUnreachable,
        CatalogError,
        OwnershipError,
        LockTimeout,
        ZooModelError,
        models.RecordError,
    ) as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 2
    write_summary(done, summary)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalog", required=True, help="catalog Parquet")
    parser.add_argument("--dataset", required=True, help="FiftyOne dataset name")
    parser.add_argument("--summary", required=True, help="summary JSON to write")
    parser.add_argument(
        "--data-dir",
        help="the data_dir the catalog was made from "
        "(recorded in the dataset; another one is refused)",
    )
    parser.add_argument(
        "--take-over", action="store_true", help="write into a dataset built from another data_dir"
    )
    parser.add_argument(
        "--embeddings-model",
        help="a FiftyOne zoo model for zoo_embeddings (default: the one the dataset recorded)",
    )
    args = parser.parse_args(argv)
    data_dir = None if args.data_dir is None else str(canonical_dir(args.data_dir))
    # The scored models are those the dataset recorded (a catalog by hand
    # carries no evaluations): the command line never removes one.
    return run(
        args.catalog,
        args.dataset,
        args.summary,
        data_dir,
        args.take_over,
        evaluations=AS_RECORDED,
        zoo_model=args.embeddings_model or AS_RECORDED,
    )


def leave(status: int) -> None:
    """Exit without the interpreter's teardown (joining pymongo's monitor
    threads and unloading FiftyOne's modules), a noticeable share of a small
    rerun. Call only when every write is done (acknowledged, files closed)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    leave(main())
