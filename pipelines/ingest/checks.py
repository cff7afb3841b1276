"""Contract checks: turn the text table into typed values plus the reasons a row breaks the contract.

The whole check is one SQL statement generated from `contract.ENTITIES`, so it runs inside DuckDB at
any size. A row's `_reasons` is empty when it is valid.
"""

from __future__ import annotations

from pipelines.db import lit, q
from pipelines.ingest.contract import ROW_RULES, Column, Entity, Kind
from pipelines.ingest.readers import TEXT_TABLE

TIMESTAMP_RE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}(:?\d{2})?)?$"
OFFSET_AFTER_TIME_RE = r"[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}(:?\d{2})?)$"
DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
NUMBER_RE = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
CURRENCY_RE = r"^[A-Za-z]{3}$"
WHITESPACE_CODES = (32, 9, 10, 13)  # what surrounding whitespace is trimmed from a value
WHITESPACE = "(" + " || ".join(f"chr({c})" for c in WHITESPACE_CODES) + ")"
ID_BAD_RE = r'["\x00-\x1f\x7f]'
MAX_VALUE_CHARS = 10_000  # longer values are rejected: no contract column needs more
RAW_VALUE_CHARS = 1_000  # each value kept in `rejects.raw_record` is cut to this length


def _raw(c: str) -> str:
    """The trimmed text of a column (NULL when empty)."""
    return q("text__" + c)


def typed_expression(column: Column, timezone: str) -> str:
    """SQL giving the typed value (NULL when missing or unparsable)."""
    v = _raw(column.name)
    match column.kind:
        case Kind.ID | Kind.TEXT:
            return v
        case Kind.TIMESTAMP:
            # The shape is checked first; with an offset DuckDB parses it, without one the
            # wall-clock time is read in the reporting time zone.
            has_offset = f"regexp_matches({v}, {lit(OFFSET_AFTER_TIME_RE)})"
            return (
                f"CASE WHEN NOT regexp_full_match({v}, {lit(TIMESTAMP_RE)}) THEN NULL "
                f"WHEN {has_offset} THEN TRY_CAST(upper({v}) AS TIMESTAMPTZ) "
                f"ELSE timezone({lit(timezone)}, TRY_CAST({v} AS TIMESTAMP)) END"
            )
        case Kind.DATE:
            return (
                f"CASE WHEN regexp_full_match({v}, {lit(DATE_RE)}) THEN TRY_CAST({v} AS DATE) END"
            )
        case Kind.NUMBER:
            return (
                f"CASE WHEN regexp_full_match({v}, {lit(NUMBER_RE)}) "
                f"THEN TRY_CAST({v} AS DOUBLE) END"
            )
        case Kind.CHOICE:
            allowed = ", ".join(lit(c) for c in column.choices)
            return f"CASE WHEN lower({v}) IN ({allowed}) THEN lower({v}) END"
        case Kind.CURRENCY:
            return f"CASE WHEN regexp_full_match({v}, {lit(CURRENCY_RE)}) THEN upper({v}) END"
    raise AssertionError(column.kind)


def reason_expressions(column: Column, now_sql: str) -> list[str]:
    """SQL expressions each giving a reason text or NULL."""
    name = column.name
    v = _raw(name)
    typed = q(name)
    reasons = []
    if column.required:
        reasons.append(f"CASE WHEN {v} IS NULL THEN {lit(f'{name}: required value missing')} END")
    problem = {
        Kind.ID: None,
        Kind.TEXT: None,
        Kind.TIMESTAMP: "not an ISO-8601 timestamp",
        Kind.DATE: "not a YYYY-MM-DD date",
        Kind.NUMBER: "not a number",
        Kind.CHOICE: f"not one of {', '.join(column.choices)}",
        Kind.CURRENCY: "not a three-letter currency code",
    }[column.kind]
    if problem:
        reasons.append(
            f"CASE WHEN {v} IS NOT NULL AND {typed} IS NULL THEN "
            f"{lit(name + ': ')} || {_shown(v)} || {lit(' is ' + problem)} END"
        )
    reasons.append(
        f"CASE WHEN length({v}) > {MAX_VALUE_CHARS} THEN {lit(name + ': value of ')} "
        f"|| format('{{:,}}', length({v})) || {lit(f' characters is longer than {MAX_VALUE_CHARS:,}')} END"
    )
    if column.kind is Kind.ID:
        # A personal value (contact, visitor) is never repeated in a reason: reasons are published.
        shown = lit("the value") if column.personal else _shown(v)
        reasons.append(
            f"CASE WHEN regexp_matches({v}, {lit(ID_BAD_RE)}) THEN "
            f"{lit(name + ': ')} || {shown} || ' has a quote or control character' END"
        )
    if column.kind is Kind.NUMBER:
        reasons.append(
            f"CASE WHEN {typed} < 0 OR NOT isfinite({typed}) THEN "
            f"{lit(name + ': ')} || {_shown(v)} || ' is negative or not finite' END"
        )
    if column.kind is Kind.TIMESTAMP:
        reasons.append(
            f"CASE WHEN {typed} > {now_sql} + INTERVAL 1 DAY THEN "
            f"{lit(name + ': ')} || {_shown(v)} || ' is in the future' END"
        )
    return reasons


def _shown(v: str) -> str:
    """A value as it appears in a reason: quoted, cut to 60 characters."""
    return f"'''' || left({v}, 60) || CASE WHEN length({v}) > 60 THEN '…' ELSE '' END || ''''"


def _cleaned(v: str) -> str:
    """Surrounding whitespace removed, '' as NULL. The trim runs only when the first or last
    character can be whitespace (the first: any code up to 32, a cheap superset): a plain trim on
    every value cost ~0.5 µs each (benchmarks/).
    The last character is tested with `ends_with` (a byte comparison); `ascii(right(v, 1))`
    counted characters and doubled the cost of cleaning (web visits at SF 1: 2.3 → 1.2 s)."""
    ends = " OR ".join(f"ends_with({v}, chr({c}))" for c in WHITESPACE_CODES)
    return f"NULLIF(CASE WHEN ascii({v}) <= 32 OR {ends} THEN trim({v}, {WHITESPACE}) ELSE {v} END, '')"


def _cleaned_text(entity: Entity) -> str:
    """The SELECT list of the text table's columns with their values cleaned (`text__<column>`)."""
    return ", ".join(f"{_cleaned(q(c))} AS {_raw(c)}" for c in entity.column_names)


def _raw_record(entity: Entity) -> str:
    """A row's record as delivered, kept with its reject: the broken line itself, or its cleaned
    values (each cut to RAW_VALUE_CHARS) as JSON."""
    record = ", ".join(f"{q(c)} := left({_raw(c)}, {RAW_VALUE_CHARS})" for c in entity.column_names)
    return f"coalesce(_raw_line, to_json(struct_pack({record}))::VARCHAR)"


def checked_rows_sql(entity: Entity, timezone: str, now_sql: str = "now()") -> str:
    """SELECT giving typed columns, lineage columns and `_reasons` (empty string when valid).

    `_raw_record` is kept for rejected rows only: a valid row needs it only when a later delivery
    supersedes it, and `raw_records_sql` gives it then (building it for every row cost more than
    the rest of the check)."""
    typed = ", ".join(f"{typed_expression(c, timezone)} AS {q(c.name)}" for c in entity.columns)
    reasons = []
    for c in entity.columns:
        reasons += reason_expressions(c, now_sql)
    for condition, reason in ROW_RULES.get(entity.name, ()):
        reasons.append(f"CASE WHEN NOT coalesce(({condition}), true) THEN {lit(reason)} END")
    # A structurally broken line has no values to complain about: only its parse error counts.
    return f"""
        WITH _t AS (
            SELECT {_cleaned_text(entity)}, _source_file, _file_index, _source_row, _parse_error,
                _raw_line
            FROM {TEXT_TABLE}
        ), _v AS (
            SELECT *, {typed} FROM _t
        ), _r AS (
            SELECT *, CASE WHEN _parse_error IS NOT NULL THEN _parse_error
                 ELSE concat_ws('; ', {", ".join(reasons)}) END AS _reasons
            FROM _v
        )
        SELECT {", ".join(q(c) for c in entity.column_names)},
            _source_file, _file_index, _source_row, _reasons,
            CASE WHEN _reasons <> '' THEN {_raw_record(entity)} END AS _raw_record
        FROM _r
    """


def raw_records_sql(entity: Entity, rows: str) -> str:
    """SELECT giving `_source_file, _source_row, _raw_record` of the text table's rows that are in
    `rows` (a table with `_source_file, _source_row`): the record `checked_rows_sql` gives a
    rejected row."""
    return f"""
        SELECT _source_file, _source_row, {_raw_record(entity)} AS _raw_record
        FROM (
            SELECT {_cleaned_text(entity)}, _source_file, _source_row, _raw_line
            FROM {TEXT_TABLE} t SEMI JOIN {rows} r
                ON t._source_file = r._source_file AND t._source_row = r._source_row
        )
    """
