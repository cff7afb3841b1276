"""Small DuckDB helpers shared by the whole package."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb


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
