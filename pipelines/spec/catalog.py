"""What a KPI definition may refer to: each landing entity's dbt model and its columns.

Entities that carry a `rep_id` are joined to the rep directory in the dbt marts, so they also offer
the rep's `team`, `region` and `rep_name`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.ingest.contract import ENTITIES, Kind

REP_COLUMNS = {"rep_name": Kind.TEXT, "team": Kind.TEXT, "region": Kind.TEXT}
# Columns the dbt staging/marts derive from the delivered ones.
TOUCH_COLUMNS = {
    f"{touch}_touch_{what}": Kind.TEXT
    for touch in ("first", "last")
    for what in ("channel", "landing_page")
}
DERIVED_COLUMNS = {
    "calls": {"is_outbound": Kind.BOOLEAN, "is_connected": Kind.BOOLEAN},
    "emails": {"has_reply": Kind.BOOLEAN},
    "meetings": {"is_held": Kind.BOOLEAN, "is_existing_customer": Kind.BOOLEAN, **TOUCH_COLUMNS},
    "opportunities": {"is_won": Kind.BOOLEAN, "is_closed": Kind.BOOLEAN, **TOUCH_COLUMNS},
    "web_visits": TOUCH_COLUMNS,
}

# Columns with one value for every row that shares another column's value: a web visitor's first
# touch is the visitor's own (`int_visitors_touches_aggregated`, one row per visitor). A distinct
# count of that column by these dimensions needs one window, not one per dimension
# (`compiler.funnels.distinct_rollup_cte`); the funnel tests against the floor and the pandas
# reference, which count each dimension on its own, pin the numbers.
DETERMINED_BY: dict[tuple[str, str], frozenset[str]] = {
    ("web_visits", "visitor_id"): frozenset({"first_touch_channel", "first_touch_landing_page"}),
}

# Pseudonymised columns that the entity's model also carries as a number (`pseudonym_number` in
# kpi_models/macros/pseudonymise.sql: the pseudonym's 128 bits, equal exactly when the pseudonyms
# are). A distinct count of the column counts the number instead: the same count, over a
# fixed-width value DuckDB keeps inline (`compiler.funnels.distinct_rollup_cte`).
COUNTED_AS: dict[tuple[str, str], str] = {("web_visits", "visitor_id"): "visitor_key"}


@dataclass(frozen=True)
class CatalogEntity:
    name: str
    model: str  # the dbt model KPI models select from
    columns: dict[str, Kind]
    event_time: str | None

    def timestamp_columns(self) -> list[str]:
        return [c for c, k in self.columns.items() if k is Kind.TIMESTAMP]


def _catalog_entity(name: str) -> CatalogEntity:
    entity = ENTITIES[name]
    columns = {c.name: c.kind for c in entity.columns}
    if "rep_id" in columns and name != "reps":
        columns |= REP_COLUMNS
    columns |= DERIVED_COLUMNS.get(name, {})
    return CatalogEntity(name=name, model=name, columns=columns, event_time=entity.event_time)


CATALOG: dict[str, CatalogEntity] = {name: _catalog_entity(name) for name in ENTITIES}
