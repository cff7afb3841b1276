"""The dbt project as Dagster assets: staging → intermediate → marts → kpis, dbt tests as checks."""

import datetime as dt
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject, dbt_assets

from pipelines import build_state
from pipelines.killpoints import kill_point
from pipelines.privacy import MissingPseudonymKey, ensure_pseudonym_key

from .dbt_runner import InProcessDbtResource
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


def dbt_resource(project_dir: Path) -> InProcessDbtResource:
    return InProcessDbtResource(project_dir=str(project_dir), profiles_dir=str(project_dir))


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
        dbt: InProcessDbtResource,
        warehouse: WarehouseResource,
        config: KpiModelsConfig,
    ):
        # dbt reads the build database path from the environment (profiles.yml).
        os.environ.update(warehouse.settings.env())
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
            # dbt runs in the warehouse folder: the profile names the build database relative
            # to it (kpi_models/profiles.yml).
            for event in dbt.cli(
                args, context=context, target_path=target, workdir=warehouse.settings.warehouse
            ):
                yield event
                kill_point("dbt:running")
            with warehouse.connect() as con:
                build_state.record_success(con, code)
                recomputed = build_state.recomputed_periods(con)
            context.log.info(f"incremental KPI models recomputed: {recomputed}")

    return kpi_models


def kpi_asset_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["kpis", table])
