"""pandera schemas for every published KPI table, derived from the definitions, run in DuckDB.

Validation uses pandera's ibis backend, so checks execute as SQL inside the build database and no
KPI table is pulled into memory. A table passes when its types, allowed values, non-negative counts,
rates within [0, 1] (where a stage is a subset of the one before), grain-aligned periods and the
product identity (factors multiply to the value) all hold.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import pandera.ibis as pa
from pandera.errors import SchemaError, SchemaErrors

from pipelines.compiler.funnels import funnel_model_name
from pipelines.compiler.project import FACTORS_MODEL, published_kpi_tables
from pipelines.db import duckdb_config
from pipelines.killpoints import kill_point
from pipelines.spec.loader import Definitions
from pipelines.spec.models import Funnel

KPI_SCHEMA = "kpis"
RELATIVE_TOLERANCE = 1e-9
MAX_SAMPLES = 10


@dataclass(frozen=True)
class ValidationResult:
    table: str
    rows: int
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        if self.passed:
            return f"{self.table}: {self.rows} rows valid"
        checks = sorted({f"{f['column']}: {f['check']}" for f in self.failures})
        return f"{self.table}: {len(self.failures)} failing rows/checks ({'; '.join(checks)})"


def _period_aligned(grain_col, period_col):
    """Period start is the first day of its grain (ISO week: Monday)."""
    return (
        (grain_col == "day")
        | ((grain_col == "week") & (period_col.day_of_week.index() == 0))
        | ((grain_col == "month") & (period_col.day() == 1))
        | ((grain_col == "quarter") & (period_col.day() == 1) & (period_col.month() % 3 == 1))
        | ((grain_col == "year") & (period_col.day() == 1) & (period_col.month() == 1))
    )


def _key_columns(defs: Definitions, name: str, funnel: Funnel) -> dict[str, pa.Column]:
    grains = funnel.grains or defs.settings.grains
    return {
        "funnel": pa.Column(dt.String, pa.Check.isin([name])),
        "grain": pa.Column(dt.String, pa.Check.isin(list(grains))),
        "period_start": pa.Column(dt.Date),
        "dimension": pa.Column(dt.String, pa.Check.isin(list(funnel.dimensions))),
        "member": pa.Column(dt.String),
    }


def funnel_schema(defs: Definitions, name: str) -> pa.DataFrameSchema:
    funnel = defs.funnels[name]
    columns = _key_columns(defs, name, funnel)
    first, *later = funnel.stages
    columns[first.name] = pa.Column(dt.Int64, pa.Check.ge(1))
    for stage in later:
        columns[stage.name] = pa.Column(dt.Int64, pa.Check.ge(0))
    factor_names = funnel.factor_names()
    for i, factor in enumerate(factor_names[1:-1], start=1):
        checks = [pa.Check.ge(0)]
        if i < len(funnel.stages) and funnel.stages[i].subset_of_previous:
            checks.append(pa.Check.le(1))
        columns[factor] = pa.Column(dt.Float64, checks, nullable=True)
    columns[funnel.value.name] = pa.Column(dt.Float64, pa.Check.ge(0))
    if funnel.kind != "cohort":  # lineage of incremental rows; not published (publish.py)
        columns["computed_in"] = pa.Column(dt.String, required=False)

    def product_identity(data) -> Any:
        t = data.table
        product = t[factor_names[0]].cast("float64")
        for factor in factor_names[1:-1]:
            product = product * t[factor]
        value = t[factor_names[-1]]
        holds = (product - value).abs() <= RELATIVE_TOLERANCE * value.abs() + RELATIVE_TOLERANCE
        return holds.fill_null(True)  # a factor is undefined: the identity has nothing to say

    def aligned(data) -> Any:
        t = data.table
        return _period_aligned(t.grain, t.period_start)

    return pa.DataFrameSchema(
        columns,
        checks=[
            pa.Check(
                product_identity, name="product_identity", error="factors multiply to the value"
            ),
            pa.Check(aligned, name="period_start_aligned", error="period_start starts its grain"),
        ],
        name=funnel_model_name(name),
        strict=True,
        unique=["grain", "period_start", "dimension", "member"],
    )


def factors_schema(defs: Definitions) -> pa.DataFrameSchema:
    names = sorted({f for funnel in defs.funnels.values() for f in funnel.factor_names()})
    grains = sorted({g for f in defs.funnels.values() for g in (f.grains or defs.settings.grains)})
    dims = sorted({d for f in defs.funnels.values() for d in f.dimensions})
    max_position = max(len(f.factor_names()) for f in defs.funnels.values())
    return pa.DataFrameSchema(
        {
            "funnel": pa.Column(dt.String, pa.Check.isin(sorted(defs.funnels))),
            "grain": pa.Column(dt.String, pa.Check.isin(grains)),
            "period_start": pa.Column(dt.Date),
            "dimension": pa.Column(dt.String, pa.Check.isin(dims)),
            "member": pa.Column(dt.String),
            "factor": pa.Column(dt.String, pa.Check.isin(names)),
            "position": pa.Column(dt.Int32, pa.Check.in_range(1, max_position)),
            "value": pa.Column(dt.Float64, pa.Check.ge(0), nullable=True),
        },
        name=FACTORS_MODEL,
        strict=True,
        unique=["funnel", "grain", "period_start", "dimension", "member", "factor"],
    )


def activity_kpis_schema(defs: Definitions) -> pa.DataFrameSchema:
    dims = sorted({d for k in defs.kpis.values() for d in k.dimensions})

    def attainment_consistent(data) -> Any:
        t = data.table
        expected = t.value / t.target
        holds = (t.attainment - expected).abs() <= RELATIVE_TOLERANCE * expected.abs() + 1e-12
        return holds.fill_null(True)

    def aligned(data) -> Any:
        return _period_aligned(data.table.grain, data.table.period_start)

    return pa.DataFrameSchema(
        {
            "kpi": pa.Column(dt.String, pa.Check.isin(sorted(defs.kpis))),
            "grain": pa.Column(dt.String, pa.Check.isin(list(defs.settings.grains))),
            "period_start": pa.Column(dt.Date),
            "dimension": pa.Column(dt.String, pa.Check.isin(dims)),
            "member": pa.Column(dt.String),
            "value": pa.Column(dt.Float64, pa.Check.ge(0), nullable=True),
            "total": pa.Column(dt.Float64, pa.Check.ge(0), nullable=True),
            "reps": pa.Column(dt.Int64, pa.Check.ge(0)),
            "working_days": pa.Column(dt.Int64, pa.Check.ge(0)),
            "working_days_elapsed": pa.Column(dt.Int64, pa.Check.ge(0)),
            "as_of_date": pa.Column(dt.Date),
            "target": pa.Column(dt.Float64, pa.Check.gt(0), nullable=True),
            "attainment": pa.Column(dt.Float64, pa.Check.ge(0), nullable=True),
            "on_pace": pa.Column(dt.Boolean, nullable=True),
        },
        checks=[
            pa.Check(attainment_consistent, name="attainment_is_value_over_target"),
            pa.Check(aligned, name="period_start_aligned"),
            pa.Check(
                lambda d: d.table.working_days_elapsed <= d.table.working_days,
                name="elapsed_within_period",
            ),
        ],
        name="activity_kpis",
        strict=True,
        unique=["kpi", "grain", "period_start", "dimension", "member"],
    )


def activity_points_schema(defs: Definitions) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "scheme": pa.Column(dt.String, pa.Check.isin(sorted(defs.activity_points))),
            "grain": pa.Column(dt.String, pa.Check.isin(list(defs.settings.grains))),
            "period_start": pa.Column(dt.Date),
            "rep_id": pa.Column(dt.String),
            "team": pa.Column(dt.String),
            "points": pa.Column(dt.Float64),
            "activities": pa.Column(dt.Int64, pa.Check.ge(1)),
            "leaderboard_rank": pa.Column(dt.Int64, pa.Check.ge(1)),
        },
        name="activity_points",
        strict=True,
        unique=["scheme", "grain", "period_start", "rep_id"],
    )


def top_performer_gap_schema(defs: Definitions) -> pa.DataFrameSchema:
    def ratio_consistent(data) -> Any:
        t = data.table
        expected = t.top_average / t.rest_average
        return ((t.ratio - expected).abs() <= RELATIVE_TOLERANCE * expected.abs()).fill_null(True)

    return pa.DataFrameSchema(
        {
            "grain": pa.Column(dt.String, pa.Check.isin(list(defs.top_performers.grains))),
            "period_start": pa.Column(dt.Date),
            "outcome": pa.Column(dt.String),
            "metric_kind": pa.Column(dt.String, pa.Check.isin(["kpi", "funnel_factor"])),
            "metric": pa.Column(dt.String),
            "top_reps": pa.Column(dt.Int64, pa.Check.ge(0)),
            "rest_reps": pa.Column(dt.Int64, pa.Check.ge(0)),
            "top_average": pa.Column(dt.Float64, nullable=True),
            "rest_average": pa.Column(dt.Float64, nullable=True),
            "ratio": pa.Column(dt.Float64, pa.Check.ge(0), nullable=True),
        },
        checks=[pa.Check(ratio_consistent, name="ratio_is_top_over_rest")],
        name="top_performer_gap",
        strict=True,
        unique=["grain", "period_start", "metric_kind", "metric"],
    )


def kpi_schemas(defs: Definitions) -> dict[str, pa.DataFrameSchema]:
    """Table name (in the `kpis` schema) → its pandera schema, for every published KPI table."""
    builders = {funnel_model_name(n): (lambda n=n: funnel_schema(defs, n)) for n in defs.funnels}
    builders[FACTORS_MODEL] = lambda: factors_schema(defs)
    builders["activity_kpis"] = lambda: activity_kpis_schema(defs)
    builders["activity_points"] = lambda: activity_points_schema(defs)
    builders["top_performer_gap"] = lambda: top_performer_gap_schema(defs)
    return {table: builders[table]() for table in published_kpi_tables(defs)}


def validate_table(
    con: ibis.BaseBackend, table: str, schema: pa.DataFrameSchema
) -> ValidationResult:
    t = con.table(table, database=KPI_SCHEMA)
    rows = int(t.count().execute())
    target = t
    if rows == 0:
        # pandera's ibis backend reports checks on an empty table as failed; only the columns
        # and their types have to hold.
        schema = _without_checks(schema)
    try:
        schema.validate(target, lazy=True)
    except (SchemaErrors, SchemaError) as exc:
        return ValidationResult(table, rows, _failures(exc))
    return ValidationResult(table, rows)


def _without_checks(schema: pa.DataFrameSchema) -> pa.DataFrameSchema:
    columns = {name: pa.Column(col.dtype, nullable=True) for name, col in schema.columns.items()}
    return pa.DataFrameSchema(columns, name=schema.name, strict=schema.strict)


def _failures(exc: SchemaErrors | SchemaError) -> list[dict[str, Any]]:
    cases = getattr(exc, "failure_cases", None)
    if cases is None or not hasattr(cases, "to_dict"):
        return [{"column": "", "check": str(exc).splitlines()[0], "failure_case": None}]
    records = cases.to_dict(orient="records")
    return [
        {
            "column": r.get("column"),
            "check": str(r.get("check")),
            "failure_case": _plain(r.get("failure_case")),
        }
        for r in records
    ]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def validate_build(
    build_db: Path, defs: Definitions, skip: Collection[str] = ()
) -> list[ValidationResult]:
    """Validate every KPI table of the build database (read-only), except those in `skip`."""
    return validate_tables(build_db, defs, [t for t in kpi_schemas(defs) if t not in skip])


def validate_tables(
    build_db: Path, defs: Definitions, tables: Collection[str]
) -> list[ValidationResult]:
    """Validate `tables` (KPI tables of the build database) through one read-only connection."""
    if not tables:
        return []
    schemas = kpi_schemas(defs)
    # The build database's folder is the warehouse: the pipeline's memory cap and spill folder.
    con = ibis.duckdb.connect(str(build_db), read_only=True, **duckdb_config(build_db.parent))
    try:
        kill_point("validation")
        return [validate_table(con, t, schemas[t]) for t in tables]
    finally:
        con.disconnect()
