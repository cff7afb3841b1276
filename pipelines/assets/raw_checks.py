"""great-expectations results as Dagster asset checks on `raw/<entity>` (pipelines/validation/raw_sources.py).

Per entity one step runs both suites on the new landing files and reports two checks:
`gx_contract` (ERROR: the loader enforces the contract, so a failure is a loader bug) and
`gx_distribution` (WARN: something a data engineer should look at). Neither blocks the publish:
the KPI tables have their own blocking pandera checks. The Data Docs path is in the metadata.
"""

import shutil

import dagster as dg

from pipelines.ingest.contract import ENTITIES
from pipelines.validation.raw_sources import (
    REP_ENTITIES,
    SuiteOutcome,
    gx_root,
    validate_raw_entity,
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


def _raw_source_checks(entity: str) -> dg.AssetChecksDefinition:
    deps = [raw_key("reps")] if entity in REP_ENTITIES else []
    specs = [
        dg.AssetCheckSpec(
            f"gx_{kind}", asset=raw_key(entity), description=DESCRIPTION[kind],
            additional_deps=deps if kind == "distribution" else [],
        )
        for kind in SEVERITY
    ]  # fmt: skip

    @dg.multi_asset_check(specs=specs, name=f"raw_{entity}_gx", pool=BUILD_DB_POOL)
    def checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        settings = warehouse.settings
        timezone = warehouse.definitions.settings.reporting_timezone
        try:
            with warehouse.exclusive(context):
                outcomes = validate_raw_entity(
                    settings.build_db, settings.warehouse, settings.landing, entity, timezone
                )
        except Exception as exc:  # GX's own state may be broken (a killed run): start afresh
            shutil.rmtree(gx_root(settings.warehouse), ignore_errors=True)
            context.log.warning(f"great-expectations failed on {entity}: {exc}")
            for kind, severity in SEVERITY.items():
                yield dg.AssetCheckResult(
                    check_name=f"gx_{kind}", asset_key=raw_key(entity), passed=False,
                    severity=severity,
                    description=f"great-expectations could not run: {type(exc).__name__}",
                )  # fmt: skip
            return
        for kind, outcome in outcomes.items():
            yield dg.AssetCheckResult(
                check_name=f"gx_{kind}", asset_key=raw_key(entity), passed=outcome.passed,
                severity=SEVERITY[kind], metadata=outcome_metadata(outcome),
                description=outcome.summary(),
            )  # fmt: skip

    return checks


def raw_source_checks() -> list[dg.AssetChecksDefinition]:
    return [_raw_source_checks(entity) for entity in ENTITIES]
