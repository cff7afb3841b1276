"""Render activity KPIs (with working days and targets), activity points and the top-performer gap.

Models (all under models/kpis/, generated):
- `working_days`: the calendar of the definitions (working weekdays minus holidays);
- `kpi_targets`: every declared target, one row each;
- `activity_kpi_<name>`: one per KPI, with value, target, attainment and on-pace per period;
- `activity_kpis`: all of them in one table;
- `activity_points`: the points leaderboard per rep and period;
- `top_performer_gap`: top share of reps by an outcome vs the rest, for every KPI and funnel factor.
"""

from __future__ import annotations

import datetime as dt

from pipelines.compiler.funnels import DimensionColumn, distinct_rollup_cte, period_map_sql
from pipelines.compiler.header import header
from pipelines.db import lit, q
from pipelines.spec.catalog import CATALOG
from pipelines.spec.expressions import check_expression
from pipelines.spec.loader import Definitions
from pipelines.spec.models import Kpi

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]  # ISO day 1..7
CALENDAR_START, CALENDAR_END = dt.date(2000, 1, 1), dt.date(2100, 12, 31)
ACTIVITY_KPIS = "activity_kpis"
KPI_COLUMNS = (
    "kpi, grain, period_start, dimension, member, value, total, reps, working_days, "
    "working_days_elapsed, as_of_date, target, attainment, on_pace"
)


def kpi_model_name(name: str) -> str:
    return f"activity_kpi_{name}"


def _origin(defs: Definitions, kind: str, name: str) -> str:
    file = defs.origin_of(kind, name).rsplit(":", 1)[0]
    return f"{defs.directory.name}/{file.rsplit('/', 1)[-1]}"


def render_working_days(defs: Definitions) -> str:
    iso = ", ".join(str(WEEKDAYS.index(d) + 1) for d in defs.calendar.working_weekdays)
    holidays = (
        ",\n        ".join(
            f"(cast({lit(h.date.isoformat())} as date), {lit(h.name or 'holiday')})"
            for h in defs.calendar.holidays
        )
        or "(cast(null as date), cast(null as varchar))"
    )
    origin = (
        _origin(defs, "section", "calendar")
        if ("section", "calendar") in defs.origins
        else "defaults"
    )
    return (
        header(origin, "working-day calendar")
        + f"""
with days as (
    {{{{ date_series({lit(CALENDAR_START.isoformat())}, {lit(CALENDAR_END.isoformat())}) }}}}
),

holiday_list (holiday_date, holiday_name) as (
    values
        {holidays}
),

holidays as (
    select holiday_date, string_agg(holiday_name, ' / ') as holiday_name
    from holiday_list
    group by holiday_date
)

select
    days.calendar_date,
    holidays.holiday_name,
    {{{{ iso_weekday('days.calendar_date') }}}} in ({iso}) and holidays.holiday_date is null
        as is_working_day
from days
left join holidays on holidays.holiday_date = days.calendar_date
"""
    )


def render_targets(defs: Definitions) -> str:
    rows = []
    for name, kpi in defs.kpis.items():
        for t in kpi.targets:
            rows.append(
                f"({lit(name)}, {_opt(t.team)}, {_opt(t.rep)}, {_opt(t.grain)}, "
                f"cast({lit(t.effective_from.isoformat())} as date), cast({t.value!r} as double))"
            )
    body = ",\n        ".join(rows)
    if not rows:
        return (
            header(f"{defs.directory.name}/", "KPI targets")
            + "\nselect cast(null as varchar) as kpi, cast(null as varchar) as team,\n"
            "    cast(null as varchar) as rep_id, cast(null as varchar) as grain,\n"
            "    cast(null as date) as effective_from, cast(null as double) as target\n"
            "where false\n"
        )
    return (
        header(f"{defs.directory.name}/", "KPI targets")
        + f"""
select * from (
    values
        {body}
) as targets (kpi, team, rep_id, grain, effective_from, target)
"""
    )


def _opt(value: str | None) -> str:
    return "cast(null as varchar)" if value is None else lit(value)


def _dims(defs: Definitions, kpi: Kpi) -> list[tuple[str, str]]:
    return [
        (d, "'all'" if d == "all" else f"cast({q(defs.dimensions[d].column)} as varchar)")
        for d in kpi.dimensions
    ]


def render_kpi_model(defs: Definitions, name: str) -> str:
    kpi = defs.kpis[name]
    if kpi.measure == "ratio":
        return _render_ratio(defs, name, kpi)
    entity = CATALOG[kpi.entity]
    time = kpi.time or entity.event_time
    tz = defs.settings.reporting_timezone
    dims = _dims(defs, kpi)
    where = [f"{q(time)} is not null"]
    if kpi.where:
        where.append(f"({check_expression(kpi.where, list(entity.columns))})")
    expr = (
        check_expression(kpi.expression, list(entity.columns), what="expression")
        if kpi.expression
        else "1"
    )
    per_rep = "rep_id" in entity.columns
    rep_expr = "cast(rep_id as varchar)" if per_rep else "cast(null as varchar)"
    dim_cols = ", ".join([q("dim_" + d) for d, _ in dims] + ["rep_key"])
    distinct_ctes = ""
    if kpi.measure == "count_distinct":
        # Which (day, members, rep) have events, for the rows and the reps per period; the distinct
        # values per period come from each value's previous day (as the funnels count visitors),
        # not from one deduplication per grain and dimension.
        daily = f"select distinct event_date, {dim_cols} from events"
        rollups = "\n    union all\n".join(
            f"    select p.grain, p.period_start, {lit(d)} as dimension, e.{q('dim_' + d)} as member,\n"
            f"        count(distinct e.rep_key) as reps\n"
            f"    from daily as e\n    inner join periods as p on p.event_date = e.event_date\n"
            f"    group by p.grain, p.period_start, e.{q('dim_' + d)}"
            for d, _ in dims
        )
        value_dims = ", ".join(q("dim_" + d) for d, _ in dims)
        distinct_ctes = (
            f"distinct_values_daily as (\n    select event_date, {value_dims}, measure from events\n),"
            f"\n\n"
            + distinct_rollup_cte(
                "distinct_values", [DimensionColumn(d, expr_) for d, expr_ in dims],
                list(defs.settings.grains), incremental=False,
            )
            + ",\n\nmembers as (\n" + rollups + "\n),\n\n"
        )  # fmt: skip
        rollups = (
            "    select m.grain, m.period_start, m.dimension, m.member,\n"
            "        coalesce(v.value, 0) as numerator, cast(null as bigint) as denominator, m.reps\n"
            "    from members as m\n    left join distinct_values as v\n"
            "        on v.grain = m.grain and v.period_start = m.period_start\n"
            "        and v.dimension = m.dimension and v.member is not distinct from m.member"
        )
    else:
        num = "count(*)" if kpi.measure == "count" else "sum(measure)"
        daily = (
            f"select event_date, {dim_cols}, {num} as numerator, count(measure) as denominator\n"
            f"    from events\n    group by event_date, {dim_cols}"
        )
        num_agg, den_agg = "sum(e.numerator)", "sum(e.denominator)"
        rollups = "\n    union all\n".join(
            f"    select p.grain, p.period_start, {lit(d)} as dimension, e.{q('dim_' + d)} as member,\n"
            f"        {num_agg} as numerator, {den_agg} as denominator,\n"
            f"        count(distinct e.rep_key) as reps\n"
            f"    from daily as e\n    inner join periods as p on p.event_date = e.event_date\n"
            f"    group by p.grain, p.period_start, e.{q('dim_' + d)}"
            for d, _ in dims
        )
    # Targets are per rep, so totals and per-working-day values of a team (or everyone) are
    # averages per rep with events in the period; `total` keeps the sum.
    per_rep_divisor = "nullif(reps, 0)" if per_rep else "1"
    if kpi.measure == "average":
        value = "numerator / nullif(cast(denominator as double), 0)"
    elif kpi.per_working_day:
        value = f"numerator / {per_rep_divisor} / nullif(cast(working_days_elapsed as double), 0)"
    else:
        value = f"cast(numerator as double) / {per_rep_divisor}"
    dim_select = "".join(f",\n        {expr_} as {q('dim_' + d)}" for d, expr_ in dims)
    body = f"""
with events as (
    select
        {{{{ to_reporting_date({lit(q(time))}, {lit(tz)}) }}}} as event_date{dim_select},
        {rep_expr} as rep_key,
        {expr} as measure
    from {{{{ ref({lit(entity.model)}) }}}}
    where {" and ".join(where)}
),

daily as (
    {daily}
),

event_dates as (
    select distinct event_date from daily
),

periods as (
{period_map_sql(defs.settings.grains)}
),

{distinct_ctes}rolled as (
{rollups}
),

measured as (
    {{{{ with_working_days('rolled', '(select max(event_date) from daily)') }}}}
)

select
    {lit(name)} as kpi, grain, period_start, dimension, member,
    {value} as value,
    cast(numerator as double) as total, reps,
    working_days, working_days_elapsed, as_of_date
from measured
"""
    return _with_targets(defs, name, kpi, body)


def _render_ratio(defs: Definitions, name: str, kpi: Kpi) -> str:
    body = f"""
select
    {lit(name)} as kpi, n.grain, n.period_start, n.dimension, n.member,
    n.total / nullif(d.total, 0) as value,
    n.total / nullif(d.total, 0) as total, n.reps,
    n.working_days, n.working_days_elapsed, n.as_of_date
from {{{{ ref({lit(kpi_model_name(kpi.numerator))}) }}}} as n
inner join {{{{ ref({lit(kpi_model_name(kpi.denominator))}) }}}} as d
    using (grain, period_start, dimension, member)
"""
    return _with_targets(defs, name, kpi, body)


def _with_targets(defs: Definitions, name: str, kpi: Kpi, body: str) -> str:
    """Wrap a KPI's rows with its target, attainment and on-pace flag."""
    compare = ">=" if kpi.higher_is_better else "<="
    if kpi.is_total:
        target = "{{ target_for_period('k', " + lit(name) + ") }}"
        expected = "target * working_days_elapsed / nullif(cast(working_days as double), 0)"
    else:
        target = "{{ target_over_working_days('k', " + lit(name) + ") }}"
        expected = "target"
    return (
        header(_origin(defs, "kpi", name), f"KPI `{name}`")
        + f"""
with kpi_rows as ({body}),

targeted as (
    select k.*, {target} as target
    from kpi_rows as k
)

select
    kpi, grain, period_start, dimension, member, value, total, reps, working_days,
    working_days_elapsed, as_of_date, target,
    value / nullif(target, 0) as attainment,
    case when target is null or value is null then null
         else value {compare} {expected} end as on_pace
from targeted
"""
    )


def render_activity_kpis(defs: Definitions) -> str:
    parts = [
        f"select {KPI_COLUMNS}\nfrom {{{{ ref({lit(kpi_model_name(n))}) }}}}" for n in defs.kpis
    ]
    return (
        header(f"{defs.directory.name}/", "all activity KPIs")
        + "\n"
        + "\nunion all\n".join(parts)
        + "\n"
    )


def render_activity_points(defs: Definitions) -> str:
    tz = defs.settings.reporting_timezone
    schemes = []
    grains = set()
    for scheme, spec in defs.activity_points.items():
        grains.update(spec.grains or defs.settings.grains)
        for activity in spec.activities:
            entity = CATALOG[activity.entity]
            time = activity.time or entity.event_time
            where = [f"{q(time)} is not null"]
            if activity.where:
                where.append(f"({check_expression(activity.where, list(entity.columns))})")
            schemes.append(
                f"    select {lit(scheme)} as scheme, {lit(activity.name)} as activity,\n"
                f"        {{{{ to_reporting_date({lit(q(time))}, {lit(tz)}) }}}} as event_date,\n"
                f"        cast(rep_id as varchar) as rep_id, team, "
                f"cast({activity.points!r} as double) as points\n"
                f"    from {{{{ ref({lit(entity.model)}) }}}}\n"
                f"    where {' and '.join(where)}"
            )
    ordered_grains = [g for g in defs.settings.grains if g in grains]
    return (
        header(f"{defs.directory.name}/", "activity points")
        + f"""
with events as (
{chr(10).join([schemes[0]] + ["    union all" + chr(10) + s for s in schemes[1:]])}
),

daily as (
    select scheme, event_date, rep_id, team, sum(points) as points, count(*) as activities
    from events
    group by scheme, event_date, rep_id, team
),

event_dates as (
    select distinct event_date from daily
),

periods as (
{period_map_sql(ordered_grains)}
),

rolled as (
    select d.scheme, p.grain, p.period_start, d.rep_id, d.team,
        sum(d.points) as points, cast(sum(d.activities) as bigint) as activities
    from daily as d
    inner join periods as p on p.event_date = d.event_date
    group by d.scheme, p.grain, p.period_start, d.rep_id, d.team
)

select
    *,
    rank() over (partition by scheme, grain, period_start order by points desc) as leaderboard_rank
from rolled
"""
    )


def render_top_performer_gap(defs: Definitions) -> str:
    top = defs.top_performers
    grains = ", ".join(lit(g) for g in top.grains)
    return (
        header(_origin(defs, "section", "top_performers"), "top-performer gap")
        + f"""
with metrics as (
    select grain, period_start, member as rep_id, 'kpi' as metric_kind, kpi as metric, value
    from {{{{ ref({lit(ACTIVITY_KPIS)}) }}}}
    where dimension = 'rep' and grain in ({grains})
    union all
    select grain, period_start, member as rep_id, 'funnel_factor' as metric_kind,
        funnel || '.' || factor as metric, value
    from {{{{ ref('funnel_factors') }}}}
    where dimension = 'rep' and grain in ({grains})
),

reps_in_period as (
    select distinct grain, period_start, rep_id from metrics
),

outcome as (
    select r.grain, r.period_start, r.rep_id, coalesce(o.value, 0) as outcome
    from reps_in_period as r
    left join {{{{ ref('funnel_factors') }}}} as o
        on o.funnel = {lit(top.outcome.funnel)} and o.factor = {lit(top.outcome.factor)}
        and o.dimension = 'rep' and o.grain = r.grain and o.period_start = r.period_start
        and o.member = r.rep_id
),

ranked as (
    select *,
        rank() over (partition by grain, period_start order by outcome desc) as outcome_rank,
        count(*) over (partition by grain, period_start) as reps
    from outcome
),

groups as (
    select grain, period_start, rep_id,
        -- ties at the boundary all join the top group
        outcome_rank <= ceil({top.top_share!r} * reps) as is_top
    from ranked
)

select
    m.grain, m.period_start,
    {lit(top.outcome.funnel + "." + top.outcome.factor)} as outcome,
    m.metric_kind, m.metric,
    count(m.value) filter (where g.is_top) as top_reps,
    count(m.value) filter (where not g.is_top) as rest_reps,
    avg(m.value) filter (where g.is_top) as top_average,
    avg(m.value) filter (where not g.is_top) as rest_average,
    avg(m.value) filter (where g.is_top)
        / nullif(avg(m.value) filter (where not g.is_top), 0) as ratio
from metrics as m
inner join groups as g using (grain, period_start, rep_id)
group by m.grain, m.period_start, m.metric_kind, m.metric
"""
    )
