"""Read one landing file into a text table, with the row number an editor would show.

Every format ends in the same shape, so one set of checks (`checks.py`) serves all of them:
a DuckDB table `landing_text` with one VARCHAR column per contract column, plus `_source_file`,
`_source_row` and `_parse_error` (a structural problem: unparsable CSV line, line that is not JSON).
All work happens inside DuckDB; no per-row Python.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb

from pipelines.db import first_row, lit, q, scalar
from pipelines.ingest.contract import Entity

TEXT_TABLE = "landing_text"


class LandingFileError(Exception):
    """A landing file that cannot be read at all, or lacks a required column."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def create_text_table(con: duckdb.DuckDBPyConnection, entity: Entity) -> None:
    """An empty text table: a view over one table per file read (`landing_text_<file index>`).

    Appending every file to one table cost more and more per file as the table grew (DuckDB 2.0:
    ~0.1 s per 100 k Parquet rows into a fresh table, seconds into a table already holding 1 M)."""
    for (table,) in _file_tables(con):
        con.execute(f"DROP TABLE temp.main.{q(table)}")
    _create_file_table(con, entity, f"{TEXT_TABLE}_empty")
    _refresh_view(con)


def _create_file_table(con: duckdb.DuckDBPyConnection, entity: Entity, table: str) -> None:
    cols = ", ".join(f"{q(c)} VARCHAR" for c in entity.column_names)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {q(table)} ({cols}, _source_file VARCHAR, "
        "_file_index INTEGER, _source_row BIGINT, _parse_error VARCHAR, _raw_line VARCHAR)"
    )


def _file_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str]]:
    return con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary AND schema_name = 'main' "
        f"AND starts_with(table_name, {lit(TEXT_TABLE + '_')}) ORDER BY table_name"
    ).fetchall()


def _refresh_view(con: duckdb.DuckDBPyConnection) -> None:
    union = " UNION ALL ".join(f"SELECT * FROM temp.main.{q(t)}" for (t,) in _file_tables(con))
    con.execute(f"CREATE OR REPLACE TEMP VIEW {TEXT_TABLE} AS {union}")


def read_into_text_table(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    path: Path,
    relative: str,
    file_index: int,
    *,
    in_transaction: bool = False,
) -> int:
    """Append one file's rows to the text table; returns the number of rows read.

    A plain CSV file (`plain_csv_commas`) is read by DuckDB's parallel CSV reader, any other by
    the exact line reader; both give the same rows. `in_transaction` keeps to the exact reader: a
    failed statement would abort the caller's transaction, and the fast path may fail over."""
    if path.stat().st_size == 0:
        return 0
    reader = {".csv": _read_csv, ".jsonl": _read_jsonl, ".parquet": _read_parquet}[path.suffix]
    if reader is _read_csv and not in_transaction:
        reader = _read_csv_fast_or_exact
    table = f"{TEXT_TABLE}_{file_index}"
    _create_file_table(con, entity, table)
    try:
        reader(con, entity, path, lit(relative), file_index, q(table))
    except LandingFileError:
        raise
    except duckdb.Error as exc:
        raise LandingFileError(path, f"cannot be read: {_first_line(exc)}") from exc
    finally:
        _refresh_view(con)
    return scalar(con, f"SELECT count(*) FROM {q(table)}")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _missing_required(entity: Entity, present: set[str], path: Path) -> None:
    missing = [c for c in entity.required_columns if c not in present]
    if missing:
        raise LandingFileError(
            path,
            f"lacks required column(s) {', '.join(missing)} (found: {', '.join(sorted(present))})",
        )


def _select_list(entity: Entity, present: set[str], expr) -> str:
    return ", ".join(
        f"{expr(c)} AS {q(c)}" if c in present else f"NULL::VARCHAR AS {q(c)}"
        for c in entity.column_names
    )


# --- Physical lines ----------------------------------------------------------------------------

# A BLOB cast to VARCHAR escapes every byte that is not printable ASCII as `\xHH` (a backslash
# too, as `\x5C`), so the escaped text can be split on `\x0A` without ever cutting a character,
# and each piece cast back to BLOB gives the exact bytes of one physical line.
_NEWLINE = r"\x0A"
_CR = r"\x0D"
_BOM = r"\xEF\xBB\xBF"
_QUOTE = r"\x22"  # the cast escapes quotes too: put them back in lines that stay escaped
_APOSTROPHE = r"\x27"


def _read_lines(con: duckdb.DuckDBPyConnection, path_sql: str) -> None:
    """`_lines(line, text, utf8)`: every physical line (split on LF only) with its 1-based number.

    A trailing CR is dropped (CRLF files), a UTF-8 byte-order mark at the start of the file is
    dropped, and a line that is not valid UTF-8 keeps its escaped text (`\xf8`, quotes as they are)
    with `utf8` false.
    DuckDB's CSV reader is not used for lines: it also splits on a lone CR and renumbers lines after
    one it could not decode.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _lines AS
        WITH f AS (
            SELECT string_split(content::VARCHAR, {lit(_NEWLINE)}) AS parts FROM read_blob({path_sql})
        ), l AS (
            SELECT unnest(parts) AS esc, unnest(range(1, len(parts) + 1)) AS line FROM f
        ), b AS (
            SELECT line, CASE WHEN line = 1 AND starts_with(esc, {lit(_BOM)})
                THEN substr(esc, {len(_BOM) + 1}) ELSE esc END AS esc
            FROM l
        ), c AS (
            SELECT line, CASE WHEN ends_with(esc, {lit(_CR)})
                THEN left(esc, length(esc) - {len(_CR)}) ELSE esc END AS esc
            FROM b
        ), d AS (
            SELECT line, esc, try(decode(esc::BLOB)) AS decoded FROM c
        )
        SELECT line, decoded IS NOT NULL AS utf8, coalesce(decoded,
            replace(replace(esc, {lit(_QUOTE)}, '"'), {lit(_APOSTROPHE)}, chr(39))) AS text
        FROM d
        """
    )


def _blank(expr: str) -> str:
    return f"trim({expr}, ' ' || chr(9)) = ''"


# --- CSV -------------------------------------------------------------------------------------

# The CSV grammar (RFC 4180 with the usual leniency): a field is quoted when its first character
# is `"`; inside it `""` is a quote and a newline is part of the value; a `"` anywhere else in an
# unquoted field is an ordinary character. Text after a closing quote breaks the record.
_QUOTED = r'"(?:[^"]|"")*"'
_OPEN = r'"(?:[^"]|"")*'  # a quoted field still open at the end of the line
_JUNK = r'(?:[^,"][^,]*)?'  # tolerated while finding record ends; the record is then rejected
_FIELD = rf"(?:{_QUOTED}{_JUNK}|[^,\"][^,]*|)"
# Does a line end inside a quoted field, when it starts at a field start / inside a quoted field?
_ENDS_OPEN_FROM_START = rf"(?:{_FIELD},)*{_OPEN}"
_ENDS_OPEN_FROM_INSIDE = rf"(?:[^\"]|\"\")*(?:\"{_JUNK},(?:{_FIELD},)*{_OPEN})?"
# A well-formed record, and how to take its fields apart.
_STRICT_FIELD = rf"(?:{_QUOTED}|[^,\"\n][^,\n]*|)"
_RECORD = rf"{_STRICT_FIELD}(?:,{_STRICT_FIELD})*"
_UNCLOSED = rf"(?:{_FIELD},)*{_OPEN}"
# Each match is a comma and the field after it (no capture group: RE2 finds those fast).
_FIELDS = rf",(?:{_QUOTED}|[^,]*)"
# After this many records that span lines and are broken, stop re-reading the file line by line.
MAX_RESYNCS = 25


def _csv_header(path: Path) -> list[str] | None:
    """The header cells, or None when the file holds nothing but whitespace."""
    with path.open("rb") as fh:
        first = fh.readline(1024 * 1024)
        if not first.strip():
            for block in iter(lambda: fh.read(1 << 20), b""):
                if block.strip():
                    raise LandingFileError(path, "has no header row (line 1 is blank)")
            return None
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LandingFileError(path, "header line is not valid UTF-8") from exc
    row = next(csv.reader(io.StringIO(text)), [])
    header = [h.strip() for h in row]
    if not any(header):
        raise LandingFileError(path, "has no header row")
    return header


def _checked_csv_header(entity: Entity, path: Path) -> list[str] | None:
    """The header cells (None for a file of whitespace), once they name each column once and hold
    every required column."""
    header = _csv_header(path)
    if header is None:
        return None
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise LandingFileError(path, f"repeats column(s) {', '.join(duplicates)} in its header")
    _missing_required(entity, set(header), path)
    return header


def _read_csv(con, entity: Entity, path: Path, relative: str, file_index: int, target: str) -> None:
    header = _checked_csv_header(entity, path)
    if header is not None:
        _read_csv_records(con, entity, path, header, relative, file_index, target)


def _read_csv_records(
    con, entity: Entity, path: Path, header: list[str], relative: str, file_index: int, target: str
) -> None:
    """The exact line reader: records found line by line, with a quote-state machine."""
    present = set(header) & set(entity.column_names)
    _read_lines(con, lit(str(path)))
    _csv_line_kinds(con)
    _csv_records(con, resets=set())
    resets: set[int] = set()
    for _ in range(MAX_RESYNCS):
        # A record that spans lines but is broken most likely started with a stray quote: that
        # line is rejected on its own and reading resumes on the next line.
        bad = scalar(
            con,
            f"SELECT min(first_line) FROM _records WHERE last_line > first_line "
            f"AND NOT (regexp_full_match(record, {lit(_RECORD)}) "
            f"AND len(regexp_extract_all(',' || record, {lit(_FIELDS)})) = {len(header)})",
        )
        if bad is None:
            break
        resets.add(bad + 1)
        _csv_records(con, resets)
    by_name = {h: i + 1 for i, h in enumerate(header)}
    select = _select_list(entity, present, lambda c: f"_unquote(fields[{by_name[c]}])")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _csv_records AS
        SELECT *, CASE WHEN NOT utf8 THEN NULL
            WHEN NOT contains(record, '"') THEN string_split(record, ',')
            WHEN regexp_full_match(record, {lit(_RECORD)}) THEN list_transform(
                regexp_extract_all(',' || record, {lit(_FIELDS)}), lambda f: f[2:]) END AS fields
        FROM _records
        """
    )
    con.execute(
        """CREATE OR REPLACE TEMP MACRO _unquote(f) AS CASE WHEN starts_with(f, '"')
        THEN replace(f[2:-2], '""', '"') ELSE f END"""
    )
    n = len(header)
    con.execute(
        f"""
        INSERT INTO {target}
        SELECT {select}, {relative}, {file_index}, first_line, NULL, NULL
        FROM _csv_records WHERE len(fields) = {n}
        """
    )
    span = (
        "CASE WHEN last_line > first_line THEN ' (lines ' || first_line || '-' || last_line || ')' "
        "ELSE '' END"
    )
    con.execute(
        f"""
        INSERT INTO {target} ({", ".join(q(c) for c in entity.column_names)},
            _source_file, _file_index, _source_row, _parse_error, _raw_line)
        SELECT {", ".join("NULL" for _ in entity.column_names)}, {relative}, {file_index},
            first_line,
            'unreadable CSV line: ' || CASE
                WHEN NOT utf8 THEN 'not valid UTF-8 text (another encoding, such as Latin-1?)'
                WHEN fields IS NULL AND regexp_full_match(record, {lit(_UNCLOSED)})
                    THEN 'a quoted field is never closed'
                WHEN fields IS NULL THEN 'text after the closing quote of a field'
                ELSE len(fields) || ' fields where the header has {n}' END || {span},
            left(record, 1000)
        FROM _csv_records WHERE fields IS NULL OR len(fields) <> {n}
        """
    )


PLAIN_SCAN_BLOCK = 16 << 20


def plain_csv_commas(path: Path) -> int | None:
    """The number of commas in the file when every line can be one record whose fields need no
    unquoting (no `"`, CR or NUL byte, no blank line, no byte-order mark), else None.

    One C-speed pass over the bytes, no per-line Python. DuckDB's CSV reader then gives the exact
    reader's rows, with line number = row number + 1, provided that every line has exactly as many
    fields as the header: it fails on fewer fields, on text that is not UTF-8 and on lines over its
    2 MB limit, but takes trailing empty fields beyond the header's silently, which the comma count
    catches (`_read_csv_fast_or_exact`).
    """
    commas, previous = 0, b"\n"
    with path.open("rb") as fh:
        for number, block in enumerate(iter(lambda: fh.read(PLAIN_SCAN_BLOCK), b"")):
            if number == 0 and block.startswith(b"\xef\xbb\xbf"):
                return None
            if any(needle in block for needle in (b'"', b"\r", b"\x00", b"\n\n")):
                return None
            if previous == b"\n" and block.startswith(b"\n"):  # a blank line across blocks
                return None
            commas += block.count(b",")
            previous = block[-1:]
    return commas


def _read_csv_fast_or_exact(
    con, entity: Entity, path: Path, relative: str, file_index: int, target: str
) -> None:
    """A plain CSV file through DuckDB's parallel reader; on any failure (or a file that is not
    plain) the exact line reader reads it instead, so its rejects and line numbers stay exact."""
    header = _checked_csv_header(entity, path)
    if header is None:
        return
    commas = plain_csv_commas(path)
    if commas is not None:
        present = set(header) & set(entity.column_names)
        position = {h: i for i, h in enumerate(header)}
        columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(header))) + "}"
        # An empty field is '' in the exact reader (NULL here); its record starts at line 2.
        select = _select_list(entity, present, lambda c: f"coalesce(c{position[c]}, '')")
        try:
            con.execute(
                f"""
                INSERT INTO {target}
                SELECT {select}, {relative}, {file_index}, ordinality + 1, NULL, NULL
                FROM read_csv({lit(str(path))}, header = false, skip = 1, auto_detect = false,
                    delim = ',', quote = '', escape = '', new_line = '\\n', columns = {columns})
                    WITH ORDINALITY
                """
            )
            rows = scalar(con, f"SELECT count(*) FROM {target}")
            if commas == (len(header) - 1) * (rows + 1):  # no line with extra (empty) fields
                return
        except duckdb.Error:
            pass
        con.execute(f"DELETE FROM {target}")
    _read_csv_records(con, entity, path, header, relative, file_index, target)


def _csv_line_kinds(con) -> None:
    """`_csv_lines`: each line after the header, with how it moves the "inside quotes" state.

    Each line maps the state at its start to the state at its end: `O` (always ends outside),
    `I` (always ends inside), `=` (keeps it; every line without a quote) or `~` (flips it).
    Composing these with window functions gives every line's state without a per-line loop.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _csv_lines AS
        SELECT line, text, utf8, {_blank("text")} AS blank,
            CASE WHEN NOT has_quote THEN '='
                 WHEN from_start AND from_inside THEN 'I'
                 WHEN NOT from_start AND NOT from_inside THEN 'O'
                 WHEN from_inside THEN '=' ELSE '~' END AS kind
        FROM (
            SELECT *, contains(text, '"') AS has_quote,
                CASE WHEN has_quote THEN regexp_full_match(text, {lit(_ENDS_OPEN_FROM_START)})
                    END AS from_start,
                CASE WHEN has_quote THEN regexp_full_match(text, {lit(_ENDS_OPEN_FROM_INSIDE)})
                    END AS from_inside
            FROM _lines WHERE line > 1
        )
        """
    )


def _csv_records(con, resets: set[int]) -> None:
    """`_records(first_line, last_line, record, utf8)`: the lines grouped into records.

    A line starts a record when it starts outside quotes and is not blank; lines that start inside
    quotes continue the record before them. `resets` are lines forced to start outside quotes.
    Only lines with a quote can change the state, so the windows run over those alone.
    """
    forced = ", ".join(str(r - 1) for r in sorted(resets)) or "NULL"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _state_changes AS
        WITH k AS (
            SELECT line, CASE WHEN line IN ({forced}) THEN 'O' ELSE kind END AS kind
            FROM _csv_lines WHERE kind <> '=' OR line IN ({forced})
        ), s AS (
            SELECT *, sum((kind = '~')::INTEGER) OVER (ORDER BY line) AS flips FROM k
        ), w AS (
            SELECT *,
                max(CASE WHEN kind IN ('O', 'I') THEN line * 2 + (kind = 'I')::INTEGER END)
                    OVER (ORDER BY line) AS last_fixed,
                max(CASE WHEN kind IN ('O', 'I') THEN flips END) OVER (ORDER BY line)
                    AS flips_at_fixed
            FROM s
        )
        SELECT line, (coalesce(last_fixed % 2, 0) + flips - coalesce(flips_at_fixed, 0)) % 2 = 1
            AS inside_after
        FROM w
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _line_starts AS
        SELECT l.line, l.text, l.utf8, l.blank, coalesce(c.inside_after, false) AS starts_inside
        FROM _csv_lines l ASOF LEFT JOIN _state_changes c ON l.line > c.line
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _records AS
        WITH starts AS (
            SELECT line, text, utf8 FROM _line_starts WHERE NOT starts_inside AND NOT blank
        ), continued AS (
            SELECT s.line AS first_line, c.line, c.text, c.utf8
            FROM _line_starts c ASOF JOIN starts s ON c.line > s.line
            WHERE c.starts_inside
        ), multi AS (
            SELECT first_line, max(line) AS last_line,
                string_agg(text, chr(10) ORDER BY line) AS record, bool_and(utf8) AS utf8
            FROM (
                SELECT line AS first_line, line, text, utf8 FROM starts
                WHERE line IN (SELECT first_line FROM continued)
                UNION ALL SELECT * FROM continued
            )
            GROUP BY first_line
        )
        SELECT line AS first_line, line AS last_line, text AS record, utf8 FROM starts
        WHERE line NOT IN (SELECT first_line FROM multi)
        UNION ALL SELECT * FROM multi
        """
    )


# --- JSON lines ------------------------------------------------------------------------------


def _read_jsonl(
    con, entity: Entity, path: Path, relative: str, file_index: int, target: str
) -> None:
    _read_lines(con, lit(str(path)))
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _json_lines AS
        SELECT line, utf8, trim(text, ' ' || chr(9)) AS line_text FROM _lines
        WHERE NOT {_blank("text")}
        """
    )
    # CASE keeps json_type away from lines that are not JSON at all.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _json_objects AS SELECT line, line_text::JSON AS line_text "
        "FROM (SELECT *, CASE WHEN utf8 AND json_valid(line_text) "
        "THEN json_type(line_text) = 'OBJECT' ELSE false END AS is_object FROM _json_lines) "
        "WHERE is_object"
    )
    n_objects = scalar(con, "SELECT count(*) FROM _json_objects")
    present_sql = ", ".join(
        f"bool_or(json_exists(line_text, {lit('$.' + _json_key(c))}))" for c in entity.column_names
    )
    present_row = first_row(con, f"SELECT {present_sql} FROM _json_objects")
    present = {c for c, p in zip(entity.column_names, present_row, strict=True) if p}
    if n_objects:
        _missing_required(entity, present, path)

    def extract(c: str) -> str:
        return f"json_extract_string(line_text, {lit('$.' + _json_key(c))})"

    con.execute(
        f"""
        INSERT INTO {target}
        SELECT {_select_list(entity, present, extract)}, {relative}, {file_index}, line, NULL, NULL
        FROM _json_objects
        """
    )
    con.execute(
        f"""
        INSERT INTO {target} ({", ".join(q(c) for c in entity.column_names)},
            _source_file, _file_index, _source_row, _parse_error, _raw_line)
        SELECT {", ".join("NULL" for _ in entity.column_names)}, {relative}, {file_index}, line,
            CASE WHEN NOT utf8 THEN 'JSON line is not valid UTF-8 text'
                 WHEN json_valid(line_text) THEN 'JSON line is not an object'
                 ELSE 'JSON line does not parse' END,
            left(line_text, 1000)
        FROM _json_lines WHERE line NOT IN (SELECT line FROM _json_objects)
        """
    )


def _json_key(column: str) -> str:
    return '"' + column + '"'


# --- Parquet ---------------------------------------------------------------------------------


def _read_parquet(
    con, entity: Entity, path: Path, relative: str, file_index: int, target: str
) -> None:
    path_sql = lit(str(path))
    schema = con.execute(f"DESCRIBE SELECT * FROM read_parquet({path_sql})").fetchall()
    present_all = {row[0] for row in schema}
    _missing_required(entity, present_all, path)
    present = present_all & set(entity.column_names)
    con.execute(
        f"""
        INSERT INTO {target}
        SELECT {_select_list(entity, present, lambda c: f"CAST({q(c)} AS VARCHAR)")},
            {relative}, {file_index}, file_row_number + 1, NULL, NULL
        FROM read_parquet({path_sql}, file_row_number=true)
        """
    )
