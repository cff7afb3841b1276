"""Small DuckDB helpers shared by the whole package."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

DEFAULT_MEMORY_LIMIT = "3GB"
SPILL_FOLDER = "duckdb_tmp"


def duckdb_config(warehouse: Path, memory_limit: str | None = None) -> dict[str, str]:
    """Settings of the pipeline's DuckDB connections to the build database (dbt's own are in
    kpi_models/profiles.yml): a memory cap (`KPI_DUCKDB_MEMORY_LIMIT`, or `memory_limit` for a
    step that must stay smaller) and a spill folder, `<warehouse>/duckdb_tmp`, so that a large
    query spills to disk instead of growing the process. The folder is created here: DuckDB makes
    its spill folder itself only for a read-write connection, and a read-only one without it
    cannot spill at all (at SF 10 the great-expectations measures failed with "Out of Memory")."""
    spill = warehouse / SPILL_FOLDER
    spill.mkdir(parents=True, exist_ok=True)
    return {
        "memory_limit": memory_limit
        or os.environ.get("KPI_DUCKDB_MEMORY_LIMIT")
        or DEFAULT_MEMORY_LIMIT,
        "temp_directory": str(spill),
    }


def q(identifier: str) -> str:
    """Quote an SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def lit(value: str) -> str:
    """Quote an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> Any:
    """The first value of the first row (fetches everything, so the connection is free again)."""
    rows = con.execute(sql, list(params)).fetchall()
    return rows[0][0] if rows else None


def first_row(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> tuple:
    rows = con.execute(sql, list(params)).fetchall()
    return rows[0] if rows else ()


def relation_type(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> str | None:
    """'BASE TABLE' or 'VIEW' for `schema.name` in the connection's current database, else None."""
    return scalar(
        con,
        "SELECT table_type FROM information_schema.tables WHERE table_catalog = "
        "current_database() AND table_schema = ? AND table_name = ?",
        [schema, name],
    )


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether `schema.table` (a table or a view) exists in the connection's current database."""
    return relation_type(con, schema, table) is not None
