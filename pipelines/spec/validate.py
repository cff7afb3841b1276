"""Cross-reference checks of loaded definitions: entities, columns, dimensions, names, filters,
KPI references and cycles, targets, the top-performer outcome."""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import available_timezones

from pipelines.ingest.contract import Kind
from pipelines.spec.catalog import CATALOG
from pipelines.spec.expressions import ExpressionError, check_expression, did_you_mean
from pipelines.spec.models import Funnel

if TYPE_CHECKING:
    from pipelines.spec.loader import Definitions, Located, Path_, Problem

BUILTIN_DIMENSIONS = ("all",)


def check_references(defs: Definitions) -> list[Problem]:
    problems: list[Problem] = []
    tz = defs.settings.reporting_timezone
    if tz not in available_timezones() and ("section", "settings") in defs.origins:
        located, _ = defs.origins[("section", "settings")]
        problems.append(
            located.problem(
                ("settings", "reporting_timezone"),
                f"unknown time zone `{tz}`{did_you_mean(tz, available_timezones())}",
            )
        )
    for name in defs.dimensions:
        located, path = defs.origins[("dimension", name)]
        if name in BUILTIN_DIMENSIONS:
            problems.append(located.problem(path, f"`{name}` is built in and cannot be redeclared"))
    for name, funnel in defs.funnels.items():
        located, key_path = defs.origins[("funnel", name)]
        problems += _check_funnel(defs, name, funnel, located, key_path[:-1])
    problems += _check_kpis(defs)
    for name, points in defs.activity_points.items():
        located, key_path = defs.origins[("activity_points", name)]
        for i, activity in enumerate(points.activities):
            path = (*key_path[:-1], "activities", i)
            problems += _check_source(defs, None, activity, located, path)
    if defs.top_performers is not None:
        problems += _check_top_performers(defs)
    return problems


def _check_dimensions(defs: Definitions, dims, entity_name, located, path) -> list[Problem]:
    problems = []
    for i, dim in enumerate(dims):
        if dim not in BUILTIN_DIMENSIONS and dim not in defs.dimensions:
            options = [*BUILTIN_DIMENSIONS, *defs.dimensions]
            problems.append(
                located.problem(
                    (*path, "dimensions", i),
                    f"unknown dimension `{dim}`{did_you_mean(dim, options)}",
                )
            )
        elif entity_name in CATALOG and dim in defs.dimensions:
            column = defs.dimensions[dim].column
            if column not in CATALOG[entity_name].columns:
                problems.append(
                    located.problem(
                        (*path, "dimensions", i),
                        f"dimension `{dim}` needs column `{column}`, "
                        f"which `{entity_name}` does not have",
                    )
                )
    return problems


def _check_kpis(defs: Definitions) -> list[Problem]:
    problems: list[Problem] = []
    for name, kpi in defs.kpis.items():
        located, key_path = defs.origins[("kpi", name)]
        path = key_path[:-1]
        if kpi.measure == "ratio":
            for side in ("numerator", "denominator"):
                ref = getattr(kpi, side)
                if ref not in defs.kpis and ("kpi", ref) not in defs.origins:
                    problems.append(
                        located.problem(
                            (*path, side),
                            f"`{side}` refers to unknown KPI `{ref}`{did_you_mean(ref, defs.kpis)}",
                        )
                    )
        else:
            problems += _check_source(defs, None, kpi, located, path)
            entity = CATALOG.get(kpi.entity)
            if entity is not None and kpi.expression is not None:
                try:
                    check_expression(kpi.expression, list(entity.columns), what="expression")
                except ExpressionError as exc:
                    problems.append(located.problem((*path, "expression"), str(exc)))
        problems += _check_dimensions(defs, kpi.dimensions, kpi.entity, located, path)
        for i, target in enumerate(kpi.targets):
            where = defs.origins.get(("target", f"{name}:{i}"))
            t_located, t_path = where if where else (located, (*path, "targets", i))
            if kpi.is_total and target.grain is None:
                problems.append(
                    t_located.problem(
                        t_path,
                        f"KPI `{name}` is a total per period: its target needs a `grain` "
                        "(e.g. grain: month)",
                    )
                )
            if not kpi.is_total and target.grain is not None:
                problems.append(
                    t_located.problem(
                        (*t_path, "grain"),
                        f"KPI `{name}` is a rate or per working day: its target takes no `grain`",
                    )
                )
    problems += _ratio_cycles(defs)
    return problems


def _ratio_cycles(defs: Definitions) -> list[Problem]:
    problems = []
    edges = {n: [k.numerator, k.denominator] for n, k in defs.kpis.items() if k.measure == "ratio"}
    reported: set[frozenset[str]] = set()
    for start in edges:
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in edges.get(node, []):
                if nxt == start:
                    cycle = frozenset(trail)
                    if cycle not in reported:
                        reported.add(cycle)
                        located, key_path = defs.origins[("kpi", start)]
                        problems.append(
                            located.problem(
                                key_path,
                                "KPIs refer to each other in a cycle: "
                                + " → ".join([*trail, start]),
                            )
                        )
                elif nxt in edges and nxt not in trail:
                    stack.append((nxt, [*trail, nxt]))
    return problems


def _check_top_performers(defs: Definitions) -> list[Problem]:
    top = defs.top_performers
    located, key_path = defs.origins[("section", "top_performers")]
    path = key_path[:-1]
    outcome = top.outcome
    funnel = defs.funnels.get(outcome.funnel)
    if funnel is None:
        if ("funnel", outcome.funnel) in defs.origins:
            return []  # declared but broken: reported where it is declared
        return [
            located.problem(
                (*path, "outcome", "funnel"),
                f"unknown funnel `{outcome.funnel}`{did_you_mean(outcome.funnel, defs.funnels)}",
            )
        ]
    problems = []
    factors = funnel.factor_names()
    if outcome.factor not in factors:
        problems.append(
            located.problem(
                (*path, "outcome", "factor"),
                f"funnel `{outcome.funnel}` has no factor `{outcome.factor}`"
                f"{did_you_mean(outcome.factor, factors)}",
            )
        )
    if "rep" not in funnel.dimensions:
        problems.append(
            located.problem(
                (*path, "outcome", "funnel"),
                f"funnel `{outcome.funnel}` is not published per rep: add `rep` to its dimensions",
            )
        )
    return problems


def _check_funnel(
    defs: Definitions, name: str, funnel: Funnel, located: Located, path: Path_
) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, Path_] = {}
    entries = [(s.name, (*path, "stages", i, "name")) for i, s in enumerate(funnel.stages)]
    later_factors = funnel.factor_names()[1 : len(funnel.stages)]
    entries += [(f, (*path, "stages", i, "factor")) for i, f in enumerate(later_factors, start=1)]
    entries += [(funnel.value.factor, (*path, "value", "factor"))]
    entries += [(funnel.value.name, (*path, "value", "name"))]
    for n, p in entries:
        if n in seen:
            problems.append(located.problem(p, f"name `{n}` is used twice in funnel `{name}`"))
        seen[n] = p
    problems += _check_dimensions(defs, funnel.dimensions, None, located, path)
    if len(set(funnel.dimensions)) != len(funnel.dimensions):
        problems.append(located.problem((*path, "dimensions"), "a dimension is listed twice"))
    problems += _check_cohort(funnel, located, path)
    measured = [(s, (*path, "stages", i)) for i, s in enumerate(funnel.stages)]
    measured.append((funnel.value, (*path, "value")))
    for item, item_path in measured:
        for j, source in enumerate(item.event_sources):
            src_path = item_path if item.sources is None else (*item_path, "sources", j)
            problems += _check_source(defs, funnel, source, located, src_path)
            entity = CATALOG.get(source.entity)
            if entity is None:
                continue
            distinct = getattr(item, "count_distinct", None)
            if distinct and distinct not in entity.columns:
                problems.append(
                    located.problem(
                        (*item_path, "count_distinct"),
                        f"unknown column `{distinct}` of `{source.entity}`"
                        f"{did_you_mean(distinct, entity.columns)}",
                    )
                )
            total = getattr(item, "sum", None)
            if total is not None:
                if total not in entity.columns:
                    problems.append(
                        located.problem(
                            (*item_path, "sum"),
                            f"unknown column `{total}` of `{source.entity}`"
                            f"{did_you_mean(total, entity.columns)}",
                        )
                    )
                elif entity.columns[total] is not Kind.NUMBER:
                    problems.append(
                        located.problem((*item_path, "sum"), f"`{total}` is not a numeric column")
                    )
    return problems


def _check_cohort(funnel: Funnel, located: Located, path: Path_) -> list[Problem]:
    problems: list[Problem] = []
    for i, stage in enumerate(funnel.stages):
        stage_path = (*path, "stages", i)
        cohort_keys = stage.linked_by is not None or stage.within_days is not None
        if funnel.kind == "period" or i == 0:
            if cohort_keys:
                where = "the first stage" if funnel.kind == "cohort" else "a period funnel"
                problems.append(
                    located.problem(
                        stage_path, f"`linked_by`/`within_days` do not apply to {where}"
                    )
                )
            continue
        if stage.linked_by is None or stage.within_days is None:
            problems.append(
                located.problem(
                    stage_path, "a cohort stage needs `linked_by` (a column) and `within_days`"
                )
            )
            continue
        if stage.sources is not None and len(stage.sources) > 1:
            problems.append(located.problem(stage_path, "a cohort stage takes a single `entity`"))
            continue
        for entity_name, where in [
            (stage.event_sources[0].entity, "this stage's"),
            *[(s.entity, "the previous stage's") for s in funnel.stages[i - 1].event_sources],
        ]:
            entity = CATALOG.get(entity_name)
            if entity is not None and stage.linked_by not in entity.columns:
                problems.append(
                    located.problem(
                        (*stage_path, "linked_by"),
                        f"`{stage.linked_by}` is not a column of {where} entity `{entity_name}`",
                    )
                )
    if funnel.kind == "cohort":
        last = funnel.stages[-1].event_sources[0].entity
        if funnel.value.sources is not None or funnel.value.entity != last:
            problems.append(
                located.problem(
                    (*path, "value"),
                    f"a cohort funnel's value sums its last stage's events: use entity `{last}`",
                )
            )
    return problems


def _check_source(
    defs: Definitions, funnel: Funnel | None, source, located: Located, path: Path_
) -> list[Problem]:
    """Check an event source: a funnel stage, a KPI or a points activity (entity/time/where)."""
    entity = CATALOG.get(source.entity)
    if entity is None:
        return [
            located.problem(
                (*path, "entity"),
                f"unknown entity `{source.entity}`{did_you_mean(source.entity, CATALOG)}",
            )
        ]
    problems: list[Problem] = []
    time = source.time or entity.event_time
    if time is None:
        problems.append(located.problem(path, f"`{source.entity}` has no event time: give `time`"))
    elif time not in entity.columns or entity.columns[time] is not Kind.TIMESTAMP:
        problems.append(
            located.problem(
                (*path, "time"),
                f"`{time}` is not a timestamp column of `{source.entity}`"
                f"{did_you_mean(time, entity.timestamp_columns())}",
            )
        )
    if source.where is not None:
        try:
            check_expression(source.where, list(entity.columns))
        except ExpressionError as exc:
            problems.append(
                located.problem((*path, "where"), f"in `where` of {source.entity}: {exc}")
            )
    for dim in funnel.dimensions if funnel else []:
        declared = defs.dimensions.get(dim)
        if declared is not None and declared.column not in entity.columns:
            problems.append(
                located.problem(
                    (*path, "entity"),
                    f"dimension `{dim}` needs column `{declared.column}`, "
                    f"which `{source.entity}` does not have",
                )
            )
    return problems
