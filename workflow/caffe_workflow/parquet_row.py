"""A minimal Parquet writer for small flat tables, using only the standard library.

Why not pyarrow: the per-image step runs once per SAR image (681 processes), and
`import pyarrow.parquet` alone costs ~0.2 s of CPU, more than the image work
itself. This writer covers exactly what the per-image metadata needs: flat
columns of bool, int32, int64, double, UTF-8 string and date, each nullable,
PLAIN-encoded, uncompressed, one row group. Files are read back by pyarrow in
the catalog merge (and in the tests, which check the round trip).
"""

from __future__ import annotations

import datetime as dt
import struct
from pathlib import Path

from caffe_workflow.atomic import write_atomically

# Parquet physical types and the converted types we need (parquet.thrift).
_BOOLEAN, _INT32, _INT64, _DOUBLE, _BYTE_ARRAY = 0, 1, 2, 5, 6
_UTF8, _DATE = 0, 6
_OPTIONAL = 1
_PLAIN, _RLE = 0, 3
_EPOCH = dt.date(1970, 1, 1)

# Column kinds: name -> (physical type, converted type or None, PLAIN encoder).
KINDS = {
    "bool": (_BOOLEAN, None, lambda v: bytes([1 if v else 0])),
    "int32": (_INT32, None, lambda v: struct.pack("<i", v)),
    "int64": (_INT64, None, lambda v: struct.pack("<q", v)),
    "double": (_DOUBLE, None, lambda v: struct.pack("<d", v)),
    "string": (_BYTE_ARRAY, _UTF8, lambda v: _len_prefixed(v.encode())),
    "date": (_INT32, _DATE, lambda v: struct.pack("<i", (v - _EPOCH).days)),
}


def _len_prefixed(data: bytes) -> bytes:
    return struct.pack("<i", len(data)) + data


# --- Thrift compact protocol, just the parts Parquet's metadata uses. ---
_T_TRUE, _T_FALSE, _T_I32, _T_I64, _T_BINARY, _T_LIST, _T_STRUCT = 1, 2, 5, 6, 8, 9, 12


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _zigzag(n: int) -> bytes:
    return _varint((n << 1) ^ (n >> 63))


class _Struct:
    """Serialises one thrift struct; fields must be added in increasing id order."""

    def __init__(self):
        self.buf = bytearray()
        self.last_id = 0

    def _header(self, field_id: int, ttype: int):
        delta = field_id - self.last_id
        assert 0 < delta <= 15, "fields must be added in increasing id order"
        self.buf.append((delta << 4) | ttype)
        self.last_id = field_id

    def i32(self, field_id: int, value: int):
        self._header(field_id, _T_I32)
        self.buf += _zigzag(value)
        return self

    def i64(self, field_id: int, value: int):
        self._header(field_id, _T_I64)
        self.buf += _zigzag(value)
        return self

    def binary(self, field_id: int, value: bytes):
        self._header(field_id, _T_BINARY)
        self.buf += _varint(len(value)) + value
        return self

    def struct(self, field_id: int, value: "_Struct"):
        self._header(field_id, _T_STRUCT)
        self.buf += value.end()
        return self

    def list(self, field_id: int, elem_type: int, items: list[bytes]):
        self._header(field_id, _T_LIST)
        if len(items) < 15:
            self.buf.append((len(items) << 4) | elem_type)
        else:
            self.buf.append(0xF0 | elem_type)
            self.buf += _varint(len(items))
        for item in items:
            self.buf += item
        return self

    def end(self) -> bytes:
        return bytes(self.buf) + b"\x00"


def _def_levels(present: list[bool]) -> bytes:
    """Definition levels (max level 1) as RLE runs, with the v1 length prefix."""
    runs = bytearray()
    i = 0
    while i < len(present):
        j = i
        while j < len(present) and present[j] == present[i]:
            j += 1
        runs += _varint((j - i) << 1) + bytes([1 if present[i] else 0])
        i = j
    return struct.pack("<i", len(runs)) + bytes(runs)


def write_table(path: Path, columns: dict[str, str], rows: list[dict]) -> None:
    """Write `rows` (dicts, None for null) with `columns` ({name: kind}) to `path`.

    The file is written under a temporary name and renamed, so `path` is either
    absent or complete.
    """
    out = bytearray(b"PAR1")
    chunks = []
    for name, kind in columns.items():
        ptype, _, encode = KINDS[kind]
        values = [row.get(name) for row in rows]
        present = [v is not None for v in values]
        if kind == "bool":  # PLAIN booleans are bit-packed, LSB first.
            bits = [v for v in values if v is not None]
            data = bytes(
                sum(1 << k for k, b in enumerate(bits[i : i + 8]) if b)
                for i in range(0, len(bits), 8)
            )
        else:
            data = b"".join(encode(v) for v in values if v is not None)
        page = _def_levels(present) + data
        data_page = (
            _Struct().i32(1, len(rows)).i32(2, _PLAIN).i32(3, _RLE).i32(4, _RLE)
        )
        header = (
            _Struct()
            .i32(1, 0)  # DATA_PAGE
            .i32(2, len(page))
            .i32(3, len(page))
            .struct(5, data_page)
            .end()
        )
        offset = len(out)
        out += header + page
        size = len(header) + len(page)
        meta = (
            _Struct()
            .i32(1, ptype)
            .list(2, _T_I32, [_zigzag(_PLAIN), _zigzag(_RLE)])
            .list(3, _T_BINARY, [_varint(len(name.encode())) + name.encode()])
            .i32(4, 0)  # UNCOMPRESSED
            .i64(5, len(rows))
            .i64(6, size)
            .i64(7, size)
            .i64(9, offset)
        )
        chunks.append((offset, size, meta))

    schema = [
        _Struct().binary(4, b"schema").i32(5, len(columns)).end(),
    ]
    for name, kind in columns.items():
        ptype, converted, _ = KINDS[kind]
        element = _Struct().i32(1, ptype).i32(3, _OPTIONAL).binary(4, name.encode())
        if converted is not None:
            element.i32(6, converted)
        schema.append(element.end())
    row_group = (
        _Struct()
        .list(
            1,
            _T_STRUCT,
            [_Struct().i64(2, off).struct(3, meta).end() for off, _, meta in chunks],
        )
        .i64(2, sum(size for _, size, _ in chunks))
        .i64(3, len(rows))
        .end()
    )
    footer = (
        _Struct()
        .i32(1, 1)
        .list(2, _T_STRUCT, schema)
        .i64(3, len(rows))
        .list(4, _T_STRUCT, [row_group])
        .binary(6, b"caffe_workflow parquet_row")
        .end()
    )
    out += footer + struct.pack("<i", len(footer)) + b"PAR1"

    write_atomically(path, lambda f: f.write(out))
