"""Landing files → `raw.<entity>` tables: one asset per landing entity, bad rows to rejects."""

import dagster as dg

from pipelines.ingest.contract import ENTITIES
from pipelines.ingest.loader import LoadReport, full_reload_requested, load_entity
from pipelines.ingest.readers import LandingFileError
from pipelines.ops.config import DEFAULT_REJECT_WARN_SHARE

from .quality import reject_check_result, reject_check_spec, reject_reasons
from .resources import BUILD_DB_POOL, WarehouseResource

LANDING_GROUP = "landing"
RAW_GROUP = "raw"


def landing_key(entity: str) -> dg.AssetKey:
    return dg.AssetKey(["landing", entity])


def raw_key(entity: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", entity])


def landing_specs() -> list[dg.AssetSpec]:
    """The landing folders, as external assets: files a data team receives."""
    return [
        dg.AssetSpec(
            landing_key(name),
            group_name=LANDING_GROUP,
            description=f"Landing files for `{name}` (CSV, Parquet, JSON lines). "
            "Contract: docs/landing-contract.md",
            kinds={"file"},
        )
        for name in ENTITIES
    ]


def report_metadata(report: LoadReport) -> dict[str, dg.MetadataValue]:
    metadata: dict[str, dg.MetadataValue] = {
        key: dg.MetadataValue.int(value) if isinstance(value, int) else dg.MetadataValue.text(value)
        for key, value in report.as_metadata().items()
    }
    metadata["dagster/row_count"] = dg.MetadataValue.int(report.rows_loaded)
    metadata["files_hashed"] = dg.MetadataValue.int(report.files_hashed)
    if report.warnings:
        metadata["warnings"] = dg.MetadataValue.md("\n".join(f"- {w}" for w in report.warnings))
    return metadata


def _raw_asset(entity: str, reject_warn_share: float) -> dg.AssetsDefinition:
    spec = ENTITIES[entity]

    @dg.asset(
        key=raw_key(entity),
        deps=[landing_key(entity)],
        group_name=RAW_GROUP,
        kinds={"duckdb"},
        pool=BUILD_DB_POOL,
        check_specs=[reject_check_spec(raw_key(entity), reject_warn_share)],
        description=f"`{entity}` as delivered, checked against the landing contract: one row per "
        f"`{spec.id_column}`; rows that break the contract are in `raw.rejects`.",
    )
    def load(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        settings = warehouse.settings
        timezone = warehouse.definitions.settings.reporting_timezone
        try:
            with warehouse.exclusive(context), warehouse.connect() as con:
                # Only new or changed files are read; KPI_FULL_RELOAD=1 (`kpi run --full-reload`)
                # reads every file again.
                report = load_entity(
                    con, entity, settings.landing, timezone=timezone, full=full_reload_requested()
                )
                reasons = reject_reasons(con, entity)
        except LandingFileError as exc:
            raise dg.Failure(
                description=f"{entity}: {exc}",
                metadata={"file": str(exc.path), "problem": exc.problem},
                allow_retries=False,
            ) from exc
        for warning in report.warnings:
            context.log.warning(warning)
        return dg.MaterializeResult(
            metadata=report_metadata(report),
            check_results=[reject_check_result(report, reasons, reject_warn_share)],
        )

    return load


def raw_assets(reject_warn_share: float = DEFAULT_REJECT_WARN_SHARE) -> list[dg.AssetsDefinition]:
    return [_raw_asset(name, reject_warn_share) for name in ENTITIES]
