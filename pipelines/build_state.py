"""What the incremental KPI models were last built with, kept in the build database.

dbt decides *which periods* to recompute from the data (pipelines/compiler/incremental.py). Two
things it cannot see are decided here, before dbt runs:

- the dbt code changed (a YAML definition compiled differently, a macro edited), or the pseudonym
  key did (the incremental web-visit models would mix pseudonyms of two keys): rows computed by
  the old code or key must not survive, so the run is a `--full-refresh`;
- an operator asked to recompute a range of days (a backfill): the days go into
  `kpis.kpi_recompute_requests`, which `kpi_changed_days` adds to the changed days.

Both are cleared only after dbt succeeded, so a failed or killed run asks again next time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import duckdb

from pipelines.compiler.incremental import RECOMPUTE_REQUESTS_TABLE
from pipelines.db import table_exists
from pipelines.privacy import KEY_ENV

SCHEMA = "kpis"
CODE_TABLE = f"{SCHEMA}.kpi_build_code"
REQUESTS_TABLE = f"{SCHEMA}.{RECOMPUTE_REQUESTS_TABLE}"
CODE_PARTS = ("models", "macros", "tests", "dbt_project.yml")


def code_version(project_dir: Path, pseudonym_key: str | None = None) -> str:
    """A hash of every file that decides what the dbt models compute, and of the pseudonym key
    (default: `KPI_PSEUDONYM_KEY` from the environment) they hash personal values with."""
    if pseudonym_key is None:
        pseudonym_key = os.environ.get(KEY_ENV, "")
    digest = hashlib.sha256(b"pseudonym key\0" + pseudonym_key.encode() + b"\0")
    files: list[Path] = []
    for part in CODE_PARTS:
        path = project_dir / part
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for path in files:
        if path.is_file():
            digest.update(path.relative_to(project_dir).as_posix().encode())
            digest.update(b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def built_code_version(con: duckdb.DuckDBPyConnection) -> str | None:
    if not table_exists(con, SCHEMA, CODE_TABLE.split(".")[1]):
        return None
    rows = con.execute(f"SELECT version FROM {CODE_TABLE}").fetchall()
    return rows[0][0] if rows else None


def needs_full_refresh(con: duckdb.DuckDBPyConnection, version: str) -> bool:
    """Whether the KPI tables were built by other dbt code than `version` (`code_version`)."""
    return built_code_version(con) != version


def request_recompute(con: duckdb.DuckDBPyConnection, first: dt.date, last: dt.date) -> int:
    """Ask the next dbt build to recompute every period holding a day in [first, last]."""
    if last < first:
        raise ValueError(f"recompute range ends ({last}) before it starts ({first})")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {REQUESTS_TABLE} (day DATE NOT NULL)")
    con.execute(
        f"INSERT INTO {REQUESTS_TABLE} SELECT CAST(d AS DATE) "
        "FROM range(CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP) + INTERVAL 1 DAY, INTERVAL 1 DAY) "
        "AS t(d)",
        [first, last],
    )
    return (last - first).days + 1


def record_success(con: duckdb.DuckDBPyConnection, version: str) -> None:
    """After a successful dbt build by code `version`: remember it, forget the requests served."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(f"CREATE OR REPLACE TABLE {CODE_TABLE} AS SELECT ? AS version", [version])
    con.execute(f"DROP TABLE IF EXISTS {REQUESTS_TABLE}")


def recomputed_periods(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """What the last build recomputed: days and periods per grain (for metadata and logs)."""
    if not table_exists(con, SCHEMA, "kpi_changed_days"):
        return {}
    days = con.execute(
        f"SELECT count(*), min(day), max(day) FROM {SCHEMA}.kpi_changed_days"
    ).fetchall()[0]
    per_grain = con.execute(
        f"SELECT grain, count(*) FROM {SCHEMA}.kpi_changed_periods GROUP BY grain ORDER BY grain"
    ).fetchall()
    return {
        "days_changed": int(days[0]),
        "first_day_changed": str(days[1]) if days[1] else "",
        "last_day_changed": str(days[2]) if days[2] else "",
        "periods_recomputed": ", ".join(f"{g}: {n}" for g, n in per_grain),
    }
