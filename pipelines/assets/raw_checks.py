"""great-expectations results as Dagster asset checks on `raw/<entity>` (pipelines/validation/raw_sources.py).

One step (`raw_sources_gx`) runs both suites of every entity on its new landing files and reports
two checks on each `raw/<entity>`: `gx_contract` (ERROR: the loader enforces the contract, so a
failure is a loader bug) and `gx_distribution` (WARN: something a data engineer should look at).
Neither blocks the publish: the KPI tables have their own blocking pandera checks. The Data Docs
path is in the metadata. Selecting some checks in the UI runs only their entities.
"""

import shutil

import dagster as dg

from pipelines.ingest.contract import ENTITIES
from pipelines.validation.raw_sources import (
    REP_ENTITIES,
    SuiteOutcome,
    gx_root,
    validate_raw_entities,
)

from .raw import raw_key
from .resources import BUILD_DB_POOL, WarehouseResource

MAX_FAILURES_SHOWN = 20
SEVERITY = {"contract": dg.AssetCheckSeverity.ERROR, "distribution": dg.AssetCheckSeverity.WARN}
DESCRIPTION = {
    "contract": "great-expectations mirror of the landing contract on each new landing file "
    "(columns, required values, allowed sets, numbers ≥ 0, unique ids, no future timestamps).",
    "distribution": "great-expectations distribution checks on each new landing file (share of "
    "rows whose rep is in reps, plausible durations and amounts, visit volume day over day). "
    "WARN.",
}


def outcome_metadata(outcome: SuiteOutcome) -> dict[str, dg.MetadataValue]:
    metadata = {
        "files": dg.MetadataValue.int(outcome.files),
        "new_files_validated": dg.MetadataValue.int(outcome.new_files),
        "expectations_evaluated": dg.MetadataValue.int(outcome.expectations),
        "unmet": dg.MetadataValue.int(len(outcome.failures)),
    }
    if outcome.failures:
        metadata["unmet_expectations"] = dg.MetadataValue.json(
            outcome.failures[:MAX_FAILURES_SHOWN]
        )
    if outcome.data_docs is not None:
        metadata["data_docs"] = dg.MetadataValue.path(str(outcome.data_docs))
    return metadata


def _specs(entity: str) -> list[dg.AssetCheckSpec]:
    deps = [raw_key("reps")] if entity in REP_ENTITIES else []
    return [
        dg.AssetCheckSpec(
            f"gx_{kind}", asset=raw_key(entity), description=DESCRIPTION[kind],
            additional_deps=deps if kind == "distribution" else [],
        )
        for kind in SEVERITY
    ]  # fmt: skip


def selected_entities(check_keys) -> list[str]:
    """The entities whose checks this step runs (a subset when the UI asks for some checks)."""
    assets = {key.asset_key for key in check_keys}
    return [entity for entity in ENTITIES if raw_key(entity) in assets]


def raw_source_checks() -> list[dg.AssetChecksDefinition]:
    """One step for every entity's suites: great-expectations costs about a second per context
    and per Data Docs build whatever the data, so the entities share one of each."""

    @dg.multi_asset_check(
        specs=[spec for entity in ENTITIES for spec in _specs(entity)],
        name="raw_sources_gx", can_subset=True, pool=BUILD_DB_POOL,
    )  # fmt: skip
    def checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        settings = warehouse.settings
        timezone = warehouse.definitions.settings.reporting_timezone
        entities = selected_entities(context.selected_asset_check_keys)
        try:
            with warehouse.exclusive(context):
                outcomes = validate_raw_entities(
                    settings.build_db, settings.warehouse, settings.landing, entities, timezone
                )
        except Exception as exc:  # GX's own state may be broken (a killed run): start afresh
            shutil.rmtree(gx_root(settings.warehouse), ignore_errors=True)
            context.log.warning(f"great-expectations failed: {exc}")
            for entity in entities:
                for kind, severity in SEVERITY.items():
                    yield dg.AssetCheckResult(
                        check_name=f"gx_{kind}", asset_key=raw_key(entity), passed=False,
                        severity=severity,
                        description=f"great-expectations could not run: {type(exc).__name__}",
                    )  # fmt: skip
            return
        for entity in entities:
            for kind, outcome in outcomes[entity].items():
                yield dg.AssetCheckResult(
                    check_name=f"gx_{kind}", asset_key=raw_key(entity), passed=outcome.passed,
                    severity=SEVERITY[kind], metadata=outcome_metadata(outcome),
                    description=outcome.summary(),
                )  # fmt: skip

    return [checks]
