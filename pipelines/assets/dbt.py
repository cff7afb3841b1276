"""The dbt project as Dagster assets: staging → intermediate → marts → kpis, dbt tests as checks."""

import os
from collections.abc import Mapping
from functools import cache
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

from pipelines.compiler.prepare import dbt_executable

from .resources import WarehouseResource


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


def dbt_resource(project_dir: Path) -> DbtCliResource:
    return DbtCliResource(
        project_dir=dbt_project(project_dir), profiles_dir=str(project_dir),
        dbt_executable=dbt_executable(),
    )  # fmt: skip


def build_dbt_assets(project_dir: Path) -> dg.AssetsDefinition:
    project = dbt_project(project_dir)

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=KpiDbtTranslator(
            settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
        ),
        name="kpi_models",
    )
    def kpi_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
    ):
        # dbt reads the build database path from the environment (profiles.yml).
        os.environ.update(warehouse.settings.env())
        yield from dbt.cli(["build"], context=context).stream()

    return kpi_models


def kpi_asset_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["kpis", table])
