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
MAX_LINE_BYTES = 64 * 1024 * 1024


class LandingFileError(Exception):
    """A landing file that cannot be read at all, or lacks a required column."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def create_text_table(con: duckdb.DuckDBPyConnection, entity: Entity) -> None:
    cols = ", ".join(f"{q(c)} VARCHAR" for c in entity.column_names)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {TEXT_TABLE} ({cols}, _source_file VARCHAR, "
        "_file_index INTEGER, _source_row BIGINT, _parse_error VARCHAR, _raw_line VARCHAR)"
    )


def read_into_text_table(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    path: Path,
    relative: str,
    file_index: int,
) -> int:
    """Append one file's rows to the text table; returns the number of rows read."""
    if path.stat().st_size == 0:
        return 0
    reader = {".csv": _read_csv, ".jsonl": _read_jsonl, ".parquet": _read_parquet}[path.suffix]
    before = _count(con)
    try:
        reader(con, entity, path, lit(relative), file_index)
    except LandingFileError:
        raise
    except duckdb.Error as exc:
        raise LandingFileError(path, f"cannot be read: {_first_line(exc)}") from exc
    return _count(con) - before


def _count(con: duckdb.DuckDBPyConnection) -> int:
    return scalar(con, f"SELECT count(*) FROM {TEXT_TABLE}")


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


# --- CSV -------------------------------------------------------------------------------------


def _csv_header(path: Path) -> list[str]:
    with path.open("rb") as fh:
        first = fh.readline(1024 * 1024)
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LandingFileError(path, "header line is not valid UTF-8") from exc
    row = next(csv.reader(io.StringIO(text)), [])
    header = [h.strip() for h in row]
    if not any(header):
        raise LandingFileError(path, "has no header row")
    return header


def _read_csv(con, entity: Entity, path: Path, relative: str, file_index: int) -> None:
    header = _csv_header(path)
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise LandingFileError(path, f"repeats column(s) {', '.join(duplicates)} in its header")
    present = set(header) & set(entity.column_names)
    _missing_required(entity, set(header), path)
    # Read columns under positional names: header cells may be blank or odd.
    positional = {f"c{i}": "VARCHAR" for i in range(len(header))}
    by_name = {h: f"c{i}" for i, h in enumerate(header)}
    columns_sql = "{" + ", ".join(f"{lit(k)}: 'VARCHAR'" for k in positional) + "}"
    path_sql = lit(str(path))
    con.execute("DROP TABLE IF EXISTS _csv_rejects; DROP TABLE IF EXISTS _csv_scans")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _csv_rows AS
        SELECT * FROM read_csv({path_sql}, columns={columns_sql}, header=true, auto_detect=false,
            delim=',', quote='"', escape='"', max_line_size={MAX_LINE_BYTES},
            store_rejects=true, rejects_table='_csv_rejects', rejects_scan='_csv_scans')
            WITH ORDINALITY AS t
        """
    )

    _record_lines(con, path_sql)
    select = _select_list(entity, present, lambda c: q(by_name[c]))
    con.execute(
        f"""
        INSERT INTO {TEXT_TABLE}
        SELECT {select}, {relative}, {file_index}, l.line, NULL, NULL
        FROM _csv_rows r JOIN _good_lines l ON l.k = r.ordinality
        """
    )
    con.execute(
        f"""
        INSERT INTO {TEXT_TABLE} ({", ".join(q(c) for c in entity.column_names)},
            _source_file, _file_index, _source_row, _parse_error, _raw_line)
        SELECT {", ".join("NULL" for _ in entity.column_names)}, {relative}, {file_index}, line,
            'unreadable CSV line: ' || string_agg(DISTINCT error_type, ', ') || ' ('
                || any_value(error_message) || ')',
            left(any_value(csv_line), 1000)
        FROM _csv_rejects GROUP BY line
        """
    )


def _record_lines(con, path_sql: str) -> None:
    """Map the k-th record DuckDB emitted to its physical line number.

    A physical line starts a record when it is not blank and an even number of quote characters
    came before it (so it is not inside a quoted field). Lines DuckDB rejected are taken out, since
    `WITH ORDINALITY` counts only the records it emitted.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _good_lines AS
        WITH lines AS (
            SELECT ordinality AS line, coalesce(line_text, '') AS line_text
            FROM read_csv({path_sql}, columns={{'line_text': 'VARCHAR'}}, header=false,
                auto_detect=false, delim=chr(1), quote='', escape='', strict_mode=false,
                new_line='\\n', max_line_size={MAX_LINE_BYTES}, ignore_errors=true)
                WITH ORDINALITY
        ), parity AS (
            SELECT line, line_text,
                coalesce(sum(length(line_text) - length(replace(line_text, '"', '')))
                    OVER (ORDER BY line ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
                    AS quotes_before
            FROM lines
        ), starts AS (
            SELECT line FROM parity
            WHERE line > 1 AND quotes_before % 2 = 0 AND trim(line_text, ' ' || chr(9) || chr(13)) <> ''
              AND line NOT IN (SELECT line FROM _csv_rejects)
        )
        SELECT line, row_number() OVER (ORDER BY line) AS k FROM starts
        """
    )


# --- JSON lines ------------------------------------------------------------------------------


def _read_jsonl(con, entity: Entity, path: Path, relative: str, file_index: int) -> None:
    path_sql = lit(str(path))
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _json_lines AS
        SELECT ordinality AS line, trim(line_text, ' ' || chr(9) || chr(13)) AS line_text
        FROM read_csv({path_sql}, columns={{'line_text': 'VARCHAR'}}, header=false,
            auto_detect=false, delim=chr(1), quote='', escape='', strict_mode=false,
            new_line='\\n', max_line_size={MAX_LINE_BYTES}, ignore_errors=true) WITH ORDINALITY
        """
    )
    con.execute("DELETE FROM _json_lines WHERE line_text IS NULL OR line_text = ''")
    # CASE keeps json_type away from lines that are not JSON at all.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _json_objects AS SELECT line, line_text::JSON AS line_text "
        "FROM (SELECT *, CASE WHEN json_valid(line_text) THEN json_type(line_text) = 'OBJECT' "
        "ELSE false END AS is_object FROM _json_lines) WHERE is_object"
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
        INSERT INTO {TEXT_TABLE}
        SELECT {_select_list(entity, present, extract)}, {relative}, {file_index}, line, NULL, NULL
        FROM _json_objects
        """
    )
    con.execute(
        f"""
        INSERT INTO {TEXT_TABLE} ({", ".join(q(c) for c in entity.column_names)},
            _source_file, _file_index, _source_row, _parse_error, _raw_line)
        SELECT {", ".join("NULL" for _ in entity.column_names)}, {relative}, {file_index}, line,
            CASE WHEN json_valid(line_text) THEN 'JSON line is not an object'
                 ELSE 'JSON line does not parse' END,
            left(line_text, 1000)
        FROM _json_lines WHERE line NOT IN (SELECT line FROM _json_objects)
        """
    )


def _json_key(column: str) -> str:
    return '"' + column + '"'


# --- Parquet ---------------------------------------------------------------------------------


def _read_parquet(con, entity: Entity, path: Path, relative: str, file_index: int) -> None:
    path_sql = lit(str(path))
    schema = con.execute(f"DESCRIBE SELECT * FROM read_parquet({path_sql})").fetchall()
    present_all = {row[0] for row in schema}
    _missing_required(entity, present_all, path)
    present = present_all & set(entity.column_names)
    con.execute(
        f"""
        INSERT INTO {TEXT_TABLE}
        SELECT {_select_list(entity, present, lambda c: f"CAST({q(c)} AS VARCHAR)")},
            {relative}, {file_index}, file_row_number + 1, NULL, NULL
        FROM read_parquet({path_sql}, file_row_number=true)
        """
    )
