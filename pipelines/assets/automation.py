"""Automation in Dagster: the refresh job, its daily schedule, the landing sensor, landing freshness
checks and the run-failure report. Settings: pipelines/ops/config.py; guide: docs/operations.md."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg

from pipelines.ingest.contract import ENTITIES
from pipelines.ops.config import OpsConfig
from pipelines.ops.failures import (
    FailedStep,
    FailureReport,
    deliver,
    failure_log_path,
    step_failure_text,
)
from pipelines.ops.freshness import landing_freshness
from pipelines.ops.landing_changes import (
    decode_cursor,
    diff_states,
    encode_cursor,
    scan_landing,
    state_digest,
)
from pipelines.settings import Settings

from .raw import landing_key
from .resources import WarehouseResource

REFRESH_JOB = "kpi_refresh"
DAILY_SCHEDULE = "kpi_daily"
LANDING_SENSOR = "landing_files"
FAILURE_SENSOR = "report_run_failures"
FRESHNESS_CHECK = "freshness"
REPORTED_TAGS = ("dagster/schedule_name", "dagster/sensor_name", "dagster/backfill", "kpi/trigger")


def _status(running: bool) -> dg.DefaultScheduleStatus:
    return dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED


def _sensor_status(running: bool) -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED


def _freshness_check(entity: str, config: OpsConfig) -> dg.AssetChecksDefinition:
    limit = config.freshness_limits[entity]

    @dg.asset_check(
        asset=landing_key(entity),
        name=FRESHNESS_CHECK,
        blocking=False,
        description=f"Warns when `{entity}` has delivered no file for longer than {limit} "
        "(newest file's modification time). Limit: KPI_FRESHNESS_LIMITS.",
    )
    def check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        result = landing_freshness(warehouse.settings.landing, entity, limit)
        metadata: dict[str, dg.RawMetadataValue] = {
            "files": result.files,
            "limit_hours": round(limit.total_seconds() / 3600, 2),
        }
        if result.newest_at is not None and result.age is not None:
            metadata["newest_file"] = result.newest_file
            metadata["newest_file_at"] = dg.MetadataValue.timestamp(result.newest_at)
            metadata["age_hours"] = round(result.age.total_seconds() / 3600, 2)
        return dg.AssetCheckResult(
            passed=result.fresh,
            severity=dg.AssetCheckSeverity.WARN,
            description=result.description(),
            metadata=metadata,
        )

    return check


def freshness_checks(config: OpsConfig) -> list[dg.AssetChecksDefinition]:
    return [_freshness_check(entity, config) for entity in ENTITIES]


def refresh_job(checks: list[dg.AssetChecksDefinition]) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        REFRESH_JOB,
        selection=dg.AssetSelection.all() | dg.AssetSelection.checks(*checks),
        description="Everything: load landing files, dbt build, validate, publish kpi.duckdb, and "
        "the landing freshness checks. Run by the daily schedule and the landing sensor.",
    )


def daily_schedule(
    job: dg.UnresolvedAssetJobDefinition, config: OpsConfig
) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=DAILY_SCHEDULE,
        job=job,
        cron_schedule=config.schedule_cron,
        execution_timezone=config.schedule_timezone,
        default_status=_status(config.automation_running),
        tags={"kpi/trigger": "schedule"},
        description="The whole refresh once a day (KPI_SCHEDULE_TIME, KPI_SCHEDULE_TIMEZONE).",
    )


def landing_sensor(job: dg.UnresolvedAssetJobDefinition, config: OpsConfig) -> dg.SensorDefinition:
    settle = config.sensor_settle_seconds

    @dg.sensor(
        name=LANDING_SENSOR,
        job=job,
        minimum_interval_seconds=config.sensor_interval_seconds,
        default_status=_sensor_status(config.automation_running),
        description="Starts a refresh when landing files are added, changed (checksum) or removed. "
        f"Files modified in the last {settle} s are left for a later tick.",
    )
    def landing_files(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        previous = decode_cursor(context.cursor)
        current = scan_landing(warehouse.settings.landing, previous, settle_seconds=settle)
        changes = diff_states(previous, current)
        if not changes:
            return dg.SkipReason(f"no new or changed files in {warehouse.settings.landing}")
        context.log.info(f"landing changed: {changes.summary()}")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=state_digest(current),
                    tags={
                        "kpi/trigger": "landing_sensor",
                        "kpi/changed_entities": ",".join(changes.entities),
                        "kpi/files_added": str(len(changes.added)),
                        "kpi/files_changed": str(len(changes.changed)),
                        "kpi/files_removed": str(len(changes.removed)),
                    },
                )
            ],
            cursor=encode_cursor(current),
        )

    return landing_files


def failure_report(context: dg.RunFailureSensorContext, ui_url: str) -> FailureReport:
    run = context.dagster_run
    record = context.instance.get_run_record_by_id(run.run_id)
    ended = record.end_time if record and record.end_time else None
    failed_at = datetime.fromtimestamp(ended, UTC) if ended else datetime.now(UTC)
    return FailureReport(
        run_id=run.run_id,
        job=run.job_name,
        status=run.status.value,
        failed_at=failed_at.isoformat(timespec="seconds"),
        message=context.failure_event.message or "run failed",
        run_url=f"{ui_url}/runs/{run.run_id}",
        failed_steps=[
            FailedStep(e.step_key or "?", step_failure_text(e, e.message or "failed"))
            for e in context.get_step_failure_events()
        ],
        tags={k: v for k, v in run.tags.items() if k in REPORTED_TAGS or k.startswith("kpi/")},
    )


def failure_sensor(settings: Settings, config: OpsConfig) -> dg.SensorDefinition:
    log_path = failure_log_path(settings.warehouse)
    where = f"webhook {config.failure_webhook}" if config.failure_webhook else str(log_path)

    @dg.run_failure_sensor(
        name=FAILURE_SENSOR,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=15,
        description=f"Reports every failed run of this project to {where} "
        "(KPI_FAILURE_WEBHOOK; a log file under the warehouse by default).",
    )
    def report_run_failures(context: dg.RunFailureSensorContext) -> None:
        report = failure_report(context, config.ui_url)
        sent_to = deliver(report, log_path=log_path, webhook=config.failure_webhook)
        context.log.info(f"reported failed run {report.run_id} to {sent_to}")

    return report_run_failures


@dataclass(frozen=True)
class Automation:
    config: OpsConfig
    jobs: list[dg.UnresolvedAssetJobDefinition]
    schedules: list[dg.ScheduleDefinition]
    sensors: list[dg.SensorDefinition]
    asset_checks: list[dg.AssetChecksDefinition]


def automation(settings: Settings, config: OpsConfig | None = None) -> Automation:
    config = config or OpsConfig.from_env()
    checks = freshness_checks(config)
    job = refresh_job(checks)
    return Automation(
        config=config,
        jobs=[job],
        schedules=[daily_schedule(job, config)],
        sensors=[landing_sensor(job, config), failure_sensor(settings, config)],
        asset_checks=checks,
    )
