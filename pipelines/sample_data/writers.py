"""Streaming writers for landing files: CSV, JSON lines and Parquet.

Each sink creates its file on the first non-empty batch (an entity with no rows in a period gets
no file), counts the rows it wrote and knows the contract's row number of each data row.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .columns import Frame, frame_length

_CSV_SPECIAL = r'[,"\r\n]'
_JSON_SPECIAL = r'["\\\x00-\x1f]'
_ROW_GROUP_ROWS = 200_000


def _joined_bytes(lines: pa.Array) -> bytes:
    """The concatenated UTF-8 bytes of a string array without nulls."""
    if len(lines) == 0:
        return b""
    _, offsets, data = lines.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int32, count=len(lines) + 1, offset=4 * lines.offset)
    return memoryview(data)[int(bounds[0]) : int(bounds[-1])].tobytes()


def _csv_field(column: pa.Array) -> pa.Array:
    """Quote the (rare) values that contain a comma, quote or line break."""
    special = pc.match_substring_regex(column, _CSV_SPECIAL)
    if not pc.any(special).as_py():
        return column
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(column, '"', '""'), '"', "")
    return pc.if_else(special, quoted, column)


def csv_bytes(frame: Frame, *, header: bool) -> bytes:
    """RFC-4180 CSV (``\\n`` line ends) for a frame of text columns."""
    head = (",".join(frame) + "\n").encode() if header else b""
    if frame_length(frame) == 0:
        return head
    lines = pc.binary_join_element_wise(*[_csv_field(c) for c in frame.values()], ",")
    return head + _joined_bytes(pc.binary_join_element_wise(lines, "", "\n"))


def _json_value(column: pa.Array) -> pa.Array:
    """JSON text of each value: a string, or ``null`` for an empty value."""
    if pc.any(pc.match_substring_regex(column, _JSON_SPECIAL)).as_py():
        encoded = pa.array([json.dumps(v, ensure_ascii=False) for v in column.to_pylist()])
    else:
        encoded = pc.binary_join_element_wise('"', column, '"', "")
    return pc.if_else(pc.equal(column, ""), "null", encoded)


def jsonl_bytes(frame: Frame) -> bytes:
    """One JSON object per line; empty text values become ``null``."""
    if frame_length(frame) == 0:
        return b""
    pairs = [
        pc.binary_join_element_wise(f'"{name}": ', _json_value(column), "")
        for name, column in frame.items()
    ]
    body = pc.binary_join_element_wise(*pairs, ", ")
    return _joined_bytes(pc.binary_join_element_wise("{", body, "}\n", ""))


class Sink:
    """Base class: a landing file under ``root`` written in batches."""

    first_row_number = 1  # contract row number of the first data row

    def __init__(self, root: Path, relative: str) -> None:
        self.root = root
        self.relative = relative
        self.rows = 0
        self.created = False

    @property
    def path(self) -> Path:
        return self.root / self.relative

    def row_number(self, index: int) -> int:
        """Contract row number of the data row with 0-based ``index`` in this file."""
        return self.first_row_number + index

    def write(self, frame: Frame) -> None:
        n = frame_length(frame)
        if n == 0:
            return
        if not self.created:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._open(frame)
            self.created = True
        self._write(frame)
        self.rows += n

    def close(self) -> None:
        """Finish the file (no-op when nothing was written)."""

    def _open(self, frame: Frame) -> None:
        raise NotImplementedError

    def _write(self, frame: Frame) -> None:
        raise NotImplementedError


class _ByteSink(Sink):
    _handle: BinaryIO

    def close(self) -> None:
        if self.created:
            self._handle.close()


class CsvSink(_ByteSink):
    """CSV with a header row; data rows start at line 2."""

    first_row_number = 2

    def _open(self, frame: Frame) -> None:
        self._handle = self.path.open("wb")
        self._handle.write(csv_bytes({k: v.slice(0, 0) for k, v in frame.items()}, header=True))

    def _write(self, frame: Frame) -> None:
        self._handle.write(csv_bytes(frame, header=False))


class JsonlSink(_ByteSink):
    """JSON lines; row number = line number."""

    def _open(self, frame: Frame) -> None:
        self._handle = self.path.open("wb")

    def _write(self, frame: Frame) -> None:
        self._handle.write(jsonl_bytes(frame))


class ParquetSink(Sink):
    """Parquet with a fixed schema; empty values of ``optional`` columns are stored as nulls."""

    def __init__(
        self, root: Path, relative: str, schema: pa.Schema, optional: frozenset[str]
    ) -> None:
        super().__init__(root, relative)
        self.schema = schema
        self.optional = optional
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._writer: pq.ParquetWriter | None = None

    def _open(self, frame: Frame) -> None:
        self._writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")

    def _write(self, frame: Frame) -> None:
        columns = []
        for field in self.schema:
            column = frame[field.name]
            if field.name in self.optional:
                column = pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
            columns.append(column.cast(field.type))
        self._pending.append(pa.Table.from_arrays(columns, schema=self.schema))
        self._pending_rows += frame_length(frame)
        if self._pending_rows >= _ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._writer is not None and self._pending:
            table = pa.concat_tables(self._pending).combine_chunks()
            self._writer.write_table(table, row_group_size=max(1, table.num_rows))
        self._pending, self._pending_rows = [], 0

    def close(self) -> None:
        if self._writer is not None:
            self._flush()
            self._writer.close()
