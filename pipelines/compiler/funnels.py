"""Render a declared funnel as a dbt model (SQL) and the union of all funnels' factors.

The SQL is plain and portable: per stage, events are reduced to one row per local date and
dimension members, then rolled up to every grain through a small period map; distinct counts count
each value on its first day in a period (its previous day is none or in an earlier period), so they
stay exact at every grain; a cohort whose first stage is a period funnel's distinct count reads it
from that funnel's model. Cross-database pieces go through dbt macros (`to_reporting_date`,
`period_start` → `dbt.date_trunc`). Identifiers are quoted; filters are sqlglot's rendering of the
checked expression, never the user's text.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.db import lit, q
from pipelines.ingest.contract import ENTITIES
from pipelines.spec.catalog import CATALOG, COUNTED_AS, DETERMINED_BY
from pipelines.spec.expressions import check_expression
from pipelines.spec.loader import Definitions
from pipelines.spec.models import Funnel, Stage, Value

from .header import header
from .incremental import (
    CHANGED_PERIODS_MODEL,
    incremental_config,
    incremental_event_filter,
    incremental_period_filter,
)


def funnel_model_name(funnel_name: str) -> str:
    return f"funnel_{funnel_name}"


@dataclass(frozen=True)
class DimensionColumn:
    dimension: str
    expression: str  # SQL over the events CTE, giving the member


def _dimension_columns(defs: Definitions, funnel: Funnel) -> list[DimensionColumn]:
    out = []
    for dim in funnel.dimensions:
        if dim == "all":
            out.append(DimensionColumn("all", "'all'"))
        else:
            out.append(DimensionColumn(dim, f"cast({q(defs.dimensions[dim].column)} as varchar)"))
    return out


def _events_sql(
    defs: Definitions, item: Stage | Value, dims: list[DimensionColumn], measure_sql: str
) -> str:
    tz = defs.settings.reporting_timezone
    parts = []
    for source in item.event_sources:
        entity = CATALOG[source.entity]
        time = source.time or entity.event_time
        conditions = [f"{q(time)} is not null"]
        if source.where:
            conditions.append(f"({check_expression(source.where, list(entity.columns))})")
        dim_select = "".join(
            f",\n        {d.expression} as {q('dim_' + d.dimension)}" for d in dims
        )
        date_sql = f"{{{{ to_reporting_date({lit(q(time))}, {lit(tz)}) }}}}"
        parts.append(
            f"    select\n"
            f"        {date_sql} as event_date{dim_select},\n"
            f"        {measure_sql} as measure\n"
            f"    from {{{{ ref({lit(entity.model)}) }}}}\n"
            f"    where {' and '.join(conditions)}\n"
            f"        {incremental_event_filter(date_sql)}"
        )
    return "\n    union all\n".join(parts)


def _measure(item: Stage | Value) -> tuple[str, str, str]:
    """(per-event measure, daily reduction, period aggregation) for a stage or the value."""
    if isinstance(item, Value):
        return f"cast({q(item.sum)} as double)", "sum(measure)", "sum(measure)"
    if item.count_distinct:
        number = counted_number(item)
        measure = q(number) if number else f"cast({q(item.count_distinct)} as varchar)"
        return measure, None, "count(distinct measure)"
    return "1", "count(*)", "sum(measure)"


def counted_number(item: Stage) -> str | None:
    """The column holding the counted pseudonym as a number, when every source has one
    (`catalog.COUNTED_AS`): counting it gives the same count over a fixed-width value."""
    numbers = {COUNTED_AS.get((s.entity, item.count_distinct)) for s in item.event_sources}
    return numbers.pop() if len(numbers) == 1 and None not in numbers else None


def _stage_ctes(
    defs: Definitions, funnel: Funnel, item: Stage | Value, cte: str, dims: list[DimensionColumn]
) -> tuple[str, str]:
    """(CTEs reducing events to daily rows, CTE rolling them up to every grain and dimension)."""
    measure, daily, rollup = _measure(item)
    dim_cols = ", ".join(q("dim_" + d.dimension) for d in dims)
    if daily is None:  # distinct counts: keep each (day, members, value) once
        reduce = f"select distinct event_date, {dim_cols}, measure from {cte}_events"
    else:
        reduce = (
            f"select event_date, {dim_cols}, {daily} as measure\n"
            f"    from {cte}_events\n    group by event_date, {dim_cols}"
        )
    daily_ctes = (
        f"{cte}_events as (\n{_events_sql(defs, item, dims, measure)}\n),\n\n"
        f"{cte}_daily as (\n    {reduce}\n)"
    )
    if daily is None:
        return daily_ctes, distinct_rollup_cte(
            cte,
            dims,
            _grains(defs, funnel),
            incremental=True,
            determined=determined_dimensions(defs, item),
            numbered=counted_number(item) is not None,
        )
    return daily_ctes, _rollup_cte(cte, dims, rollup)


def _rollup_cte(cte: str, dims: list[DimensionColumn], rollup: str) -> str:
    """Roll `<cte>_daily` (event_date, dim_*, measure) up to every grain and dimension."""
    rollups = "\n    union all\n".join(
        f"    select p.grain, p.period_start, {lit(d.dimension)} as dimension, "
        f"e.{q('dim_' + d.dimension)} as member, {rollup} as value\n"
        f"    from {cte}_daily as e\n"
        f"    inner join periods as p on p.event_date = e.event_date\n"
        f"    group by p.grain, p.period_start, e.{q('dim_' + d.dimension)}"
        for d in dims
    )
    return f"{cte} as (\n{rollups}\n)"


def determined_dimensions(defs: Definitions, item: Stage) -> frozenset[str]:
    """The dimensions whose member is a function of the stage's counted value in every source."""
    determined = {"all"}
    for dim, dimension in defs.dimensions.items():
        if all(
            dimension.column in DETERMINED_BY.get((s.entity, item.count_distinct), ())
            for s in item.event_sources
        ):
            determined.add(dim)
    return frozenset(determined)


def _grains(defs: Definitions, funnel: Funnel) -> list[str]:
    return list(funnel.grains or defs.settings.grains)


def distinct_rollup_cte(
    cte: str,
    dims: list[DimensionColumn],
    grains: list[str],
    *,
    incremental: bool,
    determined: frozenset[str] = frozenset(),
    numbered: bool = False,
) -> str:
    """Distinct counts of `<cte>_daily` (event_date, dim_*, measure) at every grain and dimension.

    Exact, without one deduplication of (period, member, value) per grain and dimension (20 passes
    over the raw rows for four dimensions and five grains, which spilled tens of GB at SF 10). A
    value counts in a period, under a member, on its first day there: the day whose previous day
    (for that member and value) is none or lies in an earlier period. So, per dimension, one window
    gives each (member, value, day) its previous day; the rows are then reduced to
    (dimension, member, day, previous day) -> how many values, a small table from which every grain
    is counted. The values are numbered first (`<cte>_ids`) so the window partitions on integers
    instead of long strings; `numbered` values (a pseudonym as a number: `catalog.COUNTED_AS`)
    are numbers already and skip that step. Null values are not counted, as with
    `count(distinct)`; a period and member whose values are all null has no row (the funnel drops
    first-stage rows with no count, and a later stage's missing row reads as 0).

    `determined` names dimensions whose member is a function of the counted value (`all`, and a
    web visitor's first touch: `catalog.DETERMINED_BY`). With two or more of them, their previous
    days are the value's own: one window over (value, day), carrying those members along, serves
    them all, and one grouping-sets aggregate gives their rows (the inbound funnel's visitors took
    four windows over ~5 M visitor-days at SF 1, ~50 M at SF 10; now two).
    """
    shared = [d for d in dims if d.dimension in determined]
    if len(shared) < 2:
        shared = []
    one = ", 1 as value" if shared else ""  # the shared rows come counted
    days = [
        f"        select {lit(d.dimension)} as dimension, member, event_date,\n"
        f"            lag(event_date) over (partition by member, measure order by event_date)"
        f" as previous_date{one}\n"
        f"        from (select distinct {q('dim_' + d.dimension)} as member, measure, event_date "
        f"from {cte}_keyed) as member_days"
        for d in dims
        if d not in shared
    ]
    value_ctes = ""
    if shared:
        cols = [q("dim_" + d.dimension) for d in shared]
        dimension = " ".join(
            f"when grouping({c}) = 0 then {lit(d.dimension)}"
            for c, d in zip(cols, shared, strict=True)
        )
        member = " ".join(f"when grouping({c}) = 0 then {c}" for c in cols)
        sets = ", ".join(f"(event_date, previous_date, {c})" for c in cols)
        days.insert(
            0,
            f"        select case {dimension} end as dimension,\n"
            f"            case {member} end as member,\n"
            f"            event_date, previous_date, count(*) as value\n"
            f"        from {cte}_value_days\n"
            f"        group by grouping sets ({sets})",
        )
        value_ctes = (
            f"{cte}_value_days as (\n"
            f"    -- each (value, day) with the value's previous day, for every dimension whose\n"
            f"    -- member is the value's own ({', '.join(d.dimension for d in shared)}): the\n"
            f"    -- members ride along, as (value, day, members) has one row per (value, day)\n"
            f"    select measure, event_date, {', '.join(cols)},\n"
            f"        lag(event_date) over (partition by measure order by event_date)"
            f" as previous_date\n"
            f"    from (select distinct measure, event_date, {', '.join(cols)} from {cte}_keyed)"
            f" as value_days\n"
            f"),\n\n"
        )
    days = "\n        union all\n".join(days)
    count = "sum(value)" if shared else "count(*)"
    branches = []
    for grain in grains:
        start = f"{{{{ period_start({lit(grain)}, 'event_date') }}}}"
        previous = f"{{{{ period_start({lit(grain)}, 'previous_date') }}}}"
        branches.append(
            f"    select {lit(grain)} as grain, period_start, dimension, member, sum(value) as value\n"
            f"    from (\n        select {start} as period_start, {previous} as previous_start,\n"
            f"            dimension, member, value\n        from {cte}_first_days\n"
            f"    ) as first_days\n"
            f"    where previous_start is null or previous_start <> period_start\n"
            f"    group by period_start, dimension, member"
        )
    rollup = "\n    union all\n".join(branches)
    if incremental:
        periods = f"{{{{ ref({lit(CHANGED_PERIODS_MODEL)}) }}}}"
        rollup = (
            f"    select * from (\n{rollup}\n    ) as all_periods\n"
            "    {% if is_incremental() %}\n"
            f"    where (grain, period_start) in (select grain, period_start from {periods})\n"
            "    {% endif %}"
        )
    dim_cols = ", ".join(f"d.{q('dim_' + d.dimension)}" for d in dims)
    if numbered:
        keyed = (
            f"{cte}_keyed as (\n"
            f"    select d.event_date, {dim_cols}, d.measure\n"
            f"    from {cte}_daily as d\n"
            f"    where d.measure is not null\n"
            f"),\n\n"
        )
    else:
        keyed = (
            f"{cte}_ids as (\n"
            f"    select measure, row_number() over () as measure_id\n"
            f"    from (select distinct measure from {cte}_daily where measure is not null) as v\n"
            f"),\n\n"
            f"{cte}_keyed as (\n"
            f"    select d.event_date, {dim_cols}, i.measure_id as measure\n"
            f"    from {cte}_daily as d\n"
            f"    inner join {cte}_ids as i on i.measure = d.measure\n"
            f"),\n\n"
        )
    return (
        f"{keyed}"
        f"{value_ctes}"
        f"{cte}_first_days as (\n"
        f"    select dimension, member, event_date, previous_date, {count} as value\n"
        f"    from (\n{days}\n    ) as days\n"
        f"    group by dimension, member, event_date, previous_date\n"
        f"),\n\n"
        f"{cte} as (\n{rollup}\n)"
    )


def _sources_key(item: Stage | Value) -> tuple:
    return tuple(
        (s.entity, s.time or CATALOG[s.entity].event_time, s.where) for s in item.event_sources
    )


def shared_first_stage(defs: Definitions, name: str) -> str | None:
    """The period funnel whose first-stage counts a cohort funnel can read instead of counting.

    A cohort's first stage counts its events per period like a period funnel does. When it is a
    distinct count (the expensive kind: distinct web visitors) and a period funnel declares the
    same first stage (same sources, filters and counted column) for a superset of its dimensions
    (with the same member expressions) and grains, the cohort selects those counts from that
    funnel's model instead of counting the visitors again.
    """
    funnel = defs.funnels[name]
    first = funnel.stages[0]
    if funnel.kind != "cohort" or first.count_distinct is None:
        return None
    dims = set(_dimension_columns(defs, funnel))
    for other_name, other in defs.funnels.items():
        candidate = other.stages[0]
        if (
            other.kind == "period"
            and candidate.count_distinct == first.count_distinct
            and _sources_key(candidate) == _sources_key(first)
            and dims <= set(_dimension_columns(defs, other))
            and set(_grains(defs, funnel)) <= set(_grains(defs, other))
        ):
            return other_name
    return None


def _shared_first_stage_cte(
    defs: Definitions, funnel: Funnel, dims: list[DimensionColumn], source: str
) -> str:
    """`stage_1` read from the period funnel `source` (see `shared_first_stage`)."""
    other = defs.funnels[source]
    dimensions = ", ".join(lit(d.dimension) for d in dims)
    grains = ", ".join(lit(g) for g in _grains(defs, funnel))
    return (
        f"stage_1 as (\n"
        f"    -- the same first stage as funnel `{source}`: its counts, not counted again\n"
        f"    select grain, period_start, dimension, member, {q(other.stages[0].name)} as value\n"
        f"    from {{{{ ref({lit(funnel_model_name(source))}) }}}}\n"
        f"    where dimension in ({dimensions}) and grain in ({grains})\n"
        f")"
    )


def _cohort_ctes(
    defs: Definitions, funnel: Funnel, dims: list[DimensionColumn], shared: str | None
) -> list[tuple[str, str]]:
    """Follow first-stage events through later stages within their windows.

    Each later event is credited once, to the closest preceding event of the stage before that
    shares its `linked_by` value and lies within `within_days`; it is counted in the period and
    under the members of the first-stage event its chain starts from.
    """
    tz = defs.settings.reporting_timezone
    stages = funnel.stages
    dim_cols = ", ".join(q("dim_" + d.dimension) for d in dims)
    base_dims = ", ".join(f"b.{q('dim_' + d.dimension)}" for d in dims)
    out: list[tuple[str, str]] = []
    # Stage 1: the base events; `link_out` is what the next stage links on.
    next_link = stages[1].linked_by
    measure, daily, rollup = _measure(stages[0])
    parts = []
    for position, source in enumerate(stages[0].event_sources, start=1):
        entity = CATALOG[source.entity]
        time = source.time or entity.event_time
        # (source position, id) breaks ties between events at one instant with one link, so the
        # chain a later event is credited to never depends on how the database sorts equal keys.
        key = q(ENTITIES[source.entity].id_column)
        conditions = [f"{q(time)} is not null"]
        if source.where:
            conditions.append(f"({check_expression(source.where, list(entity.columns))})")
        dim_select = "".join(f", {d.expression} as {q('dim_' + d.dimension)}" for d in dims)
        parts.append(
            f"    select {q(time)} as event_at,\n"
            f"        {{{{ to_reporting_date({lit(q(time))}, {lit(tz)}) }}}} as event_date"
            f"{dim_select},\n"
            f"        cast({q(next_link)} as varchar) as link_out, {measure} as measure,\n"
            f"        {position} as source_position, cast({key} as varchar) as source_key\n"
            f"    from {{{{ ref({lit(entity.model)}) }}}}\n    where {' and '.join(conditions)}"
        )
    base = "\n    union all\n".join(parts)
    reduce = (
        f"select distinct event_date, {dim_cols}, measure from stage_1_events"
        if daily is None
        else f"select event_date, {dim_cols}, {daily} as measure from stage_1_events "
        f"group by event_date, {dim_cols}"
    )
    events = (
        f"stage_1_events as (\n    select *\n    from (\n{base}\n    ) as base_events\n),\n\n"
        # A chain is named by its first event, (time, link, source position, id): unique, and
        # ordered without numbering (and so sorting) every first-stage event.
        "stage_1_credited as (\n    select event_at as chain_at, link_out as chain_link, "
        "source_position as chain_position, source_key as chain_key,\n"
        f"        event_at, event_date, {dim_cols}, link_out from stage_1_events\n)"
    )
    if shared is not None:  # the counts come from the period funnel: no daily rows needed
        out.append((events, _shared_first_stage_cte(defs, funnel, dims, shared)))
    else:
        out.append(
            (
                f"{events},\n\nstage_1_daily as (\n    {reduce}\n)",
                distinct_rollup_cte(
                    "stage_1",
                    dims,
                    _grains(defs, funnel),
                    incremental=False,
                    determined=determined_dimensions(defs, stages[0]),
                    numbered=counted_number(stages[0]) is not None,
                )
                if daily is None
                else _rollup_cte("stage_1", dims, rollup),
            )
        )
    for k, stage in enumerate(stages[1:], start=2):
        source = stage.event_sources[0]
        entity = CATALOG[source.entity]
        time = source.time or entity.event_time
        conditions = [f"{q(time)} is not null", f"{q(stage.linked_by)} is not null"]
        if source.where:
            conditions.append(f"({check_expression(source.where, list(entity.columns))})")
        link_out = (
            f"cast({q(stages[k].linked_by)} as varchar)"
            if k < len(stages)
            else "cast(null as varchar)"
        )
        value_measure = "cast(null as double)"
        if k == len(stages):
            value = funnel.value
            amount = f"cast({q(value.sum)} as double)"
            value_measure = (
                f"case when ({check_expression(value.where, list(entity.columns))}) "
                f"then {amount} else 0 end"
                if value.where
                else amount
            )
        out.append(
            (
                f"stage_{k}_events as (\n"
                f"    select row_number() over (order by {q(time)}, {q(stage.linked_by)}) as event_id,\n"
                f"        {q(time)} as event_at, cast({q(stage.linked_by)} as varchar) as link_in,\n"
                f"        {link_out} as link_out, {value_measure} as value_measure\n"
                f"    from {{{{ ref({lit(entity.model)}) }}}}\n"
                f"    where {' and '.join(conditions)}\n),\n\n"
                f"stage_{k}_credited as (\n"
                f"    select b.chain_at, b.chain_link, b.chain_position, b.chain_key,\n"
                f"        e.event_at, b.event_date, {base_dims}, e.link_out, e.value_measure\n"
                f"    from stage_{k}_events as e\n"
                f"    inner join stage_{k - 1}_credited as b\n"
                f"        on b.link_out = e.link_in and e.event_at >= b.event_at\n"
                f"        and e.event_at <= b.event_at + interval {stage.within_days} day\n"
                f"    qualify row_number() over (\n"
                f"        partition by e.event_id order by b.event_at desc, b.chain_at desc,\n"
                f"            b.chain_link desc, b.chain_position desc, b.chain_key desc) = 1\n"
                f"),\n\n"
                f"stage_{k}_daily as (\n"
                f"    select event_date, {dim_cols}, count(*) as measure\n"
                f"    from stage_{k}_credited group by event_date, {dim_cols}\n)",
                _rollup_cte(f"stage_{k}", dims, "sum(measure)"),
            )
        )
    last = len(stages)
    out.append(
        (
            f"value_total_daily as (\n"
            f"    select event_date, {dim_cols}, sum(value_measure) as measure\n"
            f"    from stage_{last}_credited group by event_date, {dim_cols}\n)",
            _rollup_cte("value_total", dims, "sum(measure)"),
        )
    )
    return out


def period_map_sql(grains) -> str:
    """SQL mapping each `event_dates.event_date` to its period start at every grain."""
    return "\n    union all\n".join(
        f"    select event_date, {lit(g)} as grain, {{{{ period_start({lit(g)}, 'event_date') }}}} "
        "as period_start from event_dates"
        for g in grains
    )


def render_funnel_model(defs: Definitions, name: str) -> str:
    funnel = defs.funnels[name]
    dims = _dimension_columns(defs, funnel)
    grains = funnel.grains or defs.settings.grains
    items: list[tuple[str, Stage | Value]] = [
        (f"stage_{i + 1}", s) for i, s in enumerate(funnel.stages)
    ]
    items.append(("value_total", funnel.value))
    shared = shared_first_stage(defs, name)
    if funnel.kind == "cohort":
        ctes = _cohort_ctes(defs, funnel, dims, shared)
    else:
        ctes = [_stage_ctes(defs, funnel, item, cte, dims) for cte, item in items]
    rolled_up = items[1:] if shared else items  # a shared first stage needs no period map
    dates = "\n    union\n".join(f"    select event_date from {cte}_daily" for cte, _ in rolled_up)
    periods = period_map_sql(grains)
    keys = "grain, period_start, dimension, member"
    joins = "\n".join(f"left join {cte} using ({keys})" for cte, _ in items[1:])
    stage_cols = [f"    cast(stage_1.value as bigint) as {q(funnel.stages[0].name)}"]
    stage_cols += [
        f"    cast(coalesce(stage_{i + 1}.value, 0) as bigint) as {q(s.name)}"
        for i, s in enumerate(funnel.stages[1:], start=1)
    ]
    total = "coalesce(value_total.value, 0)"
    factor_names = funnel.factor_names()
    factors = []  # the first factor is the first stage's count, already a column
    for i in range(1, len(funnel.stages)):
        factors.append(
            f"    coalesce(stage_{i + 1}.value, 0) / nullif(cast({_stage_value(i)} as double), 0) "
            f"as {q(factor_names[i])}"
        )
    last = _stage_value(len(funnel.stages))
    factors.append(f"    {total} / nullif(cast({last} as double), 0) as {q(factor_names[-2])}")
    factors.append(f"    cast({total} as double) as {q(factor_names[-1])}")
    incremental = funnel.kind != "cohort"  # cohort chains cross periods: rebuilt whole
    if incremental:
        factors.append("    '{{ invocation_id }}' as computed_in")
        config = incremental_config()
        periods = f"    select * from (\n{periods}\n    ) as all_periods\n    {incremental_period_filter()}"
    else:
        config = "{{ config(materialized='table') }}\n"
    columns = ",\n".join(stage_cols + factors)
    origin = defs.origin_of("funnel", name)
    return (
        header(_origin_file(origin, defs), f"funnel `{name}`")
        + "\n"
        + config
        + "\nwith\n\n"
        + ",\n\n".join(daily for daily, _ in ctes)
        + ",\n\nevent_dates as (\n"
        + dates
        + "\n),\n\nperiods as (\n"
        + periods
        + "\n),\n\n"
        + ",\n\n".join(rollup for _, rollup in ctes)
        + "\n\n"
        + f"select\n    {lit(name)} as funnel,\n    grain,\n    period_start,\n    dimension,\n"
        + f"    member,\n{columns}\nfrom stage_1\n{joins}\nwhere stage_1.value > 0\n"
    )


def _stage_value(i: int) -> str:
    return "stage_1.value" if i == 1 else f"coalesce(stage_{i}.value, 0)"


def _origin_file(origin: str, defs: Definitions) -> str:
    file = origin.rsplit(":", 1)[0]
    return f"{defs.directory.name}/{file.rsplit('/', 1)[-1]}"


def render_factors_model(defs: Definitions) -> str:
    parts = []
    for name, funnel in defs.funnels.items():
        for position, factor in enumerate(funnel.factor_names(), start=1):
            parts.append(
                f"select {lit(name)} as funnel, grain, period_start, dimension, member, "
                f"{lit(factor)} as factor, {position} as position, "
                f"cast({q(factor)} as double) as value\n"
                f"from {{{{ ref({lit(funnel_model_name(name))}) }}}}"
            )
    files = sorted({_origin_file(defs.origin_of("funnel", n), defs) for n in defs.funnels})
    return (
        header(", ".join(files), "all funnels")
        + "\n{{ config(materialized='table') }}\n\n"
        + "\nunion all\n".join(parts)
        + "\n"
    )
