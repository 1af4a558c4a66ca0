"""The catalog Parquet as the ingest reads it: checked first, then in chunks."""

from __future__ import annotations

import os

REQUIRED_COLUMNS = ("stem", "split", "filepath", "valid")
# What finds a catalog's new and changed rows (and its glaciers' names).
LIGHT_COLUMNS = ["filepath", "split", "stem", "glacier", "glacier_name", "row_sha"]
CHUNK = 1000  # catalog rows in memory at a time


class CatalogError(ValueError):
    """The catalog cannot be ingested (missing columns, duplicate filepaths)."""


class Catalog:
    """The catalog, checked before anything is written (required columns,
    absolute and unique filepaths: one column read), then read in chunks of
    CHUNK rows, so that the ingest holds one chunk of rows at a time whatever
    the size of the archive."""

    def __init__(self, path: str | os.PathLike):
        import pyarrow.parquet as pq

        # ParquetFile, not read_table: the latter loads pyarrow.dataset.
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

    @property
    def light_columns(self) -> list[str] | None:
        """The columns that find new and changed rows, when the catalog has
        row_sha (None: every column is needed to hash a row)."""
        names = self.file.schema_arrow.names
        return [c for c in LIGHT_COLUMNS if c in names] if "row_sha" in names else None

    def batches(self):
        """The catalog as record batches of CHUNK rows."""
        return self.file.iter_batches(batch_size=CHUNK)

    def chunks(self):
        for batch in self.batches():
            yield batch.to_pylist()


def read_catalog(path: str | os.PathLike) -> list[dict]:
    """Every row of the catalog (checked as Catalog does), for small catalogs."""
    return [row for chunk in Catalog(path).chunks() for row in chunk]
