"""Independent pandas reference implementation of the funnel-kpi landing contract and funnels.

This module re-implements, from the documents alone, ``docs/landing-contract.md`` (how landing files
are read, checked, rejected and deduplicated) and ``docs/published-tables.md`` (the
``funnel_factors`` table of the ``universal``, ``inbound`` and ``outbound`` funnels). It deliberately
shares no code with the ``pipelines`` package: it exists to check the pipeline's numbers with a second,
straightforward implementation. Data are processed with vectorised pandas/numpy operations; the only
per-record Python work is in the file readers (decoding JSON lines, measuring CSV records).

Usage as a benchmark peer::

    python -m tests.reference.pandas_funnels LANDING_DIR OUT.parquet [--timezone Europe/Oslo]

Resolutions of points the documents leave open are listed in ``RESOLUTIONS`` below.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

RESOLUTIONS = """
- Trimming removes all Unicode whitespace (Python/pyarrow ``strip``), not only spaces.
- Timestamps: fractional seconds may have 1 to 6 digits; ``T`` and ``Z`` are upper case only; an
  offset is ``±HH`` or ``±HH:MM`` with HH <= 23 and MM <= 59. Seconds 60 are rejected.
- A wall-clock timestamp that is ambiguous in the reporting zone (autumn DST fold) is read as the
  first (summer-time) occurrence; one in the spring gap is shifted forward to the first valid time.
  Either choice keeps the local calendar day, so periods are unaffected.
- The "in the future" rule applies to every timestamp column (also ``scheduled_at`` and the optional
  ``replied_at``): value > run time + 24 h is rejected.
- Numbers may carry a leading sign (``-0`` is >= 0); ``inf``/``nan`` and overflowing values do not
  parse. Currency letters are ASCII and any case (stored upper case).
- Blank lines in CSV and JSON-lines files are skipped (not rejected). A JSON-lines file with no JSON
  object in it has no columns to check and loads as zero rows; otherwise a required key absent from
  every object of the file fails the entity, and one absent from some objects is a missing value.
- JSON values that are not strings are turned into their JSON text (``120``, ``1.5``, ``true``).
- CSV header names are trimmed; the first of duplicated header names is used.
- "Exact re-delivery" is judged on the checked, typed values (after trimming, case folding of enums,
  upper-casing of currency, timestamps as UTC instants, numbers as floats). When a corrected version
  supersedes an earlier one, every delivered row whose content differs from the winning version is
  rejected; rows identical to the winner are silent duplicates. Rejected rows take no part in dedup.
- A CSV record containing quoted line breaks is numbered by the line it starts on.
- Ids reject ``"`` and C0/C1 control characters (U+0000-U+001F, U+007F-U+009F).
- Only ``.csv``, ``.jsonl`` and ``.parquet`` (lower-case suffixes) are read.
- ``closed_at`` is not marked optional, so a file must have the column (its value may be null
  unless the status is won or lost).
- A file that cannot be read or lacks a required column raises ``LandingFileError`` (the whole
  reference run stops, where the pipeline fails only that entity's asset).
- Parquet: TIMESTAMP WITH TIME ZONE becomes ISO text in UTC with ``+00:00``; naive TIMESTAMP becomes
  ISO text without offset (reporting-zone wall clock); DATE becomes ``YYYY-MM-DD``; other scalar
  types are cast to text by Arrow (so a date column stored as TIMESTAMP is rejected, not a date).
"""

UNASSIGNED = "(unassigned)"
SUPERSEDED = "superseded by a later delivery with different content"
FILE_SUFFIXES = (".csv", ".jsonl", ".parquet")
GRAINS = ("day", "week", "month", "quarter", "year")
DIMENSIONS = ("all", "team", "rep")

_ID_BAD = r'["\x00-\x1f\x7f-\x9f]'
_TS_RE = (
    r"^(?P<d>\d{4}-\d{2}-\d{2})[T ](?P<h>\d{2}):(?P<m>\d{2})"
    r"(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,6}))?)?"
    r"(?P<tz>Z|(?P<sg>[+-])(?P<oh>\d{2})(?::(?P<om>\d{2}))?)?$"
)
_DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
_NUMBER_RE = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"
_CURRENCY_RE = r"^[A-Za-z]{3}$"
_SURROGATE = "[\udc80-\udcff]"


# --------------------------------------------------------------------------------------------------
# The contract
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One contract column: its kind decides how its text is checked and typed."""

    name: str
    kind: str  # id | text | timestamp | date | number | enum | currency
    required: bool = True
    allowed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Entity:
    """One landing entity (a folder) with its id column and contract columns."""

    name: str
    id_column: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        """Contract column names, in contract order."""
        return [c.name for c in self.columns]


_SOURCES = ("inbound", "outbound", "referral", "other")

ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        Entity(
            "reps",
            "rep_id",
            (
                Column("rep_id", "id"),
                Column("rep_name", "text"),
                Column("team", "text"),
                Column("region", "text"),
                Column("hired_on", "date"),
                Column("left_on", "date", required=False),
            ),
        ),
        Entity(
            "web_visits",
            "visit_id",
            (
                Column("visit_id", "id"),
                Column("visitor_id", "id"),
                Column("visited_at", "timestamp"),
                Column(
                    "channel",
                    "enum",
                    allowed=("organic", "paid", "social", "email", "referral", "direct", "other"),
                ),
                Column("landing_page", "text"),
                Column("campaign", "text", required=False),
                Column("account_id", "id", required=False),
            ),
        ),
        Entity(
            "calls",
            "call_id",
            (
                Column("call_id", "id"),
                Column("rep_id", "id"),
                Column("started_at", "timestamp"),
                Column("duration_seconds", "number"),
                Column("direction", "enum", allowed=("outbound", "inbound")),
                Column(
                    "outcome",
                    "enum",
                    allowed=("connected", "no_answer", "voicemail", "busy", "failed"),
                ),
                Column("contact_id", "id", required=False),
                Column("account_id", "id", required=False),
            ),
        ),
        Entity(
            "emails",
            "email_id",
            (
                Column("email_id", "id"),
                Column("rep_id", "id"),
                Column("sent_at", "timestamp"),
                Column("contact_id", "id", required=False),
                Column("account_id", "id", required=False),
                Column("replied_at", "timestamp", required=False),
            ),
        ),
        Entity(
            "meetings",
            "meeting_id",
            (
                Column("meeting_id", "id"),
                Column("rep_id", "id"),
                Column("account_id", "id", required=False),
                Column("booked_at", "timestamp"),
                Column("scheduled_at", "timestamp"),
                Column("status", "enum", allowed=("scheduled", "held", "no_show", "cancelled")),
                Column("source", "enum", allowed=_SOURCES),
                Column("visitor_id", "id", required=False),
            ),
        ),
        Entity(
            "opportunities",
            "opportunity_id",
            (
                Column("opportunity_id", "id"),
                Column("rep_id", "id"),
                Column("account_id", "id", required=False),
                Column("meeting_id", "id", required=False),
                Column("source", "enum", allowed=_SOURCES),
                Column("created_at", "timestamp"),
                # Required when status is won or lost: checked in _check_closed_at.
                Column("closed_at", "timestamp", required=False),
                Column("status", "enum", allowed=("open", "won", "lost")),
                Column("amount", "number"),
                Column("currency", "currency"),
                Column("updated_at", "timestamp"),
            ),
        ),
    )
}

REJECT_COLUMNS = ["entity", "source_file", "source_row", "reason"]


class LandingFileError(Exception):
    """A landing file cannot be read at all or lacks a required column (fails its entity)."""


@dataclass
class LoadedLanding:
    """Clean, deduplicated, typed rows per entity, plus every rejected source row."""

    tables: dict[str, pd.DataFrame]
    rejects: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# Reading files as text
# --------------------------------------------------------------------------------------------------

_BOM = b"\xef\xbb\xbf"
_JSON_WHITESPACE = np.frombuffer(b" \t\r\n", dtype=np.uint8)


@dataclass
class TextFile:
    """The contract columns of one file as text (null = NaN) with 1-based ``_row``, and the rows
    rejected while reading (``_row``, ``reason``)."""

    frame: pd.DataFrame
    structural_rejects: pd.DataFrame


def _structural(
    rows: Sequence[int] | np.ndarray, reasons: Sequence[str] | pd.Series
) -> pd.DataFrame:
    """A frame of reader-level rejects."""
    return pd.DataFrame(
        {
            "_row": pd.Series(np.asarray(rows, dtype="int64")),
            "reason": pd.Series(list(reasons), dtype=object),
        }
    )


def _required_names(entity: Entity) -> list[str]:
    """Columns a file must have (``closed_at`` too: it is required for won and lost rows)."""
    names = [c.name for c in entity.columns if c.required]
    return [*names, "closed_at"] if entity.name == "opportunities" else names


def _require_columns(path: Path, entity: Entity, present: set[str]) -> None:
    """Fail the entity when the file lacks a required column."""
    missing = [name for name in _required_names(entity) if name not in present]
    if missing:
        raise LandingFileError(f"{path}: missing required column(s): {', '.join(missing)}")


def _text_frame(entity: Entity, columns: dict[str, pd.Series], rows: np.ndarray) -> pd.DataFrame:
    """Assemble a text frame with every contract column (absent optional ones are null)."""
    n = len(rows)
    data = {}
    for name in entity.names:
        values = columns.get(name)
        if values is None:
            data[name] = pd.Series([None] * n, dtype="str")
        elif values.dtype == "str":
            data[name] = values.reset_index(drop=True)
        else:
            data[name] = pd.Series(values.to_numpy(dtype=object), dtype="str")
    frame = pd.DataFrame(data, index=pd.RangeIndex(n))
    frame["_row"] = np.asarray(rows, dtype="int64")
    return frame


def _line_numbers(raw: bytes, *, nonblank: bool) -> np.ndarray:
    """1-based numbers of the physical lines (split on ``\\n``) of ``raw``; with ``nonblank``
    only those holding something other than JSON whitespace."""
    buf = np.frombuffer(raw, dtype=np.uint8)
    breaks = np.flatnonzero(buf == ord("\n"))
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(buf)]])
    if not raw or raw.endswith(b"\n"):  # nothing after the last line break
        starts, ends = starts[:-1], ends[:-1]
    if not nonblank:
        return np.arange(1, len(starts) + 1, dtype="int64")
    content = np.concatenate([[0], np.cumsum(~np.isin(buf, _JSON_WHITESPACE))])
    return np.flatnonzero(content[ends] > content[starts]) + 1


def _read_csv(path: Path, entity: Entity) -> TextFile:
    """Read a CSV file; every value stays text, so only empty strings become null later.

    A fast Arrow read is used when the file is one record per line without blank lines; any other
    file goes through Python's ``csv`` module, which locates every record's line exactly.
    """
    raw = path.read_bytes().removeprefix(_BOM)
    fast = read_csv_arrow(path, raw, entity)
    return fast if fast is not None else read_csv_python(path, raw, entity)


def read_csv_arrow(path: Path, raw: bytes, entity: Entity) -> TextFile | None:
    """Arrow CSV read, or None when the file needs the exact (slow) reader."""
    try:
        header = next(csv.reader([raw.split(b"\n", 1)[0].decode("utf-8").rstrip("\r")]))
    except (UnicodeDecodeError, StopIteration, csv.Error):
        return None
    if any(h != h.strip() for h in header) or len(set(header)) != len(header):
        return None
    _require_columns(path, entity, set(header))
    wanted = [name for name in entity.names if name in header]
    options = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in wanted},
        include_columns=wanted,
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    try:
        table = pacsv.read_csv(io.BytesIO(raw), convert_options=options)
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    lines = _line_numbers(raw, nonblank=False)
    if table.num_rows != len(lines) - 1:  # blank lines, quoted line breaks, \r line ends
        return None
    columns = {name: table.column(name).to_pandas() for name in wanted}
    return TextFile(_text_frame(entity, columns, lines[1:]), _structural([], []))


def read_csv_python(path: Path, raw: bytes, entity: Entity) -> TextFile:
    """Exact CSV read: line numbers of multi-line records, ragged rows and invalid UTF-8."""
    try:
        text, bad_utf8 = raw.decode("utf-8"), False
    except UnicodeDecodeError:
        text, bad_utf8 = raw.decode("utf-8", errors="surrogateescape"), True
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise LandingFileError(f"{path}: cannot be parsed as CSV: {exc}") from exc
    if not records:
        raise LandingFileError(f"{path}: empty file without a header row")
    header = [h.strip() for h in records[0]]
    _require_columns(path, entity, set(header))
    body = pd.DataFrame(records[1:], dtype=object)
    body = body.reindex(columns=range(max(len(header), body.shape[1])))
    n_fields = pd.Series(records[1:], dtype=object).map(len).to_numpy(dtype="int64")
    line = _csv_start_lines(records[0], body, '"' in text)
    blank = n_fields == 0
    ragged = ~blank & (n_fields != len(header))
    utf8 = np.zeros(len(body), dtype=bool)
    if bad_utf8:
        has_surrogate = body.apply(
            lambda s: s.astype(object).str.contains(_SURROGATE, regex=True, na=False)
        )
        utf8 = has_surrogate.any(axis=1).to_numpy() & ~ragged & ~blank
    reasons = [f"CSV line has {k} fields, expected {len(header)}" for k in n_fields[ragged]]
    rejects = _structural(
        np.concatenate([line[ragged], line[utf8]]), reasons + ["invalid UTF-8"] * int(utf8.sum())
    )
    keep = ~blank & ~ragged & ~utf8
    first = {name: header.index(name) for name in entity.names if name in header}
    columns = {name: body[pos][keep] for name, pos in first.items()}
    return TextFile(_text_frame(entity, columns, line[keep]), rejects)


def _csv_start_lines(header: list[str], body: pd.DataFrame, may_span: bool) -> np.ndarray:
    """Line on which each CSV record starts (header = line 1), allowing quoted line breaks."""
    n = len(body)
    if not may_span or n == 0:
        return np.arange(2, n + 2, dtype="int64")
    breaks = r"\r\n|\r|\n"
    header_lines = 1 + int(pd.Series(header, dtype=object).str.count(breaks).sum())
    inner = body.apply(lambda s: s.astype(object).str.count(breaks)).fillna(0).sum(axis=1)
    spans = 1 + inner.to_numpy(dtype="int64")
    return 1 + header_lines + np.cumsum(spans) - spans


def _read_jsonl(path: Path, entity: Entity) -> TextFile:
    """Read a JSON-lines file: one object per line; other lines are rejected.

    A fast Arrow read is used when every line is an object of strings and nulls; any other file
    is parsed line by line.
    """
    raw = path.read_bytes().removeprefix(_BOM)
    lines = _line_numbers(raw, nonblank=True)
    fast = _read_jsonl_arrow(raw, entity, lines)
    return fast if fast is not None else _read_jsonl_python(path, raw, entity, lines)


def _read_jsonl_arrow(raw: bytes, entity: Entity, lines: np.ndarray) -> TextFile | None:
    """Arrow JSON read, or None when the file needs the line-by-line reader."""
    schema = pa.schema([(name, pa.string()) for name in entity.names])
    options = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    try:
        table = pajson.read_json(io.BytesIO(raw), parse_options=options)
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    if table.num_rows != len(lines) or table.num_rows == 0:
        return None
    # An all-null required column may be an absent key: let the exact reader decide.
    if any(table.column(n).null_count == table.num_rows for n in _required_names(entity)):
        return None
    columns = {name: table.column(name).to_pandas() for name in entity.names}
    return TextFile(_text_frame(entity, columns, lines), _structural([], []))


def _read_jsonl_python(path: Path, raw: bytes, entity: Entity, lines: np.ndarray) -> TextFile:
    """Parse each non-blank line on its own; reject lines that are not JSON objects."""
    chunks = np.asarray(raw.split(b"\n"), dtype=object)[lines - 1]
    parsed = pd.Series([_json_object(chunk) for chunk in chunks], dtype=object)
    is_obj = parsed.map(lambda v: isinstance(v, dict)).to_numpy(dtype=bool)
    rejects = _structural(lines[~is_obj], parsed[~is_obj])
    objects = list(parsed[is_obj])
    if not objects:
        return TextFile(_text_frame(entity, {}, lines[is_obj]), rejects)
    frame = pd.DataFrame(objects, dtype=object)
    _require_columns(path, entity, set(frame.columns))
    columns = {name: frame[name].map(_json_text) for name in entity.names if name in frame.columns}
    return TextFile(_text_frame(entity, columns, lines[is_obj]), rejects)


def _json_object(line: bytes) -> dict | str:
    """Parse one JSON line; return the object, or the reason it is rejected."""
    try:
        obj = json.loads(line.decode("utf-8"), parse_constant=_reject_constant)
        json.dumps(obj, ensure_ascii=False).encode("utf-8")  # lone surrogate escapes
    except UnicodeError:
        return "invalid UTF-8"
    except ValueError:
        return "not valid JSON"
    return obj if isinstance(obj, dict) else "JSON line is not an object"


def _reject_constant(name: str) -> float:
    """Refuse the non-standard JSON constants NaN and Infinity."""
    raise ValueError(f"non-standard JSON constant {name}")


def _json_text(value: object) -> str | None:
    """The text of a JSON value: strings as they are, anything else as its JSON text."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None  # float NaN can only be a key missing from this object
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _arrow_text(column: pa.ChunkedArray) -> pd.Series:
    """A Parquet column as text: ISO timestamps (offset only when the type has a zone)."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        # To microseconds (sub-microsecond digits dropped), in UTC when the type has a zone.
        micros = pc.cast(column, pa.timestamp("us", "UTC" if kind.tz else None), safe=False)
        values = micros.to_numpy(zero_copy_only=False).astype("datetime64[us]")
        text = pd.Series(np.datetime_as_string(values, unit="us"), dtype="str")
        text = text + "+00:00" if kind.tz else text
        return text.where(~np.isnat(values))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return column.to_pandas()
    try:
        return pc.cast(column, pa.string()).to_pandas()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise LandingFileError(f"column {column.type} cannot be read as text: {exc}") from exc


def _read_parquet(path: Path, entity: Entity) -> TextFile:
    """Read a Parquet file, casting every contract column to text first."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise LandingFileError(f"{path}: cannot be read as Parquet: {exc}") from exc
    _require_columns(path, entity, set(table.column_names))
    try:
        columns = {
            name: _arrow_text(table.column(name))
            for name in entity.names
            if name in table.column_names
        }
    except LandingFileError as exc:
        raise LandingFileError(f"{path}: {exc}") from exc
    rows = np.arange(1, table.num_rows + 1, dtype="int64")
    return TextFile(_text_frame(entity, columns, rows), _structural([], []))


READERS: dict[str, Callable[[Path, Entity], TextFile]] = {
    ".csv": _read_csv,
    ".jsonl": _read_jsonl,
    ".parquet": _read_parquet,
}


def _entity_files(folder: Path) -> list[Path]:
    """The entity's files, in the order of their path relative to the folder (as strings)."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.rglob("*") if p.is_file() and p.suffix in FILE_SUFFIXES]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


# --------------------------------------------------------------------------------------------------
# Checking values
# --------------------------------------------------------------------------------------------------


def _trim(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Trim surrounding whitespace; empty strings become null."""
    out = frame.copy()
    for name in names:
        s = out[name].str.strip()
        out[name] = s.mask(s == "")
    return out


def _arrow_strings(text: pd.Series) -> pa.Array:
    """A text Series as an Arrow string array (nulls kept)."""
    return pa.array(text.astype("str"), from_pandas=True).cast(pa.string())


def parse_timestamps(text: pd.Series, reporting_timezone: str) -> pd.Series:
    """Parse contract timestamps to UTC; NaT where the text is not a valid timestamp.

    Without an offset the wall-clock time is read in ``reporting_timezone``.
    """
    parts = pc.extract_regex(_arrow_strings(text), _TS_RE)  # null where the format does not match

    def part(name: str) -> pa.Array:
        return pc.struct_field(parts, name)

    seconds = pc.if_else(pc.equal(part("s"), ""), "00", part("s"))
    fraction = pc.utf8_rpad(part("f"), 6, "0")
    normal = pc.binary_join_element_wise(
        part("d"), " ", part("h"), ":", part("m"), ":", seconds, ".", fraction, ""
    )
    naive = pd.to_datetime(
        pd.Series(normal.to_pandas(), index=text.index),
        format="%Y-%m-%d %H:%M:%S.%f",
        errors="coerce",
    ).astype("datetime64[us]")
    has_offset = _mask(pc.not_equal(part("tz"), ""))
    hours = _int_part(part("oh"))
    minutes = _int_part(part("om"))
    in_range = _mask(pc.less_equal(seconds, "59"))
    naive = naive.where(in_range & (hours <= 23) & (minutes <= 59))
    sign = np.where(_mask(pc.equal(part("sg"), "-")), -1, 1)
    shift = pd.to_timedelta(sign * (hours * 60 + minutes), unit="min")
    from_offset = (naive - shift.to_numpy()).dt.tz_localize("UTC")
    local = naive.dt.tz_localize(
        reporting_timezone, ambiguous=np.ones(len(naive), dtype=bool), nonexistent="shift_forward"
    ).dt.tz_convert("UTC")
    return from_offset.where(has_offset, local).astype("datetime64[us, UTC]")


def _mask(values: pa.Array) -> np.ndarray:
    """An Arrow boolean array as a numpy mask (null = False)."""
    return values.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)


def _int_part(values: pa.Array) -> np.ndarray:
    """Digits of an optional regex group as integers (0 when absent)."""
    digits = pc.if_else(pc.equal(values, ""), "0", values).fill_null("0")
    return pc.cast(digits, pa.int64()).to_numpy(zero_copy_only=False)


def parse_dates(text: pd.Series) -> pd.Series:
    """Parse ``YYYY-MM-DD`` calendar dates; NaT where invalid."""
    valid = text.str.fullmatch(_DATE_RE).fillna(False).astype(bool)
    parsed = pd.to_datetime(text.where(valid), format="%Y-%m-%d", errors="coerce")
    return parsed.astype("datetime64[s]")


def parse_numbers(text: pd.Series) -> pd.Series:
    """Parse decimal numbers with ``.`` as the decimal point; NaN where invalid."""
    valid = text.str.fullmatch(_NUMBER_RE).fillna(False).astype(bool)
    values = pd.to_numeric(text.where(valid), errors="coerce").astype("float64")
    return values.where(np.isfinite(values))


@dataclass
class Checked:
    """Typed columns of a text frame and the reasons each row breaks the contract ('' = fine)."""

    typed: pd.DataFrame
    reasons: pd.Series


def _reasons(problems: list[tuple[np.ndarray, str]], n: int) -> pd.Series:
    """Per row, every reason that applies, joined with '; ' ('' for a good row)."""
    any_bad = np.zeros(n, dtype=bool)
    for mask, _ in problems:
        any_bad |= mask
    bad_rows = np.flatnonzero(any_bad)
    joined = pd.Series("", index=bad_rows, dtype=object)
    for mask, text in problems:
        joined = joined + np.where(mask[bad_rows], f"; {text}", "").astype(object)
    reasons = np.full(n, "", dtype=object)
    reasons[bad_rows] = joined.str.removeprefix("; ").to_numpy(dtype=object)
    return pd.Series(reasons, dtype=object)


def _check_column(
    column: Column, text: pd.Series, tz: str, horizon: pd.Timestamp
) -> tuple[pd.Series, list[tuple[np.ndarray, str]]]:
    """Check and type one column; return the typed values and (mask, reason) pairs."""
    present = text.notna().to_numpy()
    problems: list[tuple[np.ndarray, str]] = []
    if column.required:
        problems.append((~present, f"{column.name}: required value missing"))
    if column.kind == "timestamp":
        typed = parse_timestamps(text, tz)
        bad = present & typed.isna().to_numpy()
        problems.append((bad, f"{column.name}: not a valid timestamp"))
        future = (typed > horizon).fillna(False).to_numpy(dtype=bool)
        problems.append((future, f"{column.name}: in the future"))
    elif column.kind == "date":
        typed = parse_dates(text)
        problems.append((present & typed.isna().to_numpy(), f"{column.name}: not a valid date"))
    elif column.kind == "number":
        typed = parse_numbers(text)
        problems.append((present & typed.isna().to_numpy(), f"{column.name}: not a number"))
        negative = (typed < 0).fillna(False).to_numpy(dtype=bool)
        problems.append((negative, f"{column.name}: negative number"))
    elif column.kind == "enum":
        typed = text.str.lower()
        outside = present & ~typed.isin(column.allowed).to_numpy()
        allowed = ", ".join(column.allowed)
        problems.append((outside, f"{column.name}: not one of ({allowed})"))
    elif column.kind == "currency":
        valid = text.str.fullmatch(_CURRENCY_RE).fillna(False).to_numpy(dtype=bool)
        typed = text.str.upper()
        problems.append((present & ~valid, f"{column.name}: not a three-letter currency code"))
    elif column.kind == "id":
        typed = text
        bad = text.str.contains(_ID_BAD, regex=True).fillna(False).to_numpy(dtype=bool)
        problems.append((bad, f"{column.name}: invalid id (quote or control character)"))
    else:
        typed = text
    return typed, problems


def _check_closed_at(typed: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Won and lost opportunities need ``closed_at``."""
    closed = typed["status"].isin(["won", "lost"]).to_numpy()
    missing = typed["closed_at"].isna().to_numpy()
    return closed & missing, "closed_at: required when status is won or lost"


def check_values(
    entity: Entity, text: pd.DataFrame, reporting_timezone: str, now: pd.Timestamp
) -> Checked:
    """Apply the value rules of the contract to a text frame of one entity."""
    trimmed = _trim(text, entity.names).reset_index(drop=True)
    horizon = now + pd.Timedelta(days=1)
    typed = pd.DataFrame(index=trimmed.index)
    problems: list[tuple[np.ndarray, str]] = []
    for column in entity.columns:
        typed[column.name], found = _check_column(
            column, trimmed[column.name], reporting_timezone, horizon
        )
        problems += found
    if entity.name == "opportunities":
        problems.append(_check_closed_at(typed))
    return Checked(typed, _reasons(problems, len(trimmed)))


# --------------------------------------------------------------------------------------------------
# Records delivered more than once
# --------------------------------------------------------------------------------------------------


def _dedup_snapshots(valid: pd.DataFrame, entity: Entity) -> pd.DataFrame:
    """Opportunities: latest ``updated_at`` wins; on a tie the later delivery wins."""
    ordered = valid.sort_values(["updated_at", "_file_index", "_row"], kind="stable")
    return ordered.drop_duplicates(entity.id_column, keep="last")


def _dedup_corrections(valid: pd.DataFrame, entity: Entity) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Other entities: exact duplicates count once; a differing re-delivery supersedes the earlier.

    Returns the winners and the superseded rows.
    """
    ordered = valid.sort_values(["_file_index", "_row"], kind="stable")
    repeated = ordered[ordered.duplicated(entity.id_column, keep=False)]
    content = repeated.groupby(entity.names, dropna=False, sort=False).ngroup()
    winner_content = content.groupby(repeated[entity.id_column], sort=False).transform("last")
    superseded = repeated[content != winner_content]
    winners = ordered.drop_duplicates(entity.id_column, keep="last")
    return winners, superseded


# --------------------------------------------------------------------------------------------------
# Loading a landing folder
# --------------------------------------------------------------------------------------------------


def _rejects_frame(entity: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Rejects with the public columns, from a frame holding ``_file``, ``_row`` and ``reason``."""
    return pd.DataFrame(
        {
            "entity": pd.Series([entity] * len(frame), dtype=object),
            "source_file": frame["_file"].to_numpy(dtype=object),
            "source_row": frame["_row"].to_numpy(dtype="int64"),
            "reason": frame["reason"].to_numpy(dtype=object),
        }
    )


def _read_entity(landing: Path, entity: Entity) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read all files of an entity as text; return (rows, reader-level rejects)."""
    folder = landing / entity.name
    frames, rejects = [], []
    for index, path in enumerate(_entity_files(folder)):
        text_file = READERS[path.suffix](path, entity)
        relative = path.relative_to(landing).as_posix()
        frames.append(text_file.frame.assign(_file=relative, _file_index=index))
        rejects.append(text_file.structural_rejects.assign(_file=relative))
    empty = _text_frame(entity, {}, np.array([], dtype="int64")).assign(_file="", _file_index=0)
    rows = pd.concat([empty, *frames], ignore_index=True)
    reader_rejects = pd.concat([_structural([], []).assign(_file=""), *rejects], ignore_index=True)
    return rows, reader_rejects


def load_entity(
    landing: Path, entity: Entity, reporting_timezone: str, now: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read, check and deduplicate one entity; return (clean typed table, rejects)."""
    rows, reader_rejects = _read_entity(landing, entity)
    checked = check_values(entity, rows, reporting_timezone, now)
    meta = rows[["_file", "_file_index", "_row"]]
    bad = checked.reasons != ""
    invalid = meta[bad].assign(reason=checked.reasons[bad])
    valid = pd.concat([checked.typed[~bad], meta[~bad]], axis=1)
    if entity.name == "opportunities":
        winners, superseded = _dedup_snapshots(valid, entity), valid.iloc[0:0]
    else:
        winners, superseded = _dedup_corrections(valid, entity)
    rejects = pd.concat(
        [
            _rejects_frame(entity.name, reader_rejects),
            _rejects_frame(entity.name, invalid),
            _rejects_frame(entity.name, superseded.assign(reason=SUPERSEDED)),
        ],
        ignore_index=True,
    )
    table = winners.sort_values(["_file_index", "_row"], kind="stable")[entity.names]
    return _final_types(entity, table.reset_index(drop=True)), rejects


def _final_types(entity: Entity, table: pd.DataFrame) -> pd.DataFrame:
    """Dates become ``datetime.date`` objects (None when null)."""
    out = table.copy()
    for column in entity.columns:
        if column.kind == "date":
            dates = out[column.name].dt.date.astype(object)
            out[column.name] = dates.where(out[column.name].notna(), None)
    return out


def load_landing(
    landing: Path,
    *,
    reporting_timezone: str = "Europe/Oslo",
    now: pd.Timestamp | None = None,
) -> LoadedLanding:
    """Load a landing folder following docs/landing-contract.md.

    ``now`` is the time of the run (default: the current time); a naive ``now`` is taken as UTC.
    Raises ``LandingFileError`` for a file that cannot be read or lacks a required column.
    """
    landing = Path(landing)
    run_time = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    run_time = run_time.tz_localize("UTC") if run_time.tzinfo is None else run_time
    tables, rejects, notes = {}, [], []
    for entity in ENTITIES.values():
        if not _entity_files(landing / entity.name):
            note = f"entity {entity.name!r} has no files under {landing / entity.name}: empty"
            warnings.warn(note, stacklevel=2)
            notes.append(note)
        tables[entity.name], entity_rejects = load_entity(
            landing, entity, reporting_timezone, run_time.tz_convert("UTC")
        )
        rejects.append(entity_rejects)
    all_rejects = pd.concat(rejects, ignore_index=True).sort_values(
        ["entity", "source_file", "source_row"], kind="stable", ignore_index=True
    )
    return LoadedLanding(tables, all_rejects[REJECT_COLUMNS], notes)


# --------------------------------------------------------------------------------------------------
# Funnels
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Funnel:
    """A funnel: factor names in order, the dimensions it is published for, and its events."""

    name: str
    factors: tuple[str, ...]
    dimensions: tuple[str, ...]
    events: Callable[[dict[str, pd.DataFrame]], pd.DataFrame]

    @property
    def n_stages(self) -> int:
        """Stages are all factors but the last two (value per unit and total)."""
        return len(self.factors) - 2


METRICS = ("s1", "s2", "s3", "value")  # stage counts and the summed value, coded by position


def _events(
    frame: pd.DataFrame,
    ts_column: str,
    metric: str,
    *,
    amount: pd.Series | None = None,
    key: pd.Series | None = None,
) -> pd.DataFrame:
    """Events of one metric: when (UTC), whose rep, how much, and a key code for distinct counts
    (-1 = count every event; a metric takes its keys from one source only)."""
    n = len(frame)
    rep_id = frame["rep_id"] if "rep_id" in frame else pd.Series([None] * n, dtype="str")
    return pd.DataFrame(
        {
            "ts": frame[ts_column].astype("datetime64[us, UTC]").reset_index(drop=True),
            "rep_id": rep_id.astype("str").reset_index(drop=True),
            "metric": np.full(n, METRICS.index(metric), dtype="int64"),
            "amount": np.ones(n) if amount is None else amount.to_numpy(dtype="float64"),
            "key": np.full(n, -1, dtype="int64") if key is None else pd.factorize(key)[0],
        }
    )


def _won(opportunities: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """Won opportunities, optionally of one source."""
    won = opportunities[opportunities["status"] == "won"]
    return won if source is None else won[won["source"] == source]


def _held(meetings: pd.DataFrame, source: str) -> pd.DataFrame:
    """Held meetings of one source."""
    return meetings[(meetings["status"] == "held") & (meetings["source"] == source)]


def _universal_events(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """s1 = closed (won or lost) opportunities, s2 = won, value = won amount; at ``closed_at``."""
    opps = t["opportunities"]
    closed = opps[opps["status"].isin(["won", "lost"])]
    won = _won(opps)
    return pd.concat(
        [
            _events(closed, "closed_at", "s1"),
            _events(won, "closed_at", "s2"),
            _events(won, "closed_at", "value", amount=won["amount"]),
        ],
        ignore_index=True,
    )


def _inbound_events(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """s1 = distinct visitors, s2 = held inbound meetings, s3 = won inbound deals, value."""
    visits, won = t["web_visits"], _won(t["opportunities"], "inbound")
    held = _held(t["meetings"], "inbound")
    return pd.concat(
        [
            _events(visits, "visited_at", "s1", key=visits["visitor_id"]),
            _events(held, "scheduled_at", "s2"),
            _events(won, "closed_at", "s3"),
            _events(won, "closed_at", "value", amount=won["amount"]),
        ],
        ignore_index=True,
    )


def _outbound_events(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """s1 = outbound calls + emails, s2 = held outbound meetings, s3 = won outbound, value."""
    calls = t["calls"][t["calls"]["direction"] == "outbound"]
    won = _won(t["opportunities"], "outbound")
    held = _held(t["meetings"], "outbound")
    return pd.concat(
        [
            _events(calls, "started_at", "s1"),
            _events(t["emails"], "sent_at", "s1"),
            _events(held, "scheduled_at", "s2"),
            _events(won, "closed_at", "s3"),
            _events(won, "closed_at", "value", amount=won["amount"]),
        ],
        ignore_index=True,
    )


FUNNELS: tuple[Funnel, ...] = (
    Funnel(
        "universal",
        ("opportunities", "hit_rate", "avg_contract_value", "total_sales"),
        DIMENSIONS,
        _universal_events,
    ),
    Funnel(
        "inbound",
        (
            "visitors",
            "visit_to_meeting_rate",
            "meeting_hit_rate",
            "avg_contract_value",
            "total_sales",
        ),
        ("all",),
        _inbound_events,
    ),
    Funnel(
        "outbound",
        (
            "activities",
            "activity_to_meeting_rate",
            "meeting_hit_rate",
            "avg_contract_value",
            "total_sales",
        ),
        DIMENSIONS,
        _outbound_events,
    ),
)


def period_starts(local: np.ndarray, grain: str) -> np.ndarray:
    """First day (``datetime64[D]``) of the period of each local wall-clock time."""
    days = local.astype("datetime64[D]")
    if grain == "day":
        return days
    if grain == "week":  # 1970-01-05 (day 4 since the epoch) is a Monday
        n = days.astype("int64")
        return ((n - 4) // 7 * 7 + 4).astype("datetime64[D]")
    months = local.astype("datetime64[M]")
    if grain == "month":
        return months.astype("datetime64[D]")
    if grain == "quarter":  # 1970-01 is a quarter start
        m = months.astype("int64")
        return (m // 3 * 3).astype("datetime64[M]").astype("datetime64[D]")
    if grain == "year":
        return local.astype("datetime64[Y]").astype("datetime64[D]")
    raise ValueError(f"unknown grain {grain!r}")


@dataclass(frozen=True)
class Members:
    """The member of each event under one dimension, as integer codes into ``labels``."""

    codes: np.ndarray
    labels: np.ndarray


def _members(events: pd.DataFrame, dimension: str, team_of: pd.Series) -> Members:
    """The member of each event under a dimension (team via reps; unknown rep -> unassigned)."""
    if dimension == "all":
        return Members(np.zeros(len(events), dtype="int64"), np.array(["all"], dtype=object))
    rep_codes, reps = pd.factorize(events["rep_id"])
    if dimension == "rep":
        return Members(rep_codes, np.asarray(reps, dtype=object))
    if dimension == "team":
        teams = pd.Series(reps, dtype=object).map(team_of).astype(object)
        teams = teams.where(teams.notna(), UNASSIGNED)
        team_codes, labels = pd.factorize(teams.to_numpy(dtype=object))
        codes = np.where(rep_codes >= 0, team_codes[np.maximum(rep_codes, 0)], -1)
        return Members(codes, np.asarray(labels, dtype=object))
    raise ValueError(f"unknown dimension {dimension!r}")


def _first_occurrences(columns: pd.DataFrame) -> np.ndarray:
    """Mask of the first row of each distinct combination of the integer columns."""
    combined = np.zeros(len(columns), dtype="int64")
    span = 1
    for name in columns:
        values = columns[name].to_numpy(dtype="int64")
        low = int(values.min()) if len(values) else 0
        size = (int(values.max()) - low + 1) if len(values) else 1
        if span * size >= 2**62:  # cannot pack into one integer: let pandas hash the tuples
            return ~columns.duplicated().to_numpy()
        combined = combined * size + (values - low)
        span *= size
    return ~pd.Series(combined).duplicated().to_numpy()


def _stage_table(
    events: pd.DataFrame, periods: np.ndarray, members: Members, funnel: Funnel
) -> pd.DataFrame:
    """Per (period_start, member): s1..sn and value (0 when no events), distinct keys counted once."""
    metrics = [f"s{i}" for i in range(1, funnel.n_stages + 1)] + ["value"]
    placed = pd.DataFrame(
        {
            "period": periods.astype("int64"),
            "member": members.codes,
            "metric": events["metric"].to_numpy(),
            "key": events["key"].to_numpy(),
            "amount": events["amount"].to_numpy(),
        }
    )
    placed = placed[placed["member"] >= 0]  # events without a rep_id have no rep or team
    has_key = placed["key"] >= 0
    keyed = placed[has_key]
    distinct = keyed[_first_occurrences(keyed[["metric", "period", "member", "key"]])]
    placed = pd.concat([placed[~has_key], distinct], ignore_index=True)
    sums = (
        placed.groupby(["period", "member", "metric"])["amount"]
        .sum()
        .unstack("metric", fill_value=0.0)
        .reindex(columns=[METRICS.index(m) for m in metrics], fill_value=0.0)
        .fillna(0.0)
    )
    sums.columns = metrics
    sums = sums.reset_index()
    return sums.assign(
        period_start=sums["period"].to_numpy().astype("datetime64[D]"),
        member=members.labels[sums["member"].to_numpy()],
    ).drop(columns=["period"])


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator, NaN (NULL) where the denominator is 0."""
    den = denominator.to_numpy(dtype="float64")
    num = numerator.to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.Series(np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan))


def _factor_rows(stages: pd.DataFrame, funnel: Funnel) -> pd.DataFrame:
    """Long factor rows for the groups whose first stage is above zero."""
    emitted = stages[stages["s1"] > 0].reset_index(drop=True)
    n = funnel.n_stages
    values = [emitted["s1"]]
    values += [_ratio(emitted[f"s{i}"], emitted[f"s{i - 1}"]) for i in range(2, n + 1)]
    values += [_ratio(emitted["value"], emitted[f"s{n}"]), emitted["value"]]
    wide = pd.DataFrame(
        {name: v.to_numpy(dtype="float64") for name, v in zip(funnel.factors, values, strict=True)}
    )
    wide[["period_start", "member"]] = emitted[["period_start", "member"]]
    long = wide.melt(id_vars=["period_start", "member"], var_name="factor", value_name="value")
    position = {name: i for i, name in enumerate(funnel.factors, start=1)}
    return long.assign(position=long["factor"].map(position).astype("int64"))


OUTPUT_COLUMNS = ["funnel", "grain", "period_start", "dimension", "member", "factor", "position"]


def _empty_output() -> pd.DataFrame:
    """An empty ``funnel_factors`` frame with the output columns."""
    return pd.DataFrame(
        {
            **{c: pd.Series([], dtype=object) for c in OUTPUT_COLUMNS},
            "position": pd.Series([], dtype="int64"),
            "value": pd.Series([], dtype="float64"),
        }
    )


def funnel_factors(
    loaded: LoadedLanding, *, reporting_timezone: str = "Europe/Oslo"
) -> pd.DataFrame:
    """The ``funnel_factors`` table of docs/published-tables.md, computed from loaded landing data.

    ``period_start`` holds ``datetime.date`` objects; ``value`` is NaN where the table has NULL.
    """
    tables = loaded.tables
    reps = tables["reps"]
    team_of = pd.Series(reps["team"].to_numpy(dtype=object), index=reps["rep_id"].to_numpy())
    parts = [_empty_output()]
    for funnel in FUNNELS:
        events = funnel.events(tables)
        local = (
            events["ts"]
            .dt.tz_convert(reporting_timezone)
            .dt.tz_localize(None)
            .to_numpy(dtype="datetime64[us]")
        )
        members = {d: _members(events, d, team_of) for d in funnel.dimensions}
        for grain in GRAINS:
            periods = period_starts(local, grain)
            for dimension in funnel.dimensions:
                stages = _stage_table(events, periods, members[dimension], funnel)
                rows = _factor_rows(stages, funnel)
                parts.append(rows.assign(funnel=funnel.name, grain=grain, dimension=dimension))
    out = pd.concat(parts, ignore_index=True)
    return _ordered_output(out)


def _ordered_output(out: pd.DataFrame) -> pd.DataFrame:
    """Sort rows deterministically and give the columns their published types."""
    funnel_rank = {f.name: i for i, f in enumerate(FUNNELS)}
    grain_rank = {g: i for i, g in enumerate(GRAINS)}
    dim_rank = {d: i for i, d in enumerate(DIMENSIONS)}
    out = out.assign(
        _f=out["funnel"].map(funnel_rank),
        _g=out["grain"].map(grain_rank),
        _d=out["dimension"].map(dim_rank),
        period_start=pd.to_datetime(out["period_start"]),
        member=out["member"].astype(str),
    )
    out = out.sort_values(["_f", "_g", "period_start", "_d", "member", "position"], kind="stable")
    out = out.assign(
        period_start=out["period_start"].dt.date.astype(object),
        position=out["position"].astype("int64"),
        value=out["value"].astype("float64"),
    )
    return out[[*OUTPUT_COLUMNS, "value"]].reset_index(drop=True)


def compute(landing: Path, reporting_timezone: str = "Europe/Oslo") -> pd.DataFrame:
    """Load a landing folder and compute its ``funnel_factors`` (both steps)."""
    loaded = load_landing(Path(landing), reporting_timezone=reporting_timezone)
    return funnel_factors(loaded, reporting_timezone=reporting_timezone)


# --------------------------------------------------------------------------------------------------
# Command line (benchmark peer)
# --------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tests.reference.pandas_funnels LANDING_DIR OUT.parquet``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("landing", type=Path, help="landing folder")
    parser.add_argument("out", type=Path, help="output Parquet file for funnel_factors")
    parser.add_argument("--timezone", default="Europe/Oslo", help="reporting time zone")
    parser.add_argument("--rejects", type=Path, help="also write the rejects to this Parquet file")
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = load_landing(args.landing, reporting_timezone=args.timezone)
    factors = funnel_factors(loaded, reporting_timezone=args.timezone)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    factors.to_parquet(args.out, index=False)
    if args.rejects is not None:
        loaded.rejects.to_parquet(args.rejects, index=False)
    print(
        f"{len(factors)} factor rows, {len(loaded.rejects)} rejects -> {args.out}", file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
