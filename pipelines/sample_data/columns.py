"""Vectorised text columns (pyarrow string arrays) for the landing files.

A *frame* is an ordered ``dict[str, pa.Array]`` holding one delivery batch. Text columns use the
empty string for "no value"; writers turn it into an empty CSV field, a JSON ``null`` or a Parquet
null.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .timekeeping import HOUR_S, oslo_offset

Frame = dict[str, pa.Array]

_OFFSET_SUFFIX = ("Z", "+01:00", "+02:00")


def frame_length(frame: Frame) -> int:
    """Rows in a frame (0 for a frame without columns)."""
    return len(next(iter(frame.values()))) if frame else 0


def labels(vocabulary: Sequence[str], codes: np.ndarray) -> pa.Array:
    """Text for integer codes into a vocabulary."""
    return pa.array(list(vocabulary), pa.string()).take(pa.array(codes, pa.int64()))


def constant(value: str, n: int) -> pa.Array:
    """A column repeating one text value."""
    return labels([value], np.zeros(n, dtype=np.int64))


def numbers(values: np.ndarray) -> pa.Array:
    """Integers as text."""
    return pc.cast(pa.array(values, pa.int64()), pa.string())


def padded_ids(prefix: str, values: np.ndarray, width: int) -> pa.Array:
    """``prefix`` followed by the zero-padded integer, e.g. ``C20250314-000123``."""
    digits = pc.utf8_lpad(numbers(values), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def optional(column: pa.Array, present: np.ndarray) -> pa.Array:
    """Blank out the rows where ``present`` is false."""
    return pc.if_else(pa.array(present, pa.bool_()), column, "")


def timestamps(utc: np.ndarray, as_utc: np.ndarray, *, separator: str = "T") -> pa.Array:
    """ISO-8601 text: Oslo wall-clock time with its offset, or UTC with ``Z`` where ``as_utc``."""
    utc = np.asarray(utc, dtype=np.int64)
    offset = oslo_offset(utc)
    shown = np.where(as_utc, utc, utc + offset)
    text = pc.cast(pa.array(shown.astype("datetime64[s]")), pa.string())
    if separator != " ":
        text = pc.replace_substring(text, " ", separator, max_replacements=1)
    suffix = labels(_OFFSET_SUFFIX, np.where(as_utc, 0, offset // HOUR_S))
    return pc.binary_join_element_wise(text, suffix, "")


def insert_row(frame: Frame, position: int, row: dict[str, object]) -> Frame:
    """A copy of ``frame`` with ``row`` inserted before index ``position``."""
    out: Frame = {}
    for name, column in frame.items():
        value = pa.array([row[name]], column.type)
        out[name] = pa.concat_arrays([column.slice(0, position), value, column.slice(position)])
    return out


def row_at(frame: Frame, index: int) -> dict[str, object]:
    """One row as Python values."""
    return {name: column[index].as_py() for name, column in frame.items()}


def take_rows(frame: Frame, indices: Sequence[int]) -> Frame:
    """The given rows of a frame, in the given order."""
    picks = pa.array(list(indices), pa.int64())
    return {name: column.take(picks) for name, column in frame.items()}
