"""Builders of synthetic catalog Parquets in the exact catalog schema.

Used by the ingest tests and the ingest benchmark. Paths point under a given
root; the files need not exist (the ingest never opens images or masks).
"""

from __future__ import annotations

import datetime
import math
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

CATALOG_SCHEMA = pa.schema(
    [
        pa.field("stem", pa.string(), nullable=False),
        ("split", pa.string()),
        ("filepath", pa.string()),
        ("glacier", pa.string()),
        ("glacier_name", pa.string()),
        ("satellite", pa.string()),
        ("sensor_band", pa.string()),
        ("season", pa.string()),
        ("hemisphere", pa.string()),
        ("orbit", pa.string()),
        ("modality", pa.string()),
        ("image_mode", pa.string()),
        ("date_taken", pa.date32()),
        ("year", pa.int32()),
        ("spatial_resolution", pa.int32()),
        ("quality_factor", pa.int32()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("size_bytes", pa.int64()),
        ("zone_na_fraction", pa.float64()),
        ("zone_rock_fraction", pa.float64()),
        ("zone_glacier_fraction", pa.float64()),
        ("zone_ocean_fraction", pa.float64()),
        ("front_pixels", pa.int64()),
        ("front_length_km", pa.float64()),
        ("front_lines", pa.list_(pa.list_(pa.list_(pa.float64())))),
        ("front_extent", pa.list_(pa.float64())),
        ("valid", pa.bool_()),
        ("problems", pa.list_(pa.string())),
        ("warnings", pa.list_(pa.string())),
        ("zones_path", pa.string()),
        ("front_path", pa.string()),
        ("thumbnail_path", pa.string()),
    ]
)

# code -> (name, hemisphere, count in CaFFe, split)
GLACIERS = {
    "COL": ("Columbia Glacier", "north", 65, "test"),
    "Mapple": ("Mapple Glacier", "south", 57, "test"),
    "Crane": ("Crane Glacier", "south", 69, "train"),
    "DBE": ("Dinsmoor-Bombardier-Edgeworth", "south", 133, "train"),
    "JAC": ("Jakobshavn Isbrae", "north", 159, "train"),
    "Jorum": ("Jorum Glacier", "south", 77, "train"),
    "SI": ("Sjogren Inlet", "south", 121, "train"),
}
SATELLITES = {
    "ERS": ("C", 20),
    "ENVISAT": ("C", 20),
    "RSAT": ("C", 12),
    "S1": ("C", 20),
    "PALSAR": ("L", 17),
    "TSX": ("X", 7),
    "TDX": ("X", 7),
}


def make_row(i: int, root: Path, glacier: str = "JAC", rng: random.Random | None = None) -> dict:
    """One valid catalog row; deterministic in (i, glacier)."""
    rng = rng or random.Random(i)
    name, hemisphere, _, split = GLACIERS[glacier]
    satellite = sorted(SATELLITES)[i % len(SATELLITES)]
    band, res = SATELLITES[satellite]
    date = datetime.date(1995, 11, 13) + datetime.timedelta(days=(i * 13) % 9000)
    winter_months = {1, 2, 3, 9, 10, 11, 12}
    north_winter = date.month in winter_months
    season = "winter" if north_winter == (hemisphere == "north") else "summer"
    orbit = f"{(i * 37) % 500:03d}"
    stem = f"{glacier}_{date.isoformat()}_{satellite}_{res}_{1 + i % 6}_{orbit}_{i}"
    width, height = 400 + i % 300, 300 + i % 200
    lines = []
    for piece in range(1 + i % 2):
        n = 60 + rng.randrange(60)
        y0 = 0.3 + 0.2 * piece
        lines.append([[k / (n - 1), y0 + 0.05 * math.sin(k / 5 + i)] for k in range(n)])
    fractions = [rng.random() for _ in range(4)]
    total = sum(fractions)
    return {
        "stem": stem,
        "split": split,
        "filepath": str(root / "sar_images" / split / f"{stem}.png"),
        "glacier": glacier,
        "glacier_name": name,
        "satellite": satellite,
        "sensor_band": band,
        "season": season,
        "hemisphere": hemisphere,
        "orbit": orbit,
        "modality": None,
        "image_mode": "L",
        "date_taken": date,
        "year": date.year,
        "spatial_resolution": res,
        "quality_factor": 1 + i % 6,
        "width": width,
        "height": height,
        "size_bytes": width * height // 2,
        "zone_na_fraction": fractions[0] / total,
        "zone_rock_fraction": fractions[1] / total,
        "zone_glacier_fraction": fractions[2] / total,
        "zone_ocean_fraction": fractions[3] / total,
        "front_pixels": 300 + i,
        "front_length_km": (300 + i) * res / 1000,
        "front_lines": lines,
        "front_extent": [0.1, 0.2, 0.5, 0.4],
        "valid": True,
        "problems": [],
        "warnings": [],
        "zones_path": str(root / "masks" / f"{stem}_zones.png"),
        "front_path": str(root / "masks" / f"{stem}_front.png"),
        "thumbnail_path": str(root / "thumbnails" / f"{stem}.jpg"),
    }


def make_invalid_row(i: int, root: Path, glacier: str = "SI") -> dict:
    """A row whose zone mask failed validation: no zones, no front labels."""
    row = make_row(i, root, glacier)
    row.update(
        valid=False,
        problems=["zones: values outside {0, 64, 127, 254}: [3]"],
        zones_path=None,
        front_path=None,
        front_lines=None,
        front_extent=None,
        zone_na_fraction=None,
        zone_rock_fraction=None,
        zone_glacier_fraction=None,
        zone_ocean_fraction=None,
        front_pixels=None,
        front_length_km=None,
    )
    return row


def make_caffe_rows(root: Path, seed: int = 0) -> list[dict]:
    """681 rows with CaFFe's glacier counts and splits (one invalid per glacier)."""
    rng = random.Random(seed)
    rows = []
    i = 0
    for glacier, (_, _, count, _) in GLACIERS.items():
        for k in range(count):
            row = make_invalid_row(i, root, glacier) if k == 0 else make_row(i, root, glacier, rng)
            rows.append(row)
            i += 1
    return rows


def write_catalog(rows: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=CATALOG_SCHEMA), path)
    return path


def with_labelled(table: pa.Table, labelled: list[bool] | None) -> pa.Table:
    """`table` (of the catalog's or the evaluate stage's schema) with its
    column `labelled` set to `labelled`, one bool per row; None: without the
    column, as files written before it."""
    index = table.schema.get_field_index("labelled")
    if labelled is None:
        return table.remove_column(index)
    return table.set_column(index, "labelled", pa.array(labelled, pa.bool_()))
