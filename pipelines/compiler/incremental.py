"""Which reporting days changed since the KPI tables were last built, and which periods that touches.

The period funnels are incremental dbt models: a run recomputes only the (grain, period) rows whose
periods contain a changed day, and leaves every other row as it was. "Changed" is decided on the
marts, not on the files, so every way a number can move is caught — a late call, a corrected
meeting, a visit that changes a later meeting's first touch, a rep moving team:

1. `kpi_day_fingerprints`: per mart, timestamp column and reporting day, the row count and the sum
   of the rows' hashes (every column, derived ones included).
2. `kpi_changed_days`: the days whose fingerprint differs from the one recorded when the KPI tables
   were last built completely (`kpi_build_state`), plus the days an operator asked to recompute
   (`kpi_recompute_requests`, written by the pipeline for a backfill).
3. `kpi_changed_periods`: those days' periods at every grain.
4. `kpi_build_state`: the fingerprints again, written only after every KPI model and its tests
   succeeded (it depends on all of them), so a failed or killed run recomputes the same days again.

A change of the dbt code (the YAML definitions compile to it) makes the pipeline run with
`--full-refresh` (pipelines/assets/dbt.py): incremental rows computed by older code are not kept.
"""

from __future__ import annotations

from pipelines.db import lit, q
from pipelines.spec.catalog import CATALOG
from pipelines.spec.loader import Definitions

from .header import header

FINGERPRINTS_MODEL = "kpi_day_fingerprints"
CHANGED_DAYS_MODEL = "kpi_changed_days"
CHANGED_PERIODS_MODEL = "kpi_changed_periods"
BUILD_STATE_MODEL = "kpi_build_state"
RECOMPUTE_REQUESTS_TABLE = "kpi_recompute_requests"  # (day date): created by the pipeline
STATE_MODELS = (FINGERPRINTS_MODEL, CHANGED_DAYS_MODEL, CHANGED_PERIODS_MODEL, BUILD_STATE_MODEL)
# Marts whose days are tracked: every entity with event timestamps (reps reach the others' rows).
TRACKED = tuple(name for name, e in CATALOG.items() if name != "reps" and e.timestamp_columns())

_ORIGIN = "kpi_definitions/settings.yml"


def incremental_config(key_columns: str = "grain, period_start") -> str:
    """dbt config of a model recomputed per affected period: delete those periods, append anew."""
    delete = (
        "{% if is_incremental() %}delete from {{ this }} where ("
        + key_columns
        + ") in (select "
        + key_columns
        + " from {{ ref('"
        + CHANGED_PERIODS_MODEL
        + "') }}){% endif %}"
    )
    return (
        "{{ config(\n"
        "    materialized='incremental',\n"
        "    incremental_strategy='append',\n"
        "    on_schema_change='fail',\n"
        f'    pre_hook="{delete}"\n'
        ") }}\n"
        f"-- depends_on: {{{{ ref({lit(CHANGED_PERIODS_MODEL)}) }}}}\n"
    )


def incremental_event_filter(date_sql: str) -> str:
    """A WHERE condition (with leading `and`) keeping only events inside the changed periods."""
    periods = f"{{{{ ref({lit(CHANGED_PERIODS_MODEL)}) }}}}"
    return (
        "{% if is_incremental() %}\n"
        f"        and {date_sql} >= (select min(period_start) from {periods})\n"
        f"        and {date_sql} < (select max(period_end) from {periods})\n"
        "        {% endif %}"
    )


def incremental_period_filter() -> str:
    """Appended to a `periods` CTE: keep only the changed periods in an incremental run."""
    periods = f"{{{{ ref({lit(CHANGED_PERIODS_MODEL)}) }}}}"
    return (
        "{% if is_incremental() %}\n"
        f"    where (grain, period_start) in (select grain, period_start from {periods})\n"
        "    {% endif %}"
    )


def render_fingerprints(defs: Definitions) -> str:
    tz = defs.settings.reporting_timezone
    parts = []
    for name in TRACKED:
        for column in CATALOG[name].timestamp_columns():
            day = f"{{{{ to_reporting_date({lit(q(column))}, {lit(tz)}) }}}}"
            parts.append(
                f"select {lit(name)} as source, {lit(column)} as time_column, {day} as day,\n"
                f"    count(*) as row_count, sum(hash(m)::hugeint) as fingerprint\n"
                f"from {{{{ ref({lit(name)}) }}}} as m\n"
                f"where {q(column)} is not null\n"
                f"group by {day}"
            )
    return (
        header(_ORIGIN, "what the incremental KPI models compare")
        + "\n{{ config(materialized='table') }}\n\n"
        + "\nunion all\n".join(parts)
        + "\n"
    )


def render_changed_days(defs: Definitions) -> str:
    return (
        header(_ORIGIN, "days whose data changed since the last complete build")
        + "\n{{ config(materialized='table') }}\n"
        + "{%- set state = adapter.get_relation(database=this.database, schema=this.schema, "
        f"identifier={lit(BUILD_STATE_MODEL)}) %}}\n"
        + "{%- set requests = adapter.get_relation(database=this.database, schema=this.schema, "
        f"identifier={lit(RECOMPUTE_REQUESTS_TABLE)}) %}}\n\n"
        + "with\n\n"
        + "current_state as (\n"
        + "    select source, time_column, day, row_count, fingerprint\n"
        + f"    from {{{{ ref({lit(FINGERPRINTS_MODEL)}) }}}}\n"
        + "),\n\n"
        + "previous_state as (\n"
        + "    {% if state is not none and not flags.FULL_REFRESH -%}\n"
        + "    select source, time_column, day, row_count, fingerprint from {{ state }}\n"
        + "    {%- else -%}\n"
        + "    select * from current_state where false\n"
        + "    {%- endif %}\n"
        + "),\n\n"
        + "requested as (\n"
        + "    {% if requests is not none -%}\n"
        + "    select cast(day as date) as day from {{ requests }}\n"
        + "    {%- else -%}\n"
        + "    select cast(null as date) as day where false\n"
        + "    {%- endif %}\n"
        + ")\n\n"
        + "select distinct day from (\n"
        + "    select coalesce(c.day, p.day) as day\n"
        + "    from current_state as c\n"
        + "    full outer join previous_state as p\n"
        + "        on c.source = p.source and c.time_column = p.time_column and c.day = p.day\n"
        + "    where c.fingerprint is distinct from p.fingerprint\n"
        + "        or c.row_count is distinct from p.row_count\n"
        + "    union all\n"
        + "    select day from requested\n"
        + ") as changed\n"
        + "where day is not null\n"
    )


def render_changed_periods(defs: Definitions) -> str:
    grains = list(dict.fromkeys([*defs.settings.grains, *_funnel_grains(defs)]))
    parts = []
    for grain in grains:
        start = f"{{{{ period_start({lit(grain)}, 'day') }}}}"
        end = f"cast({{{{ dbt.dateadd({lit(grain)}, 1, 'period_start') }}}} as date)"
        parts.append(
            f"select {lit(grain)} as grain, period_start, {end} as period_end\n"
            f"from (select distinct {start} as period_start "
            f"from {{{{ ref({lit(CHANGED_DAYS_MODEL)}) }}}}) as {grain}_periods"
        )
    return (
        header(_ORIGIN, "periods the changed days fall in, at every grain")
        + "\n{{ config(materialized='table') }}\n\n"
        + "\nunion all\n".join(parts)
        + "\n"
    )


def render_build_state(defs: Definitions, kpi_models: list[str]) -> str:
    depends = "".join(f"-- depends_on: {{{{ ref({lit(m)}) }}}}\n" for m in kpi_models)
    return (
        header(_ORIGIN, "fingerprints the KPI tables were last completely built from")
        + "\n{{ config(materialized='table') }}\n\n"
        + "-- Built after every KPI model (and its tests) succeeded:\n"
        + depends
        + "\nselect *, '{{ invocation_id }}' as computed_in\n"
        + f"from {{{{ ref({lit(FINGERPRINTS_MODEL)}) }}}}\n"
    )


def _funnel_grains(defs: Definitions) -> list[str]:
    return [g for f in defs.funnels.values() for g in (f.grains or [])]


def state_schema() -> list[dict]:
    return [
        {
            "name": FINGERPRINTS_MODEL,
            "description": "Per mart, timestamp column and reporting day: row count and the sum "
            "of the rows' hashes. Internal: decides what an incremental run recomputes.",
        },
        {
            "name": CHANGED_DAYS_MODEL,
            "description": "Reporting days whose data changed since the last complete build, "
            "plus days requested for recomputation. Internal.",
            "columns": [{"name": "day", "data_tests": ["unique", "not_null"]}],
        },
        {
            "name": CHANGED_PERIODS_MODEL,
            "description": "The periods (every grain) the changed days fall in: what the "
            "incremental KPI models recompute in this run. Internal.",
        },
        {
            "name": BUILD_STATE_MODEL,
            "description": "The fingerprints the KPI tables were last completely built from "
            "(`computed_in`: the dbt invocation). Internal.",
        },
    ]
