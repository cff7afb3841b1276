"""Load one entity's landing files into `raw.<entity>`, with bad rows kept in `raw.rejects`.

Steps, all in DuckDB: read the new or changed files into a text table (`readers`), check them against
the contract (`checks`), keep every checked row in `raw."<entity>__delivered"`, settle records
delivered more than once (the winner of each id is flagged `_winner`), and update the delivered
rows, `raw.rejects` and the file manifest `raw.landing_files` in one transaction. `raw.<entity>` is
a view of the delivered rows that won: the rows are written once, not once more as a copy.

The manifest makes a daily load cost what the new files cost: a file whose size and modification
time match the manifest is not opened; one whose content hash matches is not read again. The
delivered table holds every checked row of the files read earlier, so settling the ids a new file
touches needs no re-reading; only those ids are settled again. The result is always what a load from
scratch of the same landing folder gives (`full=True`, or `kpi run --full-reload`).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines.db import lit, q, relation_type, scalar, table_exists
from pipelines.ingest.checks import checked_rows_sql, raw_records_sql
from pipelines.ingest.contract import ENTITIES, LANDING_SUFFIXES, Entity, Kind
from pipelines.ingest.readers import create_text_table, read_into_text_table
from pipelines.killpoints import kill_point

RAW_SCHEMA = "raw"
REJECTS_TABLE = f"{RAW_SCHEMA}.rejects"
MANIFEST_TABLE = f"{RAW_SCHEMA}.landing_files"
SUPERSEDED = "superseded by a later delivery with different content"
# `KPI_FULL_RELOAD=1` in the environment makes the raw assets reload every file (`kpi run --full-reload`).
FULL_RELOAD_ENV = "KPI_FULL_RELOAD"
HASH_BLOCK = 1 << 20
# A file modified this close to the moment it was hashed is hashed again next time: a second write in
# the same clock tick keeps its size and modification time (git's "racily clean" files).
RACY_NS = 2_000_000_000
# A row's place among all delivered rows: its file's place, then its row number in the file.
POSITION_BITS = 40


@dataclass(frozen=True)
class LoadReport:
    entity: str
    files: tuple[str, ...]
    rows_read: int  # rows read this time (new and changed files only)
    rows_loaded: int  # rows in raw.<entity> now
    rows_rejected: int  # rows of this entity in raw.rejects now
    duplicates: int  # valid rows delivered again with the same content (all current files)
    warnings: tuple[str, ...] = field(default_factory=tuple)
    files_read: int = 0  # new or changed files, read and checked this time
    files_unchanged: int = 0  # files already in the manifest with the same content
    files_removed: int = 0  # files in the manifest no longer in the landing folder
    files_hashed: int = 0  # files whose content hash was computed (size or mtime moved, or new)
    rows_delivered: int | None = None  # rows of every current file (read now or earlier)
    days_touched: tuple[str, ...] = ()  # reporting days of the valid rows read this time

    @property
    def rows_total(self) -> int:
        """Rows of every current landing file, whether read this time or earlier."""
        return self.rows_read if self.rows_delivered is None else self.rows_delivered

    def as_metadata(self) -> dict[str, int | str]:
        return {
            "files": len(self.files),
            "files_read": self.files_read,
            "files_unchanged": self.files_unchanged,
            "files_removed": self.files_removed,
            "rows_read": self.rows_read,
            "rows_delivered": self.rows_total,
            "rows_loaded": self.rows_loaded,
            "rows_rejected": self.rows_rejected,
            "duplicates": self.duplicates,
            "partitions_touched": _day_span(self.days_touched),
        }


@dataclass(frozen=True)
class FileState:
    size: int
    mtime_ns: int
    sha256: str
    hashed_ns: int


def landing_files(landing: Path, entity: str) -> list[tuple[str, Path]]:
    """(relative path, absolute path) of an entity's files, in delivery order."""
    folder = landing / entity
    if not folder.is_dir():
        return []
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix in LANDING_SUFFIXES]
    return sorted((p.relative_to(landing).as_posix(), p) for p in files)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def full_reload_requested() -> bool:
    return os.environ.get(FULL_RELOAD_ENV, "").strip().lower() in ("1", "true", "yes")


def delivered_table(entity_name: str) -> str:
    """Every checked row of the entity's current files: typed values, lineage and reasons."""
    return f"{RAW_SCHEMA}.{q(entity_name + '__delivered')}"


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {REJECTS_TABLE} (
            entity VARCHAR NOT NULL, source_file VARCHAR NOT NULL, source_row BIGINT,
            reason VARCHAR NOT NULL, raw_record VARCHAR)"""
    )
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {MANIFEST_TABLE} (
            entity VARCHAR NOT NULL, source_file VARCHAR NOT NULL, size_bytes BIGINT,
            modified_ns BIGINT, sha256 VARCHAR, rows_read BIGINT, loaded_at TIMESTAMPTZ,
            hashed_ns BIGINT, contract_sha256 VARCHAR)"""
    )


def raw_table_ddl(entity: Entity) -> str:
    cols = ", ".join(f"{q(c.name)} {c.kind.sql_type}" for c in entity.columns)
    return f"{cols}, _source_file VARCHAR, _source_row BIGINT"


def delivered_table_ddl(entity: Entity) -> str:
    return f"{raw_table_ddl(entity)}, _reasons VARCHAR, _raw_record VARCHAR, _winner BOOLEAN"


def _create_raw_view(con: duckdb.DuckDBPyConnection, entity: Entity) -> None:
    """`raw.<entity>`: the delivered rows that won, with the contract's columns and their lineage
    (a table of that name, from before the view, is dropped)."""
    raw = f"{RAW_SCHEMA}.{q(entity.name)}"
    if relation_type(con, RAW_SCHEMA, entity.name) == "BASE TABLE":
        con.execute(f"DROP TABLE {raw}")
    columns = ", ".join(q(c) for c in entity.column_names)
    con.execute(
        f"CREATE OR REPLACE VIEW {raw} AS SELECT {columns}, _source_file, _source_row "
        f"FROM {delivered_table(entity.name)} WHERE _winner"
    )


def load_entity(
    con: duckdb.DuckDBPyConnection,
    entity_name: str,
    landing: Path,
    *,
    timezone: str = "Europe/Oslo",
    full: bool = False,
) -> LoadReport:
    """Bring `raw.<entity>` and the entity's rejects to what the landing files hold now.

    Only files that are new or changed since the last load are read; `full=True` reads them all.
    """
    entity = ENTITIES[entity_name]
    files = landing_files(landing, entity_name)
    check_sql = checked_rows_sql(entity, timezone)
    contract = hashlib.sha256(check_sql.encode()).hexdigest()
    previous = None if full else _previous_state(con, entity, contract)
    full = previous is None
    previous = previous or {}
    warnings: list[str] = []
    if not files:
        warnings.append(
            f"no files for {entity_name} under {landing / entity_name}: loaded as empty"
        )

    # Which files moved: size and mtime first, the content hash only when they differ.
    states: dict[str, FileState] = {}
    to_read: list[tuple[int, str, Path]] = []
    touched: list[str] = []  # same content, new size/mtime or hashed again: manifest updated only
    hashed = 0
    for index, (relative, path) in enumerate(files):
        stat = path.stat()
        before = previous.get(relative)
        if (
            before is not None
            and (before.size, before.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
            and before.hashed_ns - stat.st_mtime_ns > RACY_NS
        ):
            states[relative] = before
            continue
        hashed_ns = time.time_ns()
        digest = sha256_of(path)
        hashed += 1
        states[relative] = FileState(stat.st_size, stat.st_mtime_ns, digest, hashed_ns)
        if before is not None and before.sha256 == digest:
            touched.append(relative)
        else:
            to_read.append((index, relative, path))
    removed = sorted(set(previous) - set(states))
    if not full:
        # A row rejected as "in the future" may be valid by now: check its file again.
        waiting = _future_rejects_now_due(con, entity) - {r for _, r, _ in to_read} - set(removed)
        position = {relative: i for i, (relative, _) in enumerate(files)}
        to_read += [(position[r], r, path) for r, path in files if r in waiting]
        touched = [t for t in touched if t not in waiting]
        to_read.sort()

    create_text_table(con, entity)
    rows_read = 0
    rows_by_file: dict[str, int] = {}
    for index, relative, path in to_read:
        n = read_into_text_table(con, entity, path, relative, index)
        if n == 0:
            warnings.append(f"{relative}: no rows")
        rows_by_file[relative] = n
        rows_read += n
    con.execute(f"CREATE OR REPLACE TEMP TABLE _checked AS {check_sql}")
    read_names = [r for _, r, _ in to_read]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _files AS SELECT unnest(?::VARCHAR[]) AS source_file, "
        "unnest(?::BIGINT[]) AS file_index",
        [[r for r, _ in files], list(range(len(files)))],
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _gone AS SELECT unnest(?::VARCHAR[]) AS source_file",
        [read_names + removed],
    )
    days_touched = _days_touched(con, entity, timezone)
    kill_point("ingest:read")
    con.execute("BEGIN TRANSACTION")
    try:
        if full or read_names or removed:  # else nothing to settle: leave the tables alone
            _apply(con, entity, {r: (i, p) for i, (r, p) in enumerate(files)}, full=full)
        else:
            ensure_raw_schema(con)
        _update_manifest(
            con, entity_name, contract, states, read_names, touched, removed, rows_by_file
        )
        kill_point("ingest:in-transaction")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    table = f"{RAW_SCHEMA}.{q(entity_name)}"
    loaded = scalar(con, f"SELECT count(*) FROM {table}")
    rejected, superseded = con.execute(
        f"SELECT count(*), count(*) FILTER (reason = {lit(SUPERSEDED)}) FROM {REJECTS_TABLE} "
        "WHERE entity = ?",
        [entity_name],
    ).fetchone()
    delivered, valid = con.execute(
        f"SELECT count(*), count(*) FILTER (_reasons = '') FROM {delivered_table(entity_name)}"
    ).fetchone()
    kill_point("ingest:committed")
    return LoadReport(
        entity=entity_name,
        files=tuple(r for r, _ in files),
        rows_read=rows_read,
        rows_loaded=loaded,
        rows_rejected=rejected,
        duplicates=valid - loaded - superseded,
        warnings=tuple(warnings),
        files_read=len(to_read),
        files_unchanged=len(files) - len(to_read),
        files_removed=len(removed),
        files_hashed=hashed,
        rows_delivered=delivered,
        days_touched=days_touched,
    )


def _days_touched(con: duckdb.DuckDBPyConnection, entity: Entity, timezone: str) -> tuple[str, ...]:
    """Reporting days (in `timezone`) of the valid rows just read: the day partitions they touch."""
    if not entity.event_time:
        return ()
    rows = con.execute(
        f"""SELECT DISTINCT CAST(timezone(?, {q(entity.event_time)}) AS DATE) AS day
        FROM _checked WHERE _reasons = '' AND {q(entity.event_time)} IS NOT NULL ORDER BY day""",
        [timezone],
    ).fetchall()
    return tuple(str(day) for (day,) in rows)


def _day_span(days: tuple[str, ...]) -> str:
    if not days:
        return "none"
    if len(days) == 1:
        return days[0]
    return f"{len(days)} days, {days[0]} … {days[-1]}"


def _previous_state(
    con: duckdb.DuckDBPyConnection, entity: Entity, contract: str
) -> dict[str, FileState] | None:
    """The manifest's files of the entity, or None when it must be loaded from scratch (first
    load, or its delivered rows were checked by another contract or in another time zone)."""
    needed = ("landing_files", f"{entity.name}__delivered")
    if not all(table_exists(con, RAW_SCHEMA, t) for t in needed):
        return None
    flagged = scalar(  # delivered rows of an older loader carry no winner flag: load again
        con,
        "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = ? AND column_name = '_winner'",
        [RAW_SCHEMA, f"{entity.name}__delivered"],
    )
    if not flagged:
        return None
    rows = con.execute(
        f"SELECT source_file, size_bytes, modified_ns, sha256, hashed_ns, contract_sha256 "
        f"FROM {MANIFEST_TABLE} WHERE entity = ?",
        [entity.name],
    ).fetchall()
    if any(row[5] != contract for row in rows):
        return None
    return {row[0]: FileState(row[1], row[2], row[3], row[4]) for row in rows}


def _future_rejects_now_due(con: duckdb.DuckDBPyConnection, entity: Entity) -> set[str]:
    """Files with a row rejected for a timestamp in the future that is no longer in the future."""
    due = [
        f"(contains(_reasons, {lit(c.name + ': ')}) AND {q(c.name)} <= now() + INTERVAL 1 DAY)"
        for c in entity.columns
        if c.kind is Kind.TIMESTAMP
    ]
    if not due:
        return set()
    rows = con.execute(
        f"SELECT DISTINCT _source_file FROM {delivered_table(entity.name)} "
        f"WHERE contains(_reasons, ' is in the future') AND ({' OR '.join(due)})"
    ).fetchall()
    return {r[0] for r in rows}


def _apply(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    files: dict[str, tuple[int, Path]],
    *,
    full: bool,
) -> None:
    """Inside the transaction: swap the delivered rows of the files read or removed, settle again
    only the ids those rows carry, and move their winner flags and rejects.

    A full load settles every valid row just checked: the tables were emptied, so nothing needs
    deleting and no id needs looking up. `files` maps each current file to its place and path."""
    name = entity.name
    delivered = delivered_table(name)
    key = q(entity.id_column)
    ensure_raw_schema(con)
    create = "CREATE OR REPLACE TABLE" if full else "CREATE TABLE IF NOT EXISTS"
    con.execute(f"{create} {delivered} ({delivered_table_ddl(entity)})")
    _create_raw_view(con, entity)
    if full:
        con.execute(f"DELETE FROM {REJECTS_TABLE} WHERE entity = ?", [name])
        con.execute(f"DELETE FROM {MANIFEST_TABLE} WHERE entity = ?", [name])
    # The records of rows superseded earlier, in files not read again: settled again, they keep
    # them without their files being read.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _records_before AS
        SELECT source_file AS _source_file, source_row AS _source_row, raw_record AS _raw_record
        FROM {REJECTS_TABLE}
        WHERE entity = ? AND reason = {lit(SUPERSEDED)}
            AND source_file NOT IN (SELECT source_file FROM _gone)""",
        [name],
    )
    delivered_columns = [*map(q, entity.column_names), "_source_file", "_source_row", "_reasons",
                         "_raw_record"]  # fmt: skip
    if full:
        # `_checked` numbers its files exactly as `_files` does (both enumerate the current files).
        # Settled first, so each row is written once, with its winner flag.
        winners = _settle_deliveries(con, entity, "(SELECT * FROM _checked WHERE _reasons = '')")
        if entity.version_column:
            join = (
                f"LEFT JOIN (SELECT _source_file, _source_row FROM {winners}) w "
                "ON c._source_file = w._source_file AND c._source_row = w._source_row"
            )
            flag = "w._source_row IS NOT NULL"
        else:
            # The latest delivery of its id. A valid row whose id was delivered once wins without
            # looking anything up: the join is with the few ids delivered more than once, not with
            # every id (at SF 1 the join with all 5 M visit ids was half of writing the rows).
            join = (
                f"LEFT JOIN (SELECT _id, _position FROM _latest WHERE _deliveries > 1) l "
                f"ON c.{key} = l._id"
            )
            flag = (
                f"coalesce(c._reasons = '' AND (l._id IS NULL OR {_position('c.')} = l._position), "
                "false)"
            )
        con.execute(
            f"""INSERT INTO {delivered}
            SELECT {", ".join("c." + x for x in delivered_columns)}, {flag}
            FROM _checked c {join}"""
        )
    else:
        # Only valid rows take part in settling: the ids of valid rows leaving or arriving.
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _affected AS
            SELECT DISTINCT {key} AS _id FROM {delivered}
            WHERE _reasons = '' AND _source_file IN (SELECT source_file FROM _gone)
            UNION SELECT DISTINCT {key} FROM _checked WHERE _reasons = ''"""
        )
        # Contract rejects belong to their file; superseded rejects to their id.
        con.execute(
            f"""DELETE FROM {REJECTS_TABLE} WHERE entity = ? AND (
                (reason <> {lit(SUPERSEDED)} AND source_file IN (SELECT source_file FROM _gone))
                OR (reason = {lit(SUPERSEDED)} AND (source_file, source_row) IN (
                    SELECT _source_file, _source_row FROM {delivered}
                    WHERE {key} IN (SELECT _id FROM _affected))))""",
            [name],
        )
        con.execute(
            f"DELETE FROM {delivered} WHERE _source_file IN (SELECT source_file FROM _gone)"
        )
        con.execute(
            f"INSERT INTO {delivered} SELECT {', '.join(delivered_columns)}, false FROM _checked"
        )
        # Every delivered row of the affected ids, ordered by its file's place among the current
        # files exactly as a load from scratch numbers them.
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _candidates AS
            SELECT d.* EXCLUDE (_winner), f.file_index AS _file_index
            FROM {delivered} d JOIN _files f ON d._source_file = f.source_file
            WHERE d._reasons = '' AND d.{key} IN (SELECT _id FROM _affected)"""
        )
        winners = _settle_deliveries(con, entity, "_candidates")
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _winner_rows AS "
            f"SELECT _source_file, _source_row FROM {winners}"
        )
        con.execute(
            f"UPDATE {delivered} SET _winner = false "
            f"WHERE _winner AND {key} IN (SELECT _id FROM _affected)"
        )
        con.execute(
            f"""UPDATE {delivered} SET _winner = true FROM _winner_rows w
            WHERE {delivered}._source_file = w._source_file
                AND {delivered}._source_row = w._source_row"""
        )
    _superseded_records(con, entity, files)
    con.execute(
        f"""INSERT INTO {REJECTS_TABLE}
        SELECT {lit(name)}, _source_file, _source_row, _reasons, _raw_record
        FROM _checked WHERE _reasons <> ''
        UNION ALL
        SELECT {lit(name)}, _source_file, _source_row, {lit(SUPERSEDED)}, _raw_record
        FROM _superseded_records
        ORDER BY 2, 3"""
    )


def _superseded_records(
    con: duckdb.DuckDBPyConnection, entity: Entity, files: dict[str, tuple[int, Path]]
) -> None:
    """`_superseded_records`: each superseded row with its record as delivered.

    Valid rows are delivered without their record (`checks.checked_rows_sql`). A superseded row's
    record comes from the text table when its file was read this time, else from its reject of an
    earlier load; a file with a row that was the winner until now is read again for it.
    """
    missing = con.execute(
        """SELECT DISTINCT _source_file FROM _superseded
        WHERE _source_file NOT IN (SELECT source_file FROM _gone)
            AND (_source_file, _source_row) NOT IN (
                SELECT _source_file, _source_row FROM _records_before)
        ORDER BY 1"""
    ).fetchall()
    for (relative,) in missing:
        index, path = files[relative]
        read_into_text_table(con, entity, path, relative, index, in_transaction=True)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _superseded_records AS
        SELECT s._source_file, s._source_row, coalesce(t._raw_record, b._raw_record) AS _raw_record
        FROM _superseded s
        LEFT JOIN ({raw_records_sql(entity, "_superseded")}) t
            ON s._source_file = t._source_file AND s._source_row = t._source_row
        LEFT JOIN _records_before b
            ON s._source_file = b._source_file AND s._source_row = b._source_row"""
    )


def _update_manifest(
    con: duckdb.DuckDBPyConnection,
    entity_name: str,
    contract: str,
    states: dict[str, FileState],
    read: list[str],
    touched: list[str],
    removed: list[str],
    rows_by_file: dict[str, int],
) -> None:
    changed = read + touched
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _states AS SELECT
            unnest(?::VARCHAR[]) AS source_file, unnest(?::BIGINT[]) AS size_bytes,
            unnest(?::BIGINT[]) AS modified_ns, unnest(?::VARCHAR[]) AS sha256,
            unnest(?::BIGINT[]) AS rows_read, unnest(?::BIGINT[]) AS hashed_ns,
            unnest(?::BOOLEAN[]) AS was_read""",
        [
            changed,
            [states[f].size for f in changed],
            [states[f].mtime_ns for f in changed],
            [states[f].sha256 for f in changed],
            [rows_by_file.get(f, 0) for f in changed],
            [states[f].hashed_ns for f in changed],
            [f in rows_by_file for f in changed],
        ],
    )
    con.execute(
        f"""DELETE FROM {MANIFEST_TABLE} WHERE entity = ? AND source_file IN (
            SELECT unnest(?::VARCHAR[]) UNION ALL SELECT source_file FROM _states WHERE was_read)""",
        [entity_name, removed],
    )
    con.execute(
        f"""INSERT INTO {MANIFEST_TABLE}
        SELECT {lit(entity_name)}, source_file, size_bytes, modified_ns, sha256, rows_read, now(),
            hashed_ns, {lit(contract)}
        FROM _states WHERE was_read"""
    )
    con.execute(
        f"""UPDATE {MANIFEST_TABLE} m SET size_bytes = s.size_bytes, modified_ns = s.modified_ns,
            hashed_ns = s.hashed_ns
        FROM _states s
        WHERE m.entity = {lit(entity_name)} AND m.source_file = s.source_file AND NOT s.was_read"""
    )


def _position(prefix: str = "") -> str:
    """A row's place among all delivered rows (its file's place, then its row): later wins."""
    return f"({prefix}_file_index::BIGINT << {POSITION_BITS}) + {prefix}_source_row"


def _settle_deliveries(con: duckdb.DuckDBPyConnection, entity: Entity, source: str) -> str:
    """Decide which valid row of `source` wins for each id; return a query of the winners.

    `source` (a table or a parenthesised query) has the checked valid rows and `_file_index`.
    Also fills `_superseded` with corrected earlier versions (non-snapshot entities only). Every
    rule is per id, so settling a subset of the ids gives the same winners as settling them all.
    """
    key = q(entity.id_column)
    order = "_file_index DESC, _source_row DESC"
    if entity.version_column:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _kept AS
            SELECT * FROM {source} WHERE _reasons = ''
            QUALIFY row_number() OVER (PARTITION BY {key}
                ORDER BY {q(entity.version_column)} DESC, {order}) = 1"""
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _superseded AS SELECT * FROM {source} WHERE false"
        )
        return "_kept"
    # The winner of an id is its latest delivery: the one at the latest place (file, then row).
    # Hash aggregates find it; windows run only over the few ids delivered more than once.
    position = _position()
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _latest AS
        SELECT {key} AS _id, count(*) AS _deliveries, max({position}) AS _position
        FROM {source} WHERE _reasons = '' GROUP BY {key}"""
    )
    content = ", ".join(q(c) for c in entity.column_names)
    # Of an id delivered more than once: one row per distinct content (its latest delivery);
    # every content but the latest is superseded.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _superseded AS
        WITH _versions AS (
            SELECT * FROM {source}
            WHERE _reasons = '' AND {key} IN (SELECT _id FROM _latest WHERE _deliveries > 1)
            QUALIFY row_number() OVER (PARTITION BY {content} ORDER BY {order}) = 1
        )
        SELECT * FROM _versions
        QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {order}) > 1"""
    )
    return (
        f"(SELECT s.* FROM {source} s SEMI JOIN _latest l "
        f"ON s.{key} = l._id AND {position} = l._position WHERE s._reasons = '')"
    )


def load_all(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    *,
    timezone: str = "Europe/Oslo",
    full: bool = False,
) -> dict[str, LoadReport]:
    return {
        name: load_entity(con, name, landing, timezone=timezone, full=full) for name in ENTITIES
    }
