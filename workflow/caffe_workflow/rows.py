"""The catalog's row: its columns, and the hash each row carries.

One row per image, made by the per-image stage (stages/process.py), merged by
the catalog stage (stages/catalog.py) and read by the ingest. This module is
the contract between them, so none of them imports another stage to know a row.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import json

import pyarrow as pa

from caffe_workflow.caffe.features import DIM as FEATURE_DIM

ROW_SCHEMA = pa.schema(
    [
        ("stem", pa.string()),
        ("split", pa.string()),
        # train, val (the official baseline's 56 validation images) or test.
        ("official_split", pa.string()),
        ("filepath", pa.string()),
        ("glacier", pa.string()),
        ("glacier_name", pa.string()),
        ("date_taken", pa.date32()),
        ("year", pa.int32()),
        ("season", pa.string()),
        ("hemisphere", pa.string()),
        ("satellite", pa.string()),
        ("sensor_band", pa.string()),
        ("spatial_resolution", pa.int32()),
        ("quality_factor", pa.int32()),
        ("orbit", pa.string()),
        ("modality", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("size_bytes", pa.int64()),
        ("image_sha256", pa.string()),
        ("image_mode", pa.string()),
        ("zone_na_fraction", pa.float64()),
        ("zone_rock_fraction", pa.float64()),
        ("zone_glacier_fraction", pa.float64()),
        ("zone_ocean_fraction", pa.float64()),
        ("front_pixels", pa.int64()),
        ("front_length_km", pa.float64()),
        ("front_lines", pa.list_(pa.list_(pa.list_(pa.float64())))),
        ("front_extent", pa.list_(pa.float64())),
        ("valid", pa.bool_()),
        # False when the image has none of its three label files (zones,
        # front, bounding box): a new acquisition, valid without labels.
        ("labelled", pa.bool_()),
        ("problems", pa.list_(pa.string())),
        ("warnings", pa.list_(pa.string())),
        ("zones_path", pa.string()),
        ("front_path", pa.string()),
        ("thumbnail_path", pa.string()),
        # caffe_workflow.caffe.features: layout grid + backscatter histogram
        # (null when the image cannot be decoded).
        ("features", pa.list_(pa.float32(), FEATURE_DIM)),
        ("output_version", pa.int32()),
        # Size and mtime of the image and its labels, the thumbnail height and
        # OUTPUT_VERSION when the row was made: a batch job redoes an image
        # only when this changes (or its folder is gone).
        ("fingerprint", pa.string()),
        # Hash of the other columns, made with the row: the ingest compares it
        # with each sample's instead of reading and hashing every row at every run.
        ("row_sha", pa.string()),
    ]
)
# Columns added after the first release, each computable from the others or
# from the image's files: batch files written without some of them are kept,
# and the per-image stage fills them in.
LATER_COLUMNS = ("official_split", "labelled", "row_sha")


def earlier_schema(schema: pa.Schema) -> bool:
    """True when `schema` is ROW_SCHEMA, or ROW_SCHEMA without some of LATER_COLUMNS."""
    for n in range(len(LATER_COLUMNS) + 1):
        for gone in itertools.combinations(LATER_COLUMNS, n):
            expected = ROW_SCHEMA
            for name in gone:
                expected = expected.remove(expected.get_field_index(name))
            if schema.equals(expected):
                return True
    return False


def json_default(value):
    """Dates in ISO format for json.dumps; anything else unhashable is an error."""
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    raise TypeError(f"cannot hash {type(value).__name__}")


def row_sha(row: dict) -> str:
    """The first 32 hex digits of the SHA-256 of the JSON of the row's
    catalog columns (all of ROW_SCHEMA but row_sha; a missing one is null),
    keys sorted, no spaces, dates in ISO format."""
    columns = {name: row.get(name) for name in ROW_SCHEMA.names if name != "row_sha"}
    text = json.dumps(columns, sort_keys=True, separators=(",", ":"), default=json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def rows_table(rows: list[dict]) -> pa.Table:
    """The rows as a table of ROW_SCHEMA, each with its row_sha."""
    return pa.Table.from_pylist(
        [row if row.get("row_sha") else row | {"row_sha": row_sha(row)} for row in rows],
        schema=ROW_SCHEMA,
    )
