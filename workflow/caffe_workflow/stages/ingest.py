"""Catalog Parquet -> persistent FiftyOne dataset, incrementally.

The only step of the workflow that talks to the database (one writer).

    python -m caffe_workflow.stages.ingest --catalog results/catalog.parquet \
        --dataset caffe --summary results/ingest_summary.json

Samples are keyed by ``filepath`` (unique index). Each sample stores
``catalog_hash``, a hash of its catalog row; a rerun adds new filepaths,
rewrites only samples whose hash changed, deletes samples whose filepath left
the catalog and does not write unchanged ones. Only the fields declared in
``FIELDS`` and the tags in ``MANAGED_TAGS`` are ever written on existing
samples, so fields, tags and saved views a user added survive every rerun.

``fiftyone`` is imported lazily (it costs ~4 s), after a quick check of the
database (caffe_workflow.database), so a stopped mongod or a wrong password is
reported within seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import mimetypes
import os
import sys
import time
from pathlib import Path

import numpy as np

from caffe_workflow.atomic import write_atomically
from caffe_workflow.caffe.labels import FRONT_CLASSES, ZONE_CLASSES
from caffe_workflow.caffe.layout import canonical_dir
from caffe_workflow.database import (
    DatabaseUnreachable,
    check_database,
    configured_uri,
    describe_error,
)
from caffe_workflow.ownership import (
    DatasetLock,
    LockTimeout,
    OwnershipError,
    check_owner,
    record_source,
)
from caffe_workflow.stages import ingest_brain
from caffe_workflow.stages.ingest_models import (
    attach_evaluations,
    declare_model_fields,
    load_evaluations,
    model_values,
    refresh_models,
)
from caffe_workflow.stages.process import json_default, row_sha
from caffe_workflow.zoo_model import ZooModelError

log = logging.getLogger("caffe_workflow.stages.ingest")

# Bump when the mapping row -> sample changes, so every sample is rewritten once.
# 2: catalog_hash from the row's row_sha (stages/process.py), not the whole row.
INGEST_FORMAT = 2

MANAGED_TAGS = ("train", "test", "invalid")

ZONE_TARGETS = dict(ZONE_CLASSES)
FRONT_TARGETS = dict(FRONT_CLASSES)

# Colours: ocean blue, glacier icy cyan-white, rock brown, fronts red-orange.
# Zone value 0 (NA) is never drawn by the App, so it needs no colour.
OCEAN, GLACIER, ROCK, FRONT, EXTENT = (
    "#1F5FD6",
    "#D8F6FF",
    "#8B5A2B",
    "#FF3D00",
    "#FFD400",
)

REQUIRED_COLUMNS = ("stem", "split", "filepath", "valid")
# What finds a catalog's new and changed rows (and its glaciers' names).
LIGHT_COLUMNS = ["filepath", "split", "stem", "glacier", "glacier_name", "row_sha"]
CHUNK = 1000  # catalog rows in memory at a time

CITATION = (
    "Gourmelon, N., Seehaus, T., Braun, M., Maier, A., and Christlein, V.: "
    "Calving fronts and where to find them: a benchmark dataset and "
    "methodology for automatic glacier calving front delineation from "
    "synthetic aperture radar imagery, Earth Syst. Sci. Data, 14, 4287-4313, "
    "https://doi.org/10.5194/essd-14-4287-2022, 2022."
)

DESCRIPTION = (
    "CaFFe (Calving Fronts and where to Find thEm): SAR images of seven "
    "marine-terminating glaciers, 1995-2020, with hand-drawn zone masks "
    "(NA, rock, glacier, ocean) and calving fronts. Built by the CaFFe "
    "workflow from the catalog; fields are explained in dataset.info['fields']."
)

# name -> (kind, description). kind: str, int, float, bool, date, strlist,
# zones, front, polylines, detection. The catalog column of the same name
# feeds the field, except for the labels (see _sample_values).
FIELDS = {
    "stem": ("str", "File stem: <glacier>_<date>_<satellite>_<res>_<quality>_<orbit>"),
    "split": ("str", "Benchmark split: train or test (also a sample tag)"),
    "glacier": ("str", "Glacier code: COL, JAC, Crane, DBE, Jorum, Mapple, SI"),
    "glacier_name": ("str", "Full glacier name"),
    "date_taken": ("date", "Acquisition date"),
    "year": ("int", "Acquisition year"),
    "season": ("str", "winter or summer, as the CaFFe benchmark defines it per hemisphere"),
    "hemisphere": ("str", "north (COL, JAC) or south (Antarctic Peninsula)"),
    "satellite": ("str", "Sensor: ERS, ENVISAT, RSAT, S1, PALSAR, TSX, TDX"),
    "sensor_band": ("str", "Radar band: C, L or X"),
    "spatial_resolution": ("int", "Pixel size in metres"),
    "quality_factor": ("int", "Label quality, 1 (best) to 6 (worst)"),
    "orbit": ("str", "Orbit number, zero-padded as in the file name"),
    "modality": ("str", "Optional modality part of the name (null when absent)"),
    "image_mode": ("str", "Pillow mode of the SAR image (L for 8-bit grayscale)"),
    "image_sha256": (
        "str",
        "SHA-256 of the SAR image file (provenance; equal values: exact duplicates)",
    ),
    "zone_na_fraction": ("float", "Fraction of pixels with zone NA (no information)"),
    "zone_rock_fraction": ("float", "Fraction of pixels with zone rock"),
    "zone_glacier_fraction": ("float", "Fraction of pixels with zone glacier"),
    "zone_ocean_fraction": ("float", "Fraction of pixels with zone ocean (incl. ice melange)"),
    "front_pixels": ("int", "Number of front pixels in the front mask"),
    "front_length_km": ("float", "Calving front length in km"),
    "valid": ("bool", "True when the name and both masks passed validation"),
    "problems": ("strlist", "Validation problems (empty when valid)"),
    "warnings": ("strlist", "Validation warnings (e.g. unknown glacier code)"),
    "thumbnail_path": ("str", "Absolute path of the thumbnail shown in the App grid"),
    "zones": ("zones", "Zone mask on disk: 0 NA, 64 rock, 127 glacier, 254 ocean"),
    "front": ("front", "Front mask on disk: 255 on the one-pixel calving front"),
    "front_lines": ("polylines", "Calving front as open polylines (one per front piece)"),
    "front_extent": ("detection", "Region in which the front moves (bounding_boxes/)"),
    "features": (
        "vector",
        "272 floats: 16x16 grid of mean intensity + 16-bin histogram of valid pixels, "
        "each block of unit length (caffe_workflow.caffe.features); brain runs "
        "features_viz and features_sim",
    ),
    "catalog_hash": (
        "str",
        "Hash of the catalog row; the ingest rewrites a sample only when it changes",
    ),
}

# Pillow mode -> number of channels, for ImageMetadata.
_CHANNELS = {"1": 1, "L": 1, "P": 1, "I": 1, "I;16": 1, "F": 1, "LA": 2, "RGB": 3, "RGBA": 4}


class CatalogError(ValueError):
    """The catalog cannot be ingested (missing columns, duplicate filepaths)."""


# ---------------------------------------------------------------- catalog


class Catalog:
    """The catalog, checked before anything is written (required columns,
    absolute and unique filepaths: one column read), then read in chunks of
    CHUNK rows, so that the ingest holds one chunk of rows at a time whatever
    the size of the archive."""

    def __init__(self, path: str | os.PathLike):
        import pyarrow.parquet as pq

        # ParquetFile, not read_table: the latter loads pyarrow.dataset (+0.8 s).
        self.file = pq.ParquetFile(path)
        missing = [c for c in REQUIRED_COLUMNS if c not in self.file.schema_arrow.names]
        if missing:
            raise CatalogError(f"{path}: catalog lacks columns {missing}")
        self.paths = set()
        for fp in self.file.read(columns=["filepath"]).column("filepath").to_pylist():
            if not fp or not os.path.isabs(fp):
                raise CatalogError(f"{path}: filepath must be absolute, got {fp!r}")
            if fp in self.paths:
                raise CatalogError(f"{path}: filepath {fp} appears twice")
            self.paths.add(fp)

    def batches(self):
        """The catalog as record batches of CHUNK rows."""
        return self.file.iter_batches(batch_size=CHUNK)

    def chunks(self):
        for batch in self.batches():
            yield batch.to_pylist()


def read_catalog(path: str | os.PathLike) -> list[dict]:
    """Every row of the catalog (checked as Catalog does), for small catalogs."""
    return [row for chunk in Catalog(path).chunks() for row in chunk]


def catalog_hash(row: dict) -> str:
    """A sample's catalog_hash: the first 32 hex digits of the SHA-256 of the
    JSON of [INGEST_FORMAT, the row's row_sha, its evaluations or null] (keys
    sorted, no spaces, dates in ISO format). A catalog made without row_sha gets it computed."""
    sha = row.get("row_sha") or row_sha(row)
    text = json.dumps(
        [INGEST_FORMAT, sha, row.get("evaluation")],
        sort_keys=True,
        separators=(",", ":"),
        default=json_default,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# ---------------------------------------------------------------- row -> sample


def _sample_values(fo, row: dict, models: dict | None = None) -> dict:
    """Every managed field of one sample (None where the catalog has null),
    and for each scored model ({name: kind}) its fields (ingest_models.py)."""
    values = {}
    for name, (kind, _) in FIELDS.items():
        if kind in ("zones", "front", "polylines", "detection", "vector") or name == "catalog_hash":
            continue
        value = row.get(name)
        if kind == "strlist":
            value = list(value or [])
        values[name] = value

    values["zones"] = (
        fo.Segmentation(mask_path=row["zones_path"]) if row.get("zones_path") else None
    )
    values["front"] = (
        fo.Segmentation(mask_path=row["front_path"]) if row.get("front_path") else None
    )
    lines = row.get("front_lines")
    values["front_lines"] = polylines(fo, lines, "front")
    extent = row.get("front_extent")
    values["front_extent"] = (
        fo.Detection(label="front_extent", bounding_box=[float(v) for v in extent])
        if extent
        else None
    )
    features = row.get("features")
    values["features"] = None if features is None else np.asarray(features, dtype=np.float32)
    mime = (
        "image/png"
        if row["filepath"].lower().endswith(".png")
        else (mimetypes.guess_type(row["filepath"])[0])
    )
    values["metadata"] = fo.ImageMetadata(
        size_bytes=row.get("size_bytes"),
        mime_type=mime,
        width=row.get("width"),
        height=row.get("height"),
        num_channels=_CHANNELS.get(row.get("image_mode") or "L", 1),
    )
    values |= model_values(fo, row, models or {})
    values["catalog_hash"] = catalog_hash(row)
    return values


def polylines(fo, lines, label: str):
    """Open fo.Polylines of normalised [[x, y], ...] lines (None for none)."""
    if not lines:
        return None
    return fo.Polylines(
        polylines=[
            fo.Polyline(
                label=label,
                points=[[(float(x), float(y)) for x, y in line]],
                closed=False,
                filled=False,
            )
            for line in lines
            if line
        ]
    )


def _managed_tags(row: dict) -> list[str]:
    tags = [row["split"]] if row.get("split") in ("train", "test") else []
    if not row.get("valid"):
        tags.append("invalid")
    return tags


def _new_sample(fo, row: dict, models: dict | None = None):
    values = _sample_values(fo, row, models)
    return fo.Sample(filepath=row["filepath"], tags=_managed_tags(row), **values)


def _update_samples(fo, dataset, changed: dict, models: dict | None = None) -> None:
    """Rewrite the managed fields and tags of existing samples {id: row}.

    One set_values per field ($set on exactly these samples). Not
    sample.save(): FiftyOne 1.22.1 turns an empty list into $unset there, so
    ``problems`` would read back as None instead of [].
    """
    ids = list(changed)
    view = dataset.select(ids, ordered=True)
    read = ["tags", "zones", "front", "front_extent", "image_sha256", "features"]
    old = dict(zip(read, view.values(read)))
    new = [_sample_values(fo, changed[i], models) for i in ids]
    # Before the writes: a new vector or file makes the brain runs stale.
    ingest_brain.before_update(
        dataset,
        {sid: (old["image_sha256"][k], old["features"][k]) for k, sid in enumerate(ids)},
        {sid: (v["image_sha256"], v["features"]) for sid, v in zip(ids, new)},
    )
    for name in new[0]:
        values = {}
        for k, (sid, value) in enumerate(zip(ids, (v[name] for v in new))):
            previous = old[name][k] if name in old else None
            # Keep the label (its id, label tags, attributes a user added)
            # when only its mask path or box changed.
            if previous is not None and value is not None:
                if name in ("zones", "front"):
                    previous.mask_path = value.mask_path
                    value = previous
                elif name == "front_extent":
                    previous.bounding_box = value.bounding_box
                    value = previous
            values[sid] = value
        dataset.set_values(name, values, key_field="id")
    tags = {
        sid: [t for t in (old["tags"][k] or []) if t not in MANAGED_TAGS]
        + _managed_tags(changed[sid])
        for k, sid in enumerate(ids)
    }
    dataset.set_values("tags", tags, key_field="id")


# ---------------------------------------------------------------- dataset-level


def _field_type(fo, kind):
    """(ftype, embedded_doc_type, subfield) for add_sample_field."""
    return {
        "str": (fo.StringField, None, None),
        "int": (fo.IntField, None, None),
        "float": (fo.FloatField, None, None),
        "bool": (fo.BooleanField, None, None),
        "date": (fo.DateField, None, None),
        "strlist": (fo.ListField, None, fo.StringField),
        "zones": (fo.EmbeddedDocumentField, fo.Segmentation, None),
        "front": (fo.EmbeddedDocumentField, fo.Segmentation, None),
        "polylines": (fo.EmbeddedDocumentField, fo.Polylines, None),
        "detection": (fo.EmbeddedDocumentField, fo.Detection, None),
        "vector": (fo.VectorField, None, None),
    }[kind]


def _ensure_schema(fo, dataset) -> None:
    if dataset.media_type is None:
        dataset.media_type = "image"
    schema = dataset.get_field_schema()
    for name, (kind, description) in FIELDS.items():
        if name in schema:
            continue
        ftype, doc_type, subfield = _field_type(fo, kind)
        dataset.add_sample_field(
            name,
            ftype,
            embedded_doc_type=doc_type,
            subfield=subfield,
            description=description,
        )
    # Converts FiftyOne's default non-unique filepath index; no-op afterwards.
    info = dataset.get_index_information().get("filepath", {})
    if not info.get("unique"):
        dataset.create_index("filepath", unique=True)


def _color_scheme(fo, old):
    managed = [
        {
            "path": "zones",
            "fieldColor": OCEAN,
            "maskTargetsColors": [
                {"intTarget": 64, "color": ROCK},
                {"intTarget": 127, "color": GLACIER},
                {"intTarget": 254, "color": OCEAN},
            ],
        },
        {
            "path": "front",
            "fieldColor": FRONT,
            "maskTargetsColors": [{"intTarget": 255, "color": FRONT}],
        },
        {
            "path": "front_lines",
            "fieldColor": FRONT,
            "colorByAttribute": "label",
            "valueColors": [{"value": "front", "color": FRONT}],
        },
        {
            "path": "front_extent",
            "fieldColor": EXTENT,
            "colorByAttribute": "label",
            "valueColors": [{"value": "front_extent", "color": EXTENT}],
        },
    ]
    paths = {f["path"] for f in managed}
    user_fields = [f for f in (old.fields or []) if f.get("path") not in paths] if old else []
    # color_by "value": the App applies maskTargetsColors only in this mode
    # (with "field" the whole zone mask would be painted in one colour).
    return fo.ColorScheme(
        color_by="value",
        fields=managed + user_fields,
        default_mask_targets_colors=managed[0]["maskTargetsColors"]
        + managed[1]["maskTargetsColors"],
    )


def _info(glaciers: dict) -> dict:
    return {
        "name": "CaFFe (Calving Fronts and where to Find thEm)",
        "citation": CITATION,
        "doi": "10.5194/essd-14-4287-2022",
        "license": "CC-BY-4.0",
        "source": "PANGAEA, https://doi.org/10.1594/PANGAEA.940950",
        "source_doi": "10.1594/PANGAEA.940950",
        "glaciers": glaciers,
        "tags": "train/test: benchmark split; invalid: a name or mask failed validation "
        "(see the problems field); other tags are yours and are never touched",
        "fields": {name: description for name, (_, description) in FIELDS.items()}
        | {
            "metadata": "Image size, bytes, MIME type and channels, measured by the per-image step",
        },
        "app": "zones and front (full-resolution masks) are off by default; tick them "
        "in the sidebar of the sample view. front_lines shows the front as vectors.",
        "managed_saved_views": "train, test, invalid, one per glacier code (in date "
        "order), glacier-timeline and glacier-sensor-timeline (dynamic groups per "
        "glacier and per glacier and sensor, in date order) and exact-duplicates "
        "(one group per SAR file content shared by several samples) are rewritten "
        "by every ingest; save your own views under other names",
        "brain_runs": "features_viz (PCA of features, the Embeddings panel) and "
        "features_sim (sklearn similarity index on features, sort by similarity); "
        "zoo_viz and zoo_sim on zoo_embeddings when embeddings_model is set. Other "
        "brain keys are yours and are never touched",
    }


def _apply_dataset_settings(fo, dataset, glaciers: dict, data_dir: str | None) -> bool:
    """Set mask targets, App config, info and description; True if anything changed.

    Only the keys the ingest owns are replaced: other mask targets, info keys,
    media fields and colour-scheme entries a user added are kept.
    """
    changed = False

    targets = dict(dataset.mask_targets)
    for field, wanted in (("zones", ZONE_TARGETS), ("front", FRONT_TARGETS)):
        if targets.get(field) != wanted:
            targets[field] = wanted
            changed = True
    if changed:
        dataset.mask_targets = targets

    cfg = dataset.app_config
    media = list(cfg.media_fields or ["filepath"])
    media += [f for f in ("filepath", "thumbnail_path") if f not in media]
    # The App copies the grid's active fields into the sample view when it is
    # opened (useSetModalState in 1.22.1), so a field cannot be off in the grid
    # and on in the modal by config. Closest: the two full-resolution mask
    # overlays start off everywhere, front_lines (cheap vectors) stays on.
    # An include list: exclude=True would also switch on every primitive
    # field, whose ~30 pills then cover each grid tile (seen in the browser).
    active = fo.ActiveFields(exclude=False, paths=["front_lines", "front_extent"])
    scheme = _color_scheme(fo, cfg.color_scheme)
    wanted = {
        "media_fields": media,
        "grid_media_field": "thumbnail_path",
        "modal_media_field": "filepath",
        "active_fields": active,
        "color_scheme": scheme,
    }
    for key, value in wanted.items():
        old = getattr(cfg, key)
        if key == "color_scheme" and old is not None:
            # ColorScheme has a random id: compare the content only.
            same = old.to_dict() | {"_id": None} == value.to_dict() | {"_id": None}
        else:
            same = old == value
        if not same:
            setattr(cfg, key, value)
            changed = True

    info = dict(dataset.info)
    new_info = info | _info(glaciers)
    if data_dir is not None:
        new_info["data_dir"] = data_dir
    if new_info != info:
        dataset.info = new_info
        changed = True
    if dataset.description != DESCRIPTION:
        dataset.description = DESCRIPTION
        changed = True
    if not dataset.persistent:
        dataset.persistent = True
    if changed:
        dataset.save()
    return changed


# Saved views of dynamic groups: name -> (group key, description). The key
# glacier + sensor is a compound key (a list of fields), which GroupBy takes
# as such in FiftyOne 1.22.1; a stored `glacier_sensor` field would duplicate
# two fields (and go stale if a user edits one) and rewrite every sample once.
TIMELINE_VIEWS = {
    "glacier-timeline": (
        "glacier",
        "One group per glacier, its images in date order: open a group to step "
        "through (or play) the glacier's years",
    ),
    "glacier-sensor-timeline": (
        ["glacier", "satellite"],
        "One group per glacier and sensor, its images in date order",
    ),
}


DUPLICATES_VIEW = "exact-duplicates"


def _managed_views(dataset, glaciers: dict) -> dict:
    from fiftyone import ViewField as F

    views = {
        "train": (dataset.match_tags("train"), "Training split"),
        "test": (dataset.match_tags("test"), "Test split (COL and Mapple)"),
        "invalid": (
            dataset.match_tags("invalid"),
            "Samples whose name or masks failed validation (see problems)",
        ),
    }
    for code, name in sorted(glaciers.items()):
        views[code] = (
            dataset.match(F("glacier") == code).sort_by("date_taken"),
            f"Glacier {name or code}, in date order",
        )
    for name, (key, description) in TIMELINE_VIEWS.items():
        # Images without a glacier, sensor or date (unparsed names) stay out.
        fields = [key] if isinstance(key, str) else key
        having = dataset
        for field in [*fields, "date_taken"]:
            having = having.exists(field)
        views.setdefault(name, (having.group_by(key, order_by="date_taken"), description))
    # The hashes are in the view: it is rewritten only when the set of
    # duplicated files changes, and no sample is written for it.
    duplicated = ingest_brain.duplicate_hashes(dataset)
    views.setdefault(
        DUPLICATES_VIEW,
        (
            dataset.match(F("image_sha256").is_in(duplicated)).group_by(
                "image_sha256", order_by="date_taken"
            ),
            "Exact duplicates: one group per SAR file content (SHA-256) that several samples share",
        ),
    )
    return views


def _stages(stages: list) -> list[dict]:
    """Serialised view stages without their random per-instance ``_uuid``."""
    stages = [json.loads(d) if isinstance(d, str) else d for d in stages]
    return [{k: v for k, v in d.items() if k != "_uuid"} for d in stages]


def save_changed_views(dataset, wanted: dict, stored: dict | None = None) -> None:
    """Save each of `wanted` ({name: (view, description)}) whose stored view
    differs. Compared with the stored documents rather than load_saved_view(),
    which would write a last_loaded_at on every view at every run."""
    if stored is None:
        stored = {doc.name: doc for doc in dataset._doc.get_saved_views()}
    for name, (view, description) in wanted.items():
        doc = stored.get(name)
        if (
            doc is not None
            and doc.description == description
            and _stages(doc.view_stages) == _stages(view._serialize())
        ):
            continue
        dataset.save_view(name, view, description=description, overwrite=True)


def _refresh_saved_views(dataset, glaciers: dict) -> None:
    """(Re)write the managed saved views; leave every other saved view alone."""
    wanted = _managed_views(dataset, glaciers)
    old_managed = set(dataset.info.get("_caffe_saved_views", []))
    # Compare with the stored documents rather than load_saved_view(), which
    # would write a last_loaded_at on every view at every run.
    stored = {doc.name: doc for doc in dataset._doc.get_saved_views()}
    # A view under a newly managed name (a new glacier code, a view added by
    # a newer ingest) that this ingest did not make is the user's: keep it.
    for name in [n for n in wanted if n in stored and n not in old_managed]:
        log.warning("saved view %r was not made by the ingest: left as it is", name)
        del wanted[name]
    if not set(wanted) <= old_managed:
        # Record the new names before writing them, so that a crash in
        # between cannot make the ingest's own views look like a user's.
        dataset.info["_caffe_saved_views"] = sorted(old_managed | set(wanted))
        dataset.save()
    save_changed_views(dataset, wanted, stored)
    # A glacier that left the catalog: drop only the view this ingest made.
    for name in old_managed - set(wanted):
        if dataset.has_saved_view(name):
            dataset.delete_saved_view(name)
    if sorted(wanted) != sorted(old_managed):
        dataset.info["_caffe_saved_views"] = sorted(wanted)
        dataset.save()


# ---------------------------------------------------------------- ingest


def configured_fiftyone():
    """`import fiftyone`, with a shorter server-selection timeout."""
    import fiftyone as fo
    import fiftyone.core.odm.database as fodb

    # FiftyOne's own client waits 30 s for a server by default; if mongod
    # dies between our check and the first query, fail sooner.
    getattr(fodb, "_connection_kwargs", {}).setdefault("serverSelectionTimeoutMS", 10000)
    return fo


def ingest(
    catalog_path: str | os.PathLike,
    dataset_name: str,
    data_dir: str | None = None,
    take_over: bool = False,
    evaluations: dict | None = None,
    zoo_model: str | None = None,
) -> dict:
    """Bring the FiftyOne dataset ``dataset_name`` in line with the catalog.

    ``evaluations``: {model: {"kind", "per_image"}} of the scored models
    (stage evaluate); their fields, evaluation runs and views are managed
    (stages/ingest_models.py), and those of a model no longer given are removed.
    The brain runs on ``features`` follow the samples (stages/ingest_brain.py);
    ``zoo_model``: a FiftyOne zoo model whose embeddings are computed for the
    samples that lack them, last (ZooModelError, one line, if it cannot load).

    ``data_dir`` (canonical) is the folder the catalog was made from: the
    dataset records it, and an ingest from another data_dir is refused with
    OwnershipError unless ``take_over`` (None: neither checked nor recorded,
    for catalogs made by hand). One ingest at a time writes a dataset; others
    wait for it (DatasetLock).

    Returns the summary {added, updated, deleted, unchanged, relinked, total,
    dataset}. Raises DatabaseUnreachable (one clear line) when the database is
    down, refuses the login or the user lacks rights; no fiftyone import then.
    """
    t0 = time.perf_counter()
    catalog = Catalog(catalog_path)
    models = load_evaluations(evaluations or {})
    uri = configured_uri()
    check_database(uri)
    t1 = time.perf_counter()
    fo = configured_fiftyone()
    import fiftyone.core.odm as foo
    import pymongo.errors

    t2 = time.perf_counter()
    try:
        lock = DatasetLock(foo.get_db_conn(), dataset_name, data_dir, say=log.warning)
        with lock:
            summary = _ingest(fo, catalog, dataset_name, data_dir, take_over, models,
                              zoo_model)  # fmt: skip
    except pymongo.errors.ConnectionFailure as e:
        raise describe_error(uri, e) from None
    except pymongo.errors.OperationFailure as e:
        # A login or rights lost after the check: the same one line.
        # Any other failure is a bug worth its traceback.
        if e.code not in (13, 18):  # Unauthorized, AuthenticationFailed
            raise
        raise describe_error(uri, e) from None
    log.info(
        "ingest %s: %s (catalog + db check %.2f s, import fiftyone %.2f s, database work %.2f s)",
        dataset_name,
        {k: v for k, v in summary.items() if k != "dataset"},
        t1 - t0,
        t2 - t1,
        time.perf_counter() - t2,
    )
    return summary


def _ingest(fo, catalog: Catalog, dataset_name: str, data_dir, take_over, models=None,
            zoo_model=None) -> dict:  # fmt: skip
    if fo.dataset_exists(dataset_name):
        dataset = fo.load_dataset(dataset_name)
        ids, paths, old_hashes = dataset.values(["id", "filepath", "catalog_hash"])
    else:
        dataset, ids, paths, old_hashes = None, [], [], []
    # Samples by canonical filepath. One stored under another spelling of the
    # same file (an earlier version kept data_dir as given: `..`, a link) is
    # moved to the canonical path in place, keeping its id and the user's work.
    # Samples already at their canonical path come first, so that another
    # spelling of the same file is the duplicate, kept under its own path
    # (and so deleted, as an image that is not in the catalog).
    existing, relink = {}, {}
    spelled = [(_canonical(path), path, sid, h) for sid, path, h in zip(ids, paths, old_hashes)]
    for canonical, path, sid, old_hash in sorted(spelled, key=lambda s: s[0] != s[1]):
        if canonical in existing:
            canonical = path
        existing[canonical] = (sid, old_hash)
        if canonical != path:
            relink[sid] = canonical
    if data_dir is not None:
        info = dataset.info if dataset is not None else {}
        previous = check_owner(dataset_name, info, list(existing), data_dir, take_over)
        if previous not in (None, data_dir):
            log.warning("dataset %s taken over from %s", dataset_name, previous)
    if dataset is None:
        dataset = fo.Dataset(dataset_name, persistent=True)
    _ensure_schema(fo, dataset)
    models = models or {}
    # Fields, runs and views of models no longer scored go before any write.
    stale = declare_model_fields(fo, dataset, models)
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
    names = catalog.file.schema_arrow.names
    light = [c for c in LIGHT_COLUMNS if c in names] if "row_sha" in names else None
    for batch in catalog.batches():
        rows = (batch.select(light) if light else batch).to_pylist()
        attach_evaluations(rows, models)
        new, changed = [], {}
        for i, row in enumerate(rows):
            if row.get("glacier"):
                glaciers.setdefault(row["glacier"], row.get("glacier_name"))
            known = existing.get(row["filepath"])
            if known is None:
                new.append(i)
            elif known[1] != catalog_hash(row) or stale & set(row.get("evaluation") or ()):
                changed[known[0]] = i
        if light and (new or changed):
            picked = sorted(new + list(changed.values()))
            full = dict(zip(picked, batch.take(picked).to_pylist()))
            attach_evaluations(list(full.values()), models)
        else:
            full = dict(enumerate(rows))
        new = [full[i] for i in new]
        changed = {sid: full[i] for sid, i in changed.items()}
        if new:
            # validate=False: the schema is declared and the values are typed
            # by the catalog's Parquet schema; validation doubled the cost of
            # serialising the polylines.
            dataset.add_samples(
                (_new_sample(fo, row, models) for row in new),
                num_samples=len(new),
                validate=False,
                progress=False,
            )
        if changed:
            _update_samples(fo, dataset, changed, models)
        added, updated = added + len(new), updated + len(changed)

    _apply_dataset_settings(fo, dataset, glaciers, data_dir)
    _refresh_saved_views(dataset, glaciers)
    refresh_models(fo, dataset, models)
    # Last: everything else is written even if the zoo model cannot be loaded.
    ingest_brain.refresh_brain(fo, dataset, zoo_model)

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


def run(catalog: str, dataset: str, summary: str, data_dir: str | None = None,
        take_over: bool = False, source_record: str | None = None,
        evaluations: dict | None = None, zoo_model: str | None = None) -> int:  # fmt: skip
    """The ingest as the workflow runs it: logs on stderr, summary file, exit code.

    `source_record` (results/<dataset>/source.json) caches the ownership check
    for the next run's early check: written after a successful ingest, removed
    when the dataset turned out to belong to another data_dir.
    """
    # Logs go to stderr. Any destination other than "stdout"/"stdout,stderr"
    # makes FiftyOne add no handler of its own; its records then propagate to
    # the root handler below.
    os.environ["FIFTYONE_LOGGING_DESTINATION"] = "stderr"
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        done = ingest(catalog, dataset, data_dir, take_over, evaluations, zoo_model)
    except (DatabaseUnreachable, CatalogError, OwnershipError, LockTimeout, ZooModelError) as e:
        print(f"ERROR: {e}", file=sys.stderr)
        if isinstance(e, OwnershipError) and source_record:
            Path(source_record).unlink(missing_ok=True)
        return 2
    write_summary(done, summary)
    if source_record and data_dir:
        record_source(Path(source_record).parent, dataset, data_dir)
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
    parser.add_argument("--embeddings-model", help="a FiftyOne zoo model for zoo_embeddings")
    args = parser.parse_args(argv)
    data_dir = None if args.data_dir is None else str(canonical_dir(args.data_dir))
    return run(args.catalog, args.dataset, args.summary, data_dir, args.take_over,
               zoo_model=args.embeddings_model)  # fmt: skip


def leave(status: int) -> None:
    """Exit without the interpreter's teardown: joining pymongo's monitor
    threads and unloading FiftyOne's modules took ~1 s of a one-image rerun.
    Call only when every write is done (acknowledged, files closed)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    leave(main())
