"""Write the generated dbt files for a set of definitions, or check that they are up to date.

Generated files live in `kpi_models/models/kpis/` and start with a header naming their YAML. They
are committed, so SQL changes are reviewed; `kpi compile --check` fails when they drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from pipelines.compiler.activity import (
    ACTIVITY_KPIS,
    kpi_model_name,
    render_activity_kpis,
    render_activity_points,
    render_kpi_model,
    render_targets,
    render_top_performer_gap,
    render_working_days,
)
from pipelines.compiler.funnels import funnel_model_name, render_factors_model, render_funnel_model
from pipelines.compiler.header import GENERATED_MARK, header
from pipelines.compiler.incremental import (
    BUILD_STATE_MODEL,
    CHANGED_DAYS_MODEL,
    CHANGED_PERIODS_MODEL,
    FINGERPRINTS_MODEL,
    render_build_state,
    render_changed_days,
    render_changed_periods,
    render_fingerprints,
    state_schema,
)
from pipelines.spec.loader import Definitions

GENERATED_DIR = Path("models") / "kpis"
FACTORS_MODEL = "funnel_factors"
KEY_COLUMNS = ["funnel", "grain", "period_start", "dimension", "member"]


def published_kpi_tables(defs: Definitions) -> list[str]:
    """The generated KPI tables that are validated (pandera) and published, in that order."""
    tables = [funnel_model_name(name) for name in defs.funnels] + [FACTORS_MODEL]
    if defs.kpis:
        tables.append(ACTIVITY_KPIS)
    if defs.activity_points:
        tables.append("activity_points")
    if defs.top_performers is not None and defs.kpis:
        tables.append("top_performer_gap")
    return tables


@dataclass(frozen=True)
class Drift:
    path: Path
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def render_project_files(defs: Definitions) -> dict[Path, str]:
    """Relative path (inside the dbt project) → content, for every generated file."""
    files: dict[Path, str] = {}
    for name in defs.funnels:
        files[GENERATED_DIR / f"{funnel_model_name(name)}.sql"] = render_funnel_model(defs, name)
    files[GENERATED_DIR / f"{FACTORS_MODEL}.sql"] = render_factors_model(defs)
    files[GENERATED_DIR / "working_days.sql"] = render_working_days(defs)
    if defs.kpis:
        files[GENERATED_DIR / "kpi_targets.sql"] = render_targets(defs)
        for name in defs.kpis:
            files[GENERATED_DIR / f"{kpi_model_name(name)}.sql"] = render_kpi_model(defs, name)
        files[GENERATED_DIR / f"{ACTIVITY_KPIS}.sql"] = render_activity_kpis(defs)
    if defs.activity_points:
        files[GENERATED_DIR / "activity_points.sql"] = render_activity_points(defs)
    if defs.top_performers is not None and defs.kpis:
        files[GENERATED_DIR / "top_performer_gap.sql"] = render_top_performer_gap(defs)
    kpi_models = [path.stem for path in files]
    files[GENERATED_DIR / f"{FINGERPRINTS_MODEL}.sql"] = render_fingerprints(defs)
    files[GENERATED_DIR / f"{CHANGED_DAYS_MODEL}.sql"] = render_changed_days(defs)
    files[GENERATED_DIR / f"{CHANGED_PERIODS_MODEL}.sql"] = render_changed_periods(defs)
    files[GENERATED_DIR / f"{BUILD_STATE_MODEL}.sql"] = render_build_state(defs, kpi_models)
    files[GENERATED_DIR / "_kpis.yml"] = render_schema_yaml(defs)
    return files


def render_schema_yaml(defs: Definitions) -> str:
    """Docs of every generated model. The published KPI tables carry no dbt tests: pandera checks
    each of them (types, non-null keys, unique keys, bounds, identities) as a blocking asset check
    before publishing (pipelines/validation/kpi_tables.py), and the same rules as dbt tests cost a
    dbt node and three Dagster events each (98 tests, ~7 s of a run: docs/architecture.md).
    The calendar and the incremental bookkeeping, which pandera does not see, keep theirs."""
    models = []
    for name, funnel in defs.funnels.items():
        factor_names = funnel.factor_names()
        columns = [{"name": c} for c in KEY_COLUMNS]
        for stage in funnel.stages:
            columns.append(
                {
                    "name": stage.name,
                    "description": stage.description or f"Count of stage `{stage.name}`.",
                }
            )
        columns += [{"name": factor} for factor in factor_names[1:-1]]
        columns.append(
            {
                "name": funnel.value.name,
                "description": funnel.value.description or "The funnel's value.",
            }
        )
        if funnel.kind != "cohort":
            columns.append(
                {
                    "name": "computed_in",
                    "description": "The dbt invocation that last computed this row: an "
                    "incremental run recomputes only the periods holding changed days.",
                }
            )
        models.append(
            {
                "name": funnel_model_name(name),
                "description": (funnel.description or f"Funnel `{name}`.")
                + " One row per grain, period, dimension and member whose first stage is above zero.",
                "columns": columns,
            }
        )
    models.append(
        {
            "name": FACTORS_MODEL,
            "description": "Every funnel's factors in long form: one row per factor.",
            "columns": [{"name": c} for c in [*KEY_COLUMNS, "factor", "position"]]
            + [{"name": "value", "description": "NULL when the factor's denominator is 0."}],
        }
    )
    models += _activity_schema(defs)
    models += state_schema()
    body = yaml.safe_dump({"version": 2, "models": models}, sort_keys=False, allow_unicode=True)
    return (
        header(defs.directory.name + "/", "schema of all funnels").replace("--", "#") + "\n" + body
    )


def _activity_schema(defs: Definitions) -> list[dict]:
    models: list[dict] = [
        {
            "name": "working_days",
            "description": "Calendar: working weekdays minus the holidays of the definitions.",
            "columns": [{"name": "calendar_date", "data_tests": ["unique", "not_null"]}],
        }
    ]
    if defs.kpis:
        keys = ["kpi", "grain", "period_start", "dimension", "member"]
        models.append(
            {
                "name": "kpi_targets",
                "description": "Every declared KPI target (team or rep scoped, effective from a date).",
            }
        )
        for name, kpi in defs.kpis.items():
            models.append(
                {
                    "name": kpi_model_name(name),
                    "description": kpi.description or f"Activity KPI `{name}`.",
                }
            )
        models.append(
            {
                "name": ACTIVITY_KPIS,
                "description": "Every activity KPI per grain, period, dimension and member, with "
                "target, attainment (value ÷ target) and on_pace for the period to date.",
                "columns": [{"name": c} for c in keys]
                + [
                    {"name": "value"},
                    {"name": "target"},
                    {"name": "attainment"},
                    {"name": "on_pace"},
                ],
            }
        )
    if defs.activity_points:
        models.append(
            {
                "name": "activity_points",
                "description": "Points leaderboard: weighted activities per rep and period.",
            }
        )
    if defs.top_performers is not None and defs.kpis:
        models.append(
            {
                "name": "top_performer_gap",
                "description": "Per period: the top share of reps by the outcome vs the rest, "
                "averages of every activity KPI and funnel factor, and their ratio.",
            }
        )
    return models


def write_project_files(defs: Definitions, project_dir: Path) -> list[Path]:
    """Write generated files and remove generated files no definition asks for; returns changes."""
    changed: list[Path] = []
    wanted = render_project_files(defs)
    for rel, content in wanted.items():
        path = project_dir / rel
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
            changed.append(rel)
    for path in _generated_files(project_dir):
        rel = path.relative_to(project_dir)
        if rel not in wanted:
            path.unlink()
            changed.append(rel)
    return changed


def check_project_files(defs: Definitions, project_dir: Path) -> list[Drift]:
    drift: list[Drift] = []
    wanted = render_project_files(defs)
    for rel, content in wanted.items():
        path = project_dir / rel
        if not path.exists():
            drift.append(Drift(rel, "missing"))
        elif path.read_text(encoding="utf-8") != content:
            drift.append(Drift(rel, "differs from what the definitions compile to"))
    for path in _generated_files(project_dir):
        rel = path.relative_to(project_dir)
        if rel not in wanted:
            drift.append(Drift(rel, "generated for a definition that no longer exists"))
    return drift


def _generated_files(project_dir: Path) -> list[Path]:
    folder = project_dir / GENERATED_DIR
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and GENERATED_MARK in p.read_text(encoding="utf-8")[:300]
    )
