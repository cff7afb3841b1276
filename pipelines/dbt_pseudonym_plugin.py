"""dbt-duckdb plugin (kpi_models/profiles.yml): hand the pseudonymisation key to DuckDB.

Every connection and cursor dbt opens gets the DuckDB variable `kpi_pseudonym_key`, set from the
environment variable `KPI_PSEUDONYM_KEY` as a bound parameter: the key is in no SQL text, so dbt's
compiled files and logs never hold it. Models read it with `getvariable('kpi_pseudonym_key')`
(macro `pseudonymise`). No key, no connection: dbt stops with the error below.
"""

from __future__ import annotations

import os

from dbt.adapters.duckdb.plugins import BasePlugin

KEY_ENV = "KPI_PSEUDONYM_KEY"  # pipelines.privacy.KEY_ENV (not imported: dbt loads this module)
VARIABLE = "kpi_pseudonym_key"


def _set_key(conn) -> None:
    key = os.environ.get(KEY_ENV, "")
    if not key:
        raise RuntimeError(
            f"{KEY_ENV} is not set: dbt cannot pseudonymise personal values (see docs/reliability.md)"
        )
    conn.execute(f"SET VARIABLE {VARIABLE} = ?", [key])


class Plugin(BasePlugin):
    def configure_connection(self, conn) -> None:
        _set_key(conn)

    def configure_cursor(self, cursor) -> None:
        _set_key(cursor)
