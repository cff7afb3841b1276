"""The pseudonymisation key: personal values (contact ids, visitor ids, the phone numbers and e-mail
addresses they often are) leave dbt staging only as keyed hashes (kpi_models/macros/pseudonymise.sql).

The key comes from the environment variable `KPI_PSEUDONYM_KEY` and nowhere else. It reaches DuckDB
as a bound parameter of `SET VARIABLE` (the dbt plugin `pipelines.dbt_pseudonym_plugin`), so it is
never part of SQL text, dbt's compiled files, logs or asset metadata. A run without the key stops
with `MissingPseudonymKey`, except on a landing folder written by `kpi sample-data` (it holds the
marker file `SAMPLE_MARKER`), which uses the published, non-secret `SAMPLE_KEY`.
"""

from __future__ import annotations

import os
from pathlib import Path

KEY_ENV = "KPI_PSEUDONYM_KEY"
SAMPLE_MARKER = ".funnel-kpi-sample"
SAMPLE_KEY = "funnel-kpi sample data: not a secret"  # documented; only for generated sample orgs
MIN_KEY_LENGTH = 16


class MissingPseudonymKey(Exception):
    pass


def ensure_pseudonym_key(landing: Path) -> str:
    """Make sure `KPI_PSEUDONYM_KEY` is set for this run; returns where the key comes from
    ("environment" or "sample"). Raises `MissingPseudonymKey` with what to do otherwise."""
    key = os.environ.get(KEY_ENV, "")
    if key:
        if len(key) < MIN_KEY_LENGTH:
            raise MissingPseudonymKey(
                f"{KEY_ENV} is too short ({len(key)} characters; at least {MIN_KEY_LENGTH}): "
                "use a long random secret, e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'`"
            )
        return "environment"
    if (landing / SAMPLE_MARKER).is_file():
        os.environ[KEY_ENV] = SAMPLE_KEY
        return "sample"
    raise MissingPseudonymKey(
        f"{KEY_ENV} is not set. Contact ids, visitor ids, phone numbers and e-mail addresses are "
        "replaced by keyed hashes before anything is published, and the key must come from the "
        f"environment: export {KEY_ENV}=<a long random secret, the same for every run> "
        "(docs/reliability.md, 'Personal data'). Only a landing folder written by "
        "`kpi sample-data` runs without it."
    )


def mark_sample_landing(landing: Path) -> None:
    """Called by `kpi sample-data`: this landing folder holds generated data only."""
    landing.mkdir(parents=True, exist_ok=True)
    (landing / SAMPLE_MARKER).write_text(
        "Written by `kpi sample-data`: generated data, pseudonymised with the public sample key.\n"
    )
