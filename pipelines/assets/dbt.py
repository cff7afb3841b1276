"""The dbt project as Dagster assets: staging → intermediate → marts → kpis, dbt tests as checks."""

import datetime as dt
import importlib.metadata
import os
import sys
from collections.abc import Mapping
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from packaging import version

from pipelines import build_state
from pipelines.compiler.prepare import dbt_executable
from pipelines.killpoints import kill_point
from pipelines.privacy import MissingPseudonymKey, ensure_pseudonym_key

from .resources import BUILD_DB_POOL, WarehouseResource


@cache
def dbt_project(project_dir: Path) -> DbtProject:
    """One DbtProject per folder; its manifest is built by `kpi prepare` / `make setup`."""
    return DbtProject(project_dir=project_dir, profiles_dir=project_dir)


def _layer(props: Mapping[str, Any]) -> str | None:
    """The model's folder under models/ (staging, intermediate, marts, kpis)."""
    fqn = props.get("fqn") or []
    return fqn[1] if len(fqn) > 2 else None


class KpiDbtTranslator(DagsterDbtTranslator):
    """Asset keys and groups mirror the dbt folders: `kpis/funnel_universal` in group `kpis`."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        layer = _layer(dbt_resource_props)
        if dbt_resource_props.get("resource_type") == "model" and layer:
            return dg.AssetKey([layer, dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return _layer(dbt_resource_props) or super().get_group_name(dbt_resource_props)


# dbt runs through this wrapper, which dies with the pipeline process: a killed run leaves no dbt
# writing build.duckdb (docs/reliability.md).
TETHERED_DBT = Path(__file__).resolve().parent.parent / "bin" / "dbt"


class TetheredDbtCliResource(DbtCliResource):
    """dagster-dbt's resource, running dbt through the tethered wrapper (pipelines/bin/dbt).

    dagster-dbt asks the executable for its version (`dbt --version`) before every build: two
    start-ups of dbt, ~6 s of each run at any scale. When the wrapper runs this environment's own
    dbt, its version is the installed dbt-core package's: read from the package metadata."""

    @cached_property
    def _cli_version(self) -> version.Version:
        if os.environ.get("KPI_DBT") == str(Path(sys.executable).parent / "dbt"):
            return version.parse(importlib.metadata.version("dbt-core"))
        return DbtCliResource._cli_version.func(self)


def dbt_resource(project_dir: Path) -> DbtCliResource:
    os.environ["KPI_PYTHON"] = sys.executable
    os.environ["KPI_DBT"] = dbt_executable()
    os.environ["KPI_DBT_PARENT"] = str(os.getpid())  # not a value inherited from a parent
    return TetheredDbtCliResource(
        project_dir=dbt_project(project_dir), profiles_dir=str(project_dir),
        dbt_executable=str(TETHERED_DBT),
    )  # fmt: skip


class KpiModelsConfig(dg.Config):
    """Launchpad options of the dbt step (defaults: recompute what changed, nothing more)."""

    full_refresh: bool = False  # rebuild every KPI row from all history
    recompute_from: str = ""  # backfill: recompute the periods holding these days (YYYY-MM-DD)
    recompute_to: str = ""  # last day of the backfill (defaults to recompute_from)


def build_dbt_assets(project_dir: Path) -> dg.AssetsDefinition:
    project = dbt_project(project_dir)

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=KpiDbtTranslator(
            settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
        ),
        name="kpi_models",
        pool=BUILD_DB_POOL,
    )
    def kpi_models(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        warehouse: WarehouseResource,
        config: KpiModelsConfig,
    ):
        # dbt reads the build database path from the environment (profiles.yml).
        os.environ.update(warehouse.settings.env())
        os.environ["KPI_DBT_PARENT"] = str(os.getpid())  # see pipelines/bin/dbt
        try:  # staging pseudonymises personal values with KPI_PSEUDONYM_KEY (UI runs too)
            ensure_pseudonym_key(warehouse.settings.landing)
        except MissingPseudonymKey as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        with warehouse.exclusive(context):
            args = ["build"]
            code = build_state.code_version(project_dir)
            with warehouse.connect() as con:
                if config.full_refresh or build_state.needs_full_refresh(con, code):
                    args.append("--full-refresh")  # new or changed dbt code: rebuild every row
                if config.recompute_from:
                    first = dt.date.fromisoformat(config.recompute_from)
                    last = dt.date.fromisoformat(config.recompute_to or config.recompute_from)
                    build_state.request_recompute(con, first, last)
            context.log.info(f"dbt {' '.join(args)}")
            kill_point("dbt:start")
            # One target folder per warehouse, reused: dbt's artifacts and log of the last build
            # (dagster-dbt would otherwise leave a new folder in the project on every run).
            target = warehouse.settings.warehouse / "dbt_target"
            for event in dbt.cli(args, context=context, target_path=target).stream():
                yield event
                kill_point("dbt:running")
            with warehouse.connect() as con:
                build_state.record_success(con, code)
                recomputed = build_state.recomputed_periods(con)
            context.log.info(f"incremental KPI models recomputed: {recomputed}")

    return kpi_models


def kpi_asset_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["kpis", table])
