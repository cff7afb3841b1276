"""Load one entity's landing files into `raw.<entity>`, with bad rows kept in `raw.rejects`.

Steps, all in DuckDB: read every file into a text table (`readers`), check it against the contract
(`checks`), keep the rows that break it in `raw.rejects` with file, row and reason, settle records
delivered more than once, and replace `raw.<entity>` in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines.db import lit, q, scalar
from pipelines.ingest.checks import checked_rows_sql
from pipelines.ingest.contract import ENTITIES, LANDING_SUFFIXES, Entity
from pipelines.ingest.readers import create_text_table, read_into_text_table
from pipelines.killpoints import kill_point

RAW_SCHEMA = "raw"
REJECTS_TABLE = f"{RAW_SCHEMA}.rejects"
SUPERSEDED = "superseded by a later delivery with different content"


@dataclass(frozen=True)
class LoadReport:
    entity: str
    files: tuple[str, ...]
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    duplicates: int
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def as_metadata(self) -> dict[str, int | str]:
        return {
            "files": len(self.files),
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_rejected": self.rows_rejected,
            "duplicates": self.duplicates,
        }


def landing_files(landing: Path, entity: str) -> list[tuple[str, Path]]:
    """(relative path, absolute path) of an entity's files, in delivery order."""
    folder = landing / entity
    if not folder.is_dir():
        return []
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix in LANDING_SUFFIXES]
    return sorted((p.relative_to(landing).as_posix(), p) for p in files)


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {REJECTS_TABLE} (
            entity VARCHAR NOT NULL, source_file VARCHAR NOT NULL, source_row BIGINT,
            reason VARCHAR NOT NULL, raw_record VARCHAR)"""
    )


def raw_table_ddl(entity: Entity) -> str:
    cols = ", ".join(f"{q(c.name)} {c.kind.sql_type}" for c in entity.columns)
    return f"{cols}, _source_file VARCHAR, _source_row BIGINT"


def load_entity(
    con: duckdb.DuckDBPyConnection,
    entity_name: str,
    landing: Path,
    *,
    timezone: str = "Europe/Oslo",
) -> LoadReport:
    """Replace `raw.<entity>` and the entity's rejects with what the landing files hold now."""
    entity = ENTITIES[entity_name]
    files = landing_files(landing, entity_name)
    warnings: list[str] = []
    if not files:
        warnings.append(
            f"no files for {entity_name} under {landing / entity_name}: loaded as empty"
        )
    create_text_table(con, entity)
    rows_read = 0
    for index, (relative, path) in enumerate(files):
        n = read_into_text_table(con, entity, path, relative, index)
        if n == 0:
            warnings.append(f"{relative}: no rows")
        rows_read += n
    con.execute(f"CREATE OR REPLACE TEMP TABLE _checked AS {checked_rows_sql(entity, timezone)}")
    kept = _settle_deliveries(con, entity)
    kill_point("ingest:read")
    ensure_raw_schema(con)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM {REJECTS_TABLE} WHERE entity = ?", [entity_name])
        con.execute(
            f"""INSERT INTO {REJECTS_TABLE}
            SELECT {lit(entity_name)}, _source_file, _source_row, _reasons, _raw_record
            FROM _checked WHERE _reasons <> ''
            UNION ALL
            SELECT {lit(entity_name)}, _source_file, _source_row, {lit(SUPERSEDED)}, _raw_record
            FROM _superseded
            ORDER BY 2, 3"""
        )
        columns = ", ".join(q(c) for c in entity.column_names)
        con.execute(
            f"CREATE OR REPLACE TABLE {RAW_SCHEMA}.{q(entity_name)} ({raw_table_ddl(entity)})"
        )
        con.execute(
            f"""INSERT INTO {RAW_SCHEMA}.{q(entity_name)}
            SELECT {columns}, _source_file, _source_row FROM {kept}
            ORDER BY _file_index, _source_row"""
        )
        kill_point("ingest:in-transaction")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    loaded = scalar(con, f"SELECT count(*) FROM {RAW_SCHEMA}.{q(entity_name)}")
    rejected = scalar(con, f"SELECT count(*) FROM {REJECTS_TABLE} WHERE entity = ?", [entity_name])
    kill_point("ingest:committed")
    return LoadReport(
        entity=entity_name,
        files=tuple(r for r, _ in files),
        rows_read=rows_read,
        rows_loaded=loaded,
        rows_rejected=rejected,
        duplicates=rows_read - loaded - rejected,
        warnings=tuple(warnings),
    )


def _settle_deliveries(con: duckdb.DuckDBPyConnection, entity: Entity) -> str:
    """Decide which valid row wins for each id; return the name of the table of winners.

    Also fills `_superseded` with corrected earlier versions (non-snapshot entities only).
    """
    key = q(entity.id_column)
    order = "_file_index DESC, _source_row DESC"
    if entity.version_column:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _kept AS
            SELECT * FROM _checked WHERE _reasons = ''
            QUALIFY row_number() OVER (PARTITION BY {key}
                ORDER BY {q(entity.version_column)} DESC, {order}) = 1"""
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _superseded AS SELECT * FROM _checked WHERE false"
        )
        return "_kept"
    content = ", ".join(q(c) for c in entity.column_names)
    # One row per distinct content (its latest delivery), then the latest content per id.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _versions AS
        SELECT * FROM _checked WHERE _reasons = ''
        QUALIFY row_number() OVER (PARTITION BY {content}
            ORDER BY _file_index DESC, _source_row DESC) = 1"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ranked AS
        SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY {order}) AS _rank
        FROM _versions"""
    )
    con.execute("CREATE OR REPLACE TEMP TABLE _kept AS SELECT * FROM _ranked WHERE _rank = 1")
    con.execute("CREATE OR REPLACE TEMP TABLE _superseded AS SELECT * FROM _ranked WHERE _rank > 1")
    return "_kept"


def load_all(
    con: duckdb.DuckDBPyConnection, landing: Path, *, timezone: str = "Europe/Oslo"
) -> dict[str, LoadReport]:
    return {name: load_entity(con, name, landing, timezone=timezone) for name in ENTITIES}
