"""Load `kpi_definitions/*.yml` into a `Definitions` object, or report every problem precisely.

YAML is composed into nodes first so that each value's file, line and column are known; pydantic
errors and cross-reference errors are then reported at the position of the value they concern.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pipelines.spec.models import (
    ActivityPoints,
    Calendar,
    Dimension,
    Funnel,
    Kpi,
    KpiTarget,
    Settings,
    Target,
    TopPerformers,
    is_name,
)

Path_ = tuple[str | int, ...]

TYPE_MESSAGES = {
    "bool_parsing": "true or false", "bool_type": "true or false",
    "float_parsing": "a number", "float_type": "a number", "int_parsing": "a whole number",
    "int_type": "a whole number", "string_type": "text", "list_type": "a list",
    "dict_type": "a mapping", "model_type": "a mapping of keys", "date_from_datetime_parsing":
    "a date (YYYY-MM-DD)", "date_parsing": "a date (YYYY-MM-DD)", "date_type": "a date (YYYY-MM-DD)",
}  # fmt: skip

# Words people reach for from other tools, and the key they mean here.
KEY_SYNONYMS = {
    "filter": "where", "condition": "where", "table": "entity", "model": "entity",
    "source": "entity", "timestamp": "time", "time_column": "time", "steps": "stages",
    "distinct": "count_distinct", "dims": "dimensions", "tz": "reporting_timezone",
    "timezone": "reporting_timezone",
}  # fmt: skip


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class DefinitionError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class Located:
    """Parsed YAML of one file plus the position of every value in it."""

    file: str
    data: Any
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def at(self, path: Path_) -> tuple[int, int]:
        """Position of the value at `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.positions:
                return self.positions[path[:end]]
        return (1, 1)

    def problem(self, path: Path_, message: str) -> Problem:
        line, col = self.at(path)
        return Problem(self.file, line, col, message)


@dataclass(frozen=True)
class Definitions:
    settings: Settings
    dimensions: dict[str, Dimension]
    funnels: dict[str, Funnel]
    origins: dict[tuple[str, str], tuple[Located, Path_]]  # ("funnel", name) -> where declared
    directory: Path
    calendar: Calendar = field(default_factory=Calendar)
    kpis: dict[str, Kpi] = field(default_factory=dict)
    activity_points: dict[str, ActivityPoints] = field(default_factory=dict)
    top_performers: TopPerformers | None = None

    def origin_of(self, kind: str, name: str) -> str:
        located, path = self.origins[(kind, name)]
        line, _ = located.at(path)
        return f"{located.file}:{line}"


class _Loader(yaml.SafeLoader):
    pass


def parse_yaml(text: str, file: str) -> Located:
    """Parse YAML text, recording the (line, column) of each value by its path."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise DefinitionError(
            [Problem(file, line, col, f"not valid YAML: {_yaml_msg(exc)}")]
        ) from None
    located = Located(file=file, data=None)
    if node is None:
        located.data = {}
        return located
    try:
        located.data = _convert(node, (), located, file)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise DefinitionError(
            [Problem(file, line, col, f"not valid YAML: {_yaml_msg(exc)}")]
        ) from None
    return located


def _yaml_msg(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or str(exc)
    return str(problem).strip()


def _convert(node: yaml.Node, path: Path_, located: Located, file: str) -> Any:
    located.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise DefinitionError(
                    [Problem(file, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                             "keys must be plain names")]
                )  # fmt: skip
            key = yaml.constructor.SafeConstructor.construct_scalar(_Loader(""), key_node)
            if key in out:
                raise DefinitionError(
                    [Problem(file, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                             f"duplicate key `{key}`")]
                )  # fmt: skip
            located.positions[(*path, key, "__key__")] = (
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
            out[key] = _convert(value_node, (*path, key), located, file)
            if isinstance(value_node, yaml.MappingNode | yaml.SequenceNode):
                # Problems with a whole section point at its key, not at its first item.
                located.positions[(*path, key)] = located.positions[(*path, key, "__key__")]
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(v, (*path, i), located, file) for i, v in enumerate(node.value)]
    loader = _Loader("")
    return loader.construct_object(node, deep=True)


def load_definitions(directory: Path) -> Definitions:
    """Load and check every `*.yml`/`*.yaml` file of a definitions folder."""
    from pipelines.spec.validate import check_references

    directory = Path(directory)
    files = sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])
    if not directory.is_dir():
        raise DefinitionError([Problem(str(directory), 1, 1, "definitions folder does not exist")])
    if not files:
        raise DefinitionError(
            [Problem(str(directory), 1, 1, "no *.yml files in definitions folder")]
        )
    problems: list[Problem] = []
    singletons: dict[str, Any] = {}
    dimensions: dict[str, Dimension] = {}
    funnels: dict[str, Funnel] = {}
    kpis: dict[str, Kpi] = {}
    points: dict[str, ActivityPoints] = {}
    loose_targets: list[tuple[Located, int, KpiTarget]] = []
    origins: dict[tuple[str, str], tuple[Located, Path_]] = {}
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
            located = parse_yaml(text, _display(path))
        except UnicodeDecodeError:
            problems.append(Problem(_display(path), 1, 1, "file is not UTF-8 text"))
            continue
        except DefinitionError as exc:
            problems += exc.problems
            continue
        if not isinstance(located.data, dict):
            problems.append(located.problem((), "the top level must be a mapping of sections"))
            continue
        problems += _validate_file(
            located, singletons, origins, loose_targets,
            {"dimensions": dimensions, "funnels": funnels, "kpis": kpis,
             "activity_points": points},
        )  # fmt: skip
    problems += _attach_targets(kpis, loose_targets, origins)
    definitions = Definitions(
        settings=singletons.get("settings") or Settings(),
        dimensions=dimensions,
        funnels=funnels,
        origins=origins,
        directory=directory,
        calendar=singletons.get("calendar") or Calendar(),
        kpis=kpis,
        activity_points=points,
        top_performers=singletons.get("top_performers"),
    )
    # Cross-references are checked on everything that parsed, so one run reports every mistake;
    # a reference into an item that failed to parse is not reported twice.
    failed = {(p.file, p.line) for p in problems}
    problems += [p for p in check_references(definitions) if (p.file, p.line) not in failed]
    if problems:
        raise DefinitionError(problems)
    return definitions


SINGLE_SECTIONS = {"settings": Settings, "calendar": Calendar, "top_performers": TopPerformers}
NAMED_SECTIONS = {
    "dimensions": ("dimension", Dimension),
    "funnels": ("funnel", Funnel),
    "kpis": ("kpi", Kpi),
    "activity_points": ("activity_points", ActivityPoints),
}


def _validate_file(
    located: Located,
    singletons: dict[str, Any],
    origins: dict[tuple[str, str], tuple[Located, Path_]],
    loose_targets: list[tuple[Located, int, KpiTarget]],
    named: dict[str, dict[str, Any]],
) -> list[Problem]:
    """Validate each item of a file on its own, so one bad item does not hide the others."""
    problems: list[Problem] = []
    allowed = [*SINGLE_SECTIONS, *NAMED_SECTIONS, "targets"]
    for section, raw in located.data.items():
        if section not in allowed:
            from pipelines.spec.expressions import did_you_mean

            hint = did_you_mean(str(section), allowed)
            problems.append(
                located.problem((section, "__key__"), f"unknown section `{section}`{hint}")
            )
            continue
        if section in SINGLE_SECTIONS:
            value = _validated(located, SINGLE_SECTIONS[section], raw, (section,), problems)
            if value is None:
                continue
            if section in singletons:
                earlier = origins[("section", section)][0]
                problems.append(
                    located.problem(
                        (section, "__key__"),
                        f"`{section}` is declared twice (first in {earlier.file})",
                    )
                )
                continue
            singletons[section] = value
            origins[("section", section)] = (located, (section, "__key__"))
        elif section == "targets":
            if not isinstance(raw, list):
                problems.append(located.problem((section,), "`targets` must be a list"))
                continue
            for i, item in enumerate(raw):
                target = _validated(located, KpiTarget, item, (section, i), problems)
                if target is not None:
                    loose_targets.append((located, i, target))
        else:
            kind, model = NAMED_SECTIONS[section]
            if raw is None:
                continue
            if not isinstance(raw, dict):
                problems.append(
                    located.problem((section,), f"`{section}` must be a mapping of names")
                )
                continue
            target = named[section]
            for name, item in raw.items():
                if not isinstance(name, str) or not is_name(name):
                    problems.append(
                        located.problem(
                            (section, name, "__key__"),
                            f"`{name}` is not a valid name: use lower-case letters, digits and _",
                        )
                    )
                    continue
                value = _validated(located, model, item, (section, name), problems)
                if (kind, name) in origins:
                    earlier = origins[(kind, name)]
                    problems.append(
                        located.problem(
                            (section, name, "__key__"),
                            f"duplicate {kind} name `{name}` (first declared in "
                            f"{earlier[0].file}:{earlier[0].at(earlier[1])[0]})",
                        )
                    )
                    continue
                origins[(kind, name)] = (located, (section, name, "__key__"))
                if value is not None:
                    target[name] = value
    return problems


def _validated(located: Located, model: Any, raw: Any, prefix: Path_, problems: list[Problem]):
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            err = {**err, "loc": (*prefix, *err["loc"])}
            problems.append(_pydantic_problem(located, err))
        return None


def _attach_targets(
    kpis: dict[str, Kpi],
    loose: list[tuple[Located, int, KpiTarget]],
    origins: dict[tuple[str, str], tuple[Located, Path_]],
) -> list[Problem]:
    """Move targets declared in a `targets:` list onto their KPIs."""
    from pipelines.spec.expressions import did_you_mean

    problems = []
    for located, index, target in loose:
        kpi = kpis.get(target.kpi)
        if kpi is None and ("kpi", target.kpi) in origins:
            continue  # the KPI is declared but broken: reported where it is declared
        if kpi is None:
            problems.append(
                located.problem(
                    ("targets", index, "kpi"),
                    f"target for unknown KPI `{target.kpi}`{did_you_mean(target.kpi, kpis)}",
                )
            )
            continue
        plain = Target(**target.model_dump(exclude={"kpi"}))
        kpis[target.kpi] = kpi.model_copy(update={"targets": [*kpi.targets, plain]})
        origins[("target", f"{target.kpi}:{len(kpis[target.kpi].targets) - 1}")] = (
            located,
            ("targets", index),
        )
    return problems


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _pydantic_problem(located: Located, err: dict) -> Problem:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    kind = err["type"]
    field_name = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        parent = loc[:-1]
        allowed = _allowed_keys(located, parent)
        from pipelines.spec.expressions import did_you_mean

        synonym = KEY_SYNONYMS.get(str(field_name))
        if synonym in allowed:
            hint = f": did you mean `{synonym}`?"
        else:
            hint = did_you_mean(str(field_name), allowed) if allowed else ""
        return located.problem((*loc, "__key__"), f"unknown key `{field_name}`{hint}")
    if kind == "missing":
        return located.problem(loc[:-1], f"`{field_name}` is required here")
    message = err["msg"].removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        message = f"`{err.get('input')}` is not a valid name: use lower-case letters, digits and _"
    elif kind == "literal_error":
        message = f"`{err.get('input')}` is not allowed: {message}"
    elif kind in TYPE_MESSAGES:
        message = f"expected {TYPE_MESSAGES[kind]}, got `{err.get('input')}`"
    where = ".".join(str(p) for p in loc)
    return located.problem(loc, f"{where}: {message}" if where else message)


def _allowed_keys(located: Located, parent: Path_) -> list[str]:
    from pipelines.spec import models

    # Walk the model tree along the path to find the fields allowed at `parent`.
    model: Any = models.DefinitionsFile
    for part in parent:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", None)
        if fields is None:
            return []
        if part in fields:
            model = _inner_model(fields[part].annotation)
        else:  # a dict key (funnel or dimension name)
            model = model if fields else None
    fields = getattr(model, "model_fields", None)
    return list(fields) if fields else []


def _inner_model(annotation: Any) -> Any:
    from typing import get_args

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
