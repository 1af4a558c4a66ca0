"""A catalog row -> the values of its sample; new samples and rewrites of changed ones.

Only the fields of ``FIELDS`` (and the scored models' fields) and the tags in
``MANAGED_TAGS`` are ever written on existing samples, so fields and tags a
user added survive every rerun.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes

import numpy as np

from caffe_workflow.ingest import brain
from caffe_workflow.ingest.fields import FIELDS, polylines
from caffe_workflow.ingest.models import model_values
from caffe_workflow.rows import json_default, row_sha

# Bump when the mapping row -> sample changes, so every sample is rewritten once.
# 2: catalog_hash from the row's row_sha (caffe_workflow.rows), not the whole row.
# 3: the field official_split. 4: the field labelled, the tag unlabelled.
INGEST_FORMAT = 4

MANAGED_TAGS = ("train", "test", "invalid", "unlabelled")

# Pillow mode -> number of channels, for ImageMetadata.
_CHANNELS = {"1": 1, "L": 1, "P": 1, "I": 1, "I;16": 1, "F": 1, "LA": 2, "RGB": 3, "RGBA": 4}
# Kinds whose value is a label built from the row, not the column as it is.
_LABEL_KINDS = ("zones", "front", "polylines", "detection", "vector")


def catalog_hash(row: dict) -> str:
    """A sample's catalog_hash: the first 32 hex digits of the SHA-256 of the
    JSON of [INGEST_FORMAT, the row's row_sha, its evaluations or null] (keys
    sorted, no spaces, dates in ISO format). A catalog made without row_sha
    gets it computed."""
    sha = row.get("row_sha") or row_sha(row)
    text = json.dumps(
        [INGEST_FORMAT, sha, row.get("evaluation")],
        sort_keys=True,
        separators=(",", ":"),
        default=json_default,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def sample_values(fo, row: dict, models: dict | None = None) -> dict:
    """Every managed field of one sample (None where the catalog has null),
    and for each scored model ({name: kind}) its fields (ingest.models)."""
    values = {}
    for name, (kind, _) in FIELDS.items():
        if kind in _LABEL_KINDS or name == "catalog_hash":
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
    values["front_lines"] = polylines(fo, row.get("front_lines"), "front")
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


def managed_tags(row: dict) -> list[str]:
    tags = [row["split"]] if row.get("split") in ("train", "test") else []
    if not row.get("valid"):
        tags.append("invalid")
    # A catalog from before `labelled` has labels on every image.
    if row.get("labelled") is False:
        tags.append("unlabelled")
    return tags


def new_sample(fo, row: dict, models: dict | None = None):
    values = sample_values(fo, row, models)
    return fo.Sample(filepath=row["filepath"], tags=managed_tags(row), **values)


def add_samples(fo, dataset, rows: list[dict], models: dict | None = None, counted=iter) -> None:
    """Add a sample per row; `counted` wraps the rows' iterator (progress).

    validate=False: the schema is declared and the values are typed by the
    catalog's Parquet schema; validation doubled the cost of serialising the
    polylines.
    """
    dataset.add_samples(
        (new_sample(fo, row, models) for row in counted(rows)),
        num_samples=len(rows),
        validate=False,
        progress=False,
    )


def update_samples(fo, dataset, changed: dict, models: dict | None = None) -> None:
    """Rewrite the managed fields and tags of existing samples {id: row}.

    One set_values per field ($set on exactly these samples). Not
    sample.save(): FiftyOne 1.22.1 turns an empty list into $unset there, so
    ``problems`` would read back as None instead of [].
    """
    ids = list(changed)
    view = dataset.select(ids, ordered=True)
    read = ["tags", "zones", "front", "front_extent", "image_sha256", "features"]
    old = dict(zip(read, view.values(read)))
    new = [sample_values(fo, changed[i], models) for i in ids]
    # Before the writes: a new vector or file makes the brain runs stale.
    brain.before_update(
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
        + managed_tags(changed[sid])
        for k, sid in enumerate(ids)
    }
    dataset.set_values("tags", tags, key_field="id")
