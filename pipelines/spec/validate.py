"""Cross-reference checks of loaded definitions: entities, columns, dimensions, names, filters."""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import available_timezones

from pipelines.ingest.contract import Kind
from pipelines.spec.catalog import CATALOG
from pipelines.spec.expressions import ExpressionError, check_expression, did_you_mean
from pipelines.spec.models import EventSource, Funnel

if TYPE_CHECKING:
    from pipelines.spec.loader import Definitions, Located, Path_, Problem

BUILTIN_DIMENSIONS = ("all",)


def check_references(defs: Definitions) -> list[Problem]:
    problems: list[Problem] = []
    if defs.settings.reporting_timezone not in available_timezones():
        located = _settings_origin(defs)
        if located is not None:
            tz = defs.settings.reporting_timezone
            problems.append(
                located[0].problem(
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
    return problems


def _settings_origin(defs: Definitions) -> tuple[Located, Path_] | None:
    for located, _ in defs.origins.values():
        if isinstance(located.data, dict) and "settings" in located.data:
            return located, ("settings",)
    for path in sorted(defs.directory.glob("*.y*ml")):
        from pipelines.spec.loader import parse_yaml

        located = parse_yaml(path.read_text(encoding="utf-8"), str(path))
        if isinstance(located.data, dict) and "settings" in located.data:
            return located, ("settings",)
    return None


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
    for i, dim in enumerate(funnel.dimensions):
        if dim not in BUILTIN_DIMENSIONS and dim not in defs.dimensions:
            options = [*BUILTIN_DIMENSIONS, *defs.dimensions]
            problems.append(
                located.problem(
                    (*path, "dimensions", i),
                    f"unknown dimension `{dim}`{did_you_mean(dim, options)}",
                )
            )
    if len(set(funnel.dimensions)) != len(funnel.dimensions):
        problems.append(located.problem((*path, "dimensions"), "a dimension is listed twice"))
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


def _check_source(
    defs: Definitions, funnel: Funnel, source: EventSource, located: Located, path: Path_
) -> list[Problem]:
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
    for dim in funnel.dimensions:
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
