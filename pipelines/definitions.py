"""Assemble the Dagster definitions; nothing else happens here.

`dg dev` / `dg check defs` load `defs` (paths from KPI_LANDING, KPI_WAREHOUSE, KPI_DEFINITIONS);
`kpi run` calls `build_definitions` with its own settings and runs the same graph in process.
"""

import dagster as dg

from pipelines.assets.automation import automation
from pipelines.assets.dbt import build_dbt_assets, dbt_resource
from pipelines.assets.published import publish_asset, validation_checks
from pipelines.assets.raw import landing_specs, raw_assets
from pipelines.assets.raw_checks import raw_source_checks
from pipelines.assets.resources import WarehouseResource
from pipelines.compiler.prepare import prepare_dbt_project
from pipelines.settings import Settings
from pipelines.spec.loader import load_definitions


def build_definitions(settings: Settings) -> dg.Definitions:
    kpi_definitions = load_definitions(settings.definitions)
    project_dir = prepare_dbt_project(settings, kpi_definitions)
    ops = automation(settings)
    return dg.Definitions(
        assets=[
            *landing_specs(),
            *raw_assets(ops.config.reject_warn_share),
            build_dbt_assets(project_dir),
            publish_asset(kpi_definitions),
        ],
        asset_checks=[*validation_checks(kpi_definitions), *ops.asset_checks, *raw_source_checks()],
        jobs=ops.jobs,
        schedules=ops.schedules,
        sensors=ops.sensors,
        resources={
            "warehouse": WarehouseResource.from_settings(settings),
            "dbt": dbt_resource(project_dir),
        },
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(Settings.from_env())
