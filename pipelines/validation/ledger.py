"""Which KPI tables passed validation, with the content they had: validate each table once per build.

Every KPI table is validated by its blocking pandera check right after dbt, and the publish step
must not copy anything unvalidated, so before this ledger it validated every table a second time
(about 8 s at scale 1, almost all of it pandera's per-check overhead, not data). Instead, a passing
check records a fingerprint of the table it validated: its row count and the sum of a hash of every
row, one cheap scan. The publish step fingerprints every table again, in one query, and validates
only the tables whose content is not exactly the content that passed: a table rebuilt since, a
table no check has seen (publishing on its own), or a hand edit of the build database.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from pipelines.db import q, table_exists

SCHEMA = "kpis"
LEDGER = "kpi_validations"
LEDGER_TABLE = f"{SCHEMA}.{LEDGER}"


def fingerprints(con: duckdb.DuckDBPyConnection, tables: Iterable[str]) -> dict[str, str]:
    """`table → "rows:hash sum"` for KPI tables of the `kpis` schema, in one query.

    `hash(t)` hashes the whole row (column names, types and values), so a changed value, a changed
    type or an added column each give another fingerprint.
    """
    names = list(tables)
    if not names:
        return {}
    parts = [
        f"SELECT {i} AS i, count(*) AS n, coalesce(sum(hash(t)), 0) AS h FROM {SCHEMA}.{q(name)} t"
        for i, name in enumerate(names)
    ]
    rows = con.execute(" UNION ALL ".join(parts)).fetchall()
    return {names[i]: f"{n}:{h}" for i, n, h in rows}


def record_passed(con: duckdb.DuckDBPyConnection, table: str, fingerprint: str) -> None:
    """Remember that `table` with this content passed its validation (read-write connection)."""
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} (table_name VARCHAR PRIMARY KEY, "
        "fingerprint VARCHAR NOT NULL, validated_at TIMESTAMPTZ NOT NULL)"
    )
    con.execute(f"INSERT OR REPLACE INTO {LEDGER_TABLE} VALUES (?, ?, now())", [table, fingerprint])


def forget(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """`table` failed (or was not) validated: no earlier pass may vouch for it."""
    if table_exists(con, SCHEMA, LEDGER):
        con.execute(f"DELETE FROM {LEDGER_TABLE} WHERE table_name = ?", [table])


def already_validated(con: duckdb.DuckDBPyConnection, tables: Iterable[str]) -> set[str]:
    """The tables whose current content is exactly the content recorded as passing."""
    names = list(tables)
    if not names or not table_exists(con, SCHEMA, LEDGER):
        return set()
    recorded = dict(con.execute(f"SELECT table_name, fingerprint FROM {LEDGER_TABLE}").fetchall())
    current = fingerprints(
        con, [t for t in names if t in recorded and table_exists(con, SCHEMA, t)]
    )
    return {t for t, fingerprint in current.items() if recorded[t] == fingerprint}
