"""Automation: settings, the landing sensor's change set, freshness checks, failure reports.

Dagster objects are the project's own (schedule, sensors, checks), evaluated with Dagster's test
contexts and real in-process runs; the webhook is a real HTTP server on localhost.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import dagster as dg
import pytest

from pipelines.assets.automation import (
    DAILY_SCHEDULE,
    FAILURE_SENSOR,
    LANDING_SENSOR,
    REFRESH_JOB,
    automation,
)
from pipelines.assets.raw import landing_specs
from pipelines.assets.resources import WarehouseResource
from pipelines.ingest.contract import ENTITIES
from pipelines.ops.config import (
    DEFAULT_FRESHNESS_LIMITS,
    OpsConfig,
    OpsConfigError,
    cron_for,
    parse_duration,
)
from pipelines.ops.failures import failure_log_path
from pipelines.ops.landing_changes import (
    ChangeSet,
    FileState,
    decode_cursor,
    diff_states,
    encode_cursor,
    scan_landing,
    state_digest,
)
from pipelines.settings import Settings

# ---------------------------------------------------------------------------------------- config


def test_config_defaults_daily_at_six_in_oslo_and_automation_stopped():
    config = OpsConfig.from_env({})
    assert config.schedule_cron == "0 6 * * *"
    assert config.schedule_timezone == "Europe/Oslo"
    assert not config.automation_running
    assert dict(config.freshness_limits) == DEFAULT_FRESHNESS_LIMITS
    assert set(config.freshness_limits) == set(ENTITIES)
    assert config.failure_webhook is None
    assert config.ui_url == "http://127.0.0.1:3000"


def test_config_from_environment():
    config = OpsConfig.from_env(
        {
            "KPI_SCHEDULE_TIME": "23:05",
            "KPI_SCHEDULE_TIMEZONE": "America/New_York",
            "KPI_AUTOMATION": "running",
            "KPI_FRESHNESS_LIMITS": "calls=12h, opportunities=14d",
            "KPI_FAILURE_WEBHOOK": "http://hooks.example/x",
            "KPI_UI_PORT": "3100",
        }
    )
    assert config.schedule_cron == "5 23 * * *"
    assert config.schedule_timezone == "America/New_York"
    assert config.automation_running
    assert config.freshness_limits["calls"] == timedelta(hours=12)
    assert config.freshness_limits["opportunities"] == timedelta(days=14)
    assert config.freshness_limits["emails"] == DEFAULT_FRESHNESS_LIMITS["emails"]
    assert config.failure_webhook == "http://hooks.example/x"
    assert config.ui_url == "http://127.0.0.1:3100"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KPI_SCHEDULE_TIME": "6am"}, "KPI_SCHEDULE_TIME"),
        ({"KPI_SCHEDULE_TIME": "24:00"}, "KPI_SCHEDULE_TIME"),
        ({"KPI_SCHEDULE_TIMEZONE": "Europe/Atlantis"}, "KPI_SCHEDULE_TIMEZONE"),
        ({"KPI_AUTOMATION": "yes"}, "KPI_AUTOMATION"),
        ({"KPI_FRESHNESS_LIMITS": "invoices=1d"}, "KPI_FRESHNESS_LIMITS"),
        ({"KPI_FRESHNESS_LIMITS": "calls=soon"}, "not a duration"),
        ({"KPI_SENSOR_INTERVAL_SECONDS": "-5"}, "KPI_SENSOR_INTERVAL_SECONDS"),
    ],
)
def test_config_rejects_bad_values_by_name(env, message):
    with pytest.raises(OpsConfigError, match=message):
        OpsConfig.from_env(env)


def test_durations_and_cron():
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration("1.5d") == timedelta(hours=36)
    assert cron_for("6:30") == "30 6 * * *"


# ------------------------------------------------------------------------------ landing changes


def state(**files: str) -> dict[str, FileState]:
    return {path.replace("__", "/"): FileState(1, 1, sha) for path, sha in files.items()}


def test_diff_states_finds_added_changed_and_removed():
    before = state(calls__a_csv="1", calls__b_csv="2", reps__reps_csv="3")
    after = state(calls__a_csv="1", calls__b_csv="22", emails__e_jsonl="4")
    changes = diff_states(before, after)
    assert changes == ChangeSet(
        added=("emails/e_jsonl",), changed=("calls/b_csv",), removed=("reps/reps_csv",)
    )
    assert changes.entities == ("calls", "emails", "reps")
    assert "1 new (emails/e_jsonl)" in changes.summary()
    assert not diff_states(after, after)
    assert diff_states({}, after).added == tuple(sorted(after))


def test_only_content_changes_count_not_mtimes():
    before = {"calls/a.csv": FileState(10, 100, "x")}
    touched = {"calls/a.csv": FileState(10, 999, "x")}
    assert not diff_states(before, touched)


def write(path: Path, text: str, age_seconds: float = 3600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    then = time.time() - age_seconds
    os.utime(path, (then, then))
    return path


def test_scan_hashes_moved_files_and_waits_for_files_still_being_written(tmp_path):
    landing = tmp_path / "landing"
    write(landing / "calls" / "calls_2025-01.csv", "call_id\nC1\n")
    write(landing / "calls" / "notes.txt", "not a landing file")
    first = scan_landing(landing, settle_seconds=30)
    assert list(first) == ["calls/calls_2025-01.csv"]

    # Re-saved with the same content: same checksum, no change.
    write(landing / "calls" / "calls_2025-01.csv", "call_id\nC1\n", age_seconds=600)
    second = scan_landing(landing, first, settle_seconds=30)
    assert not diff_states(first, second)

    # A file modified a moment ago is still arriving: neither it nor its new content is seen yet.
    write(landing / "calls" / "calls_2025-02.csv", "call_id\nC2\n", age_seconds=1)
    write(landing / "calls" / "calls_2025-01.csv", "call_id\nC1\nC3\n", age_seconds=1)
    third = scan_landing(landing, second, settle_seconds=30)
    assert not diff_states(second, third)
    later = scan_landing(landing, third, settle_seconds=30, now=time.time() + 60)
    assert diff_states(third, later) == ChangeSet(
        added=("calls/calls_2025-02.csv",), changed=("calls/calls_2025-01.csv",)
    )


def test_cursor_round_trip_and_unknown_cursors():
    s = {"calls/a.csv": FileState(10, 123456789, "ab" * 32)}
    assert decode_cursor(encode_cursor(s)) == s
    assert decode_cursor(None) == {}
    assert decode_cursor("not json") == {}
    assert decode_cursor('{"v": 0, "files": {}}') == {}
    assert state_digest(s) != state_digest({"calls/a.csv": FileState(10, 1, "ab" * 32)})


# ------------------------------------------------------------------------ Dagster definitions


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")


@pytest.fixture
def instance(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as inst:
        yield inst


def resources(settings: Settings) -> dict:
    return {"warehouse": WarehouseResource.from_settings(settings)}


def ops_defs(settings: Settings, config: OpsConfig) -> dg.Definitions:
    ops = automation(settings, config)
    return dg.Definitions(
        assets=landing_specs(),
        asset_checks=ops.asset_checks,
        jobs=ops.jobs,
        schedules=ops.schedules,
        sensors=ops.sensors,
        resources=resources(settings),
    )


def test_schedule_runs_the_refresh_job_at_the_configured_time(settings, instance):
    config = OpsConfig(schedule_cron=cron_for("07:15"), schedule_timezone="Europe/Helsinki")
    defs = ops_defs(settings, config)
    schedule = defs.resolve_schedule_def(DAILY_SCHEDULE)
    assert schedule.cron_schedule == "15 7 * * *"
    assert schedule.execution_timezone == "Europe/Helsinki"
    assert schedule.job_name == REFRESH_JOB
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    running = ops_defs(settings, OpsConfig(automation_running=True))
    assert running.resolve_schedule_def(DAILY_SCHEDULE).default_status == (
        dg.DefaultScheduleStatus.RUNNING
    )
    result = schedule.evaluate_tick(dg.build_schedule_context(instance=instance))
    assert [r.tags["kpi/trigger"] for r in result.run_requests] == ["schedule"]


def test_landing_sensor_requests_a_run_per_new_landing_state(settings, instance):
    defs = ops_defs(settings, OpsConfig(sensor_settle_seconds=0))
    sensor = defs.resolve_sensor_def(LANDING_SENSOR)
    assert sensor.job_name == REFRESH_JOB

    def tick(cursor):
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, resources=resources(settings), definitions=defs
        )
        return sensor.evaluate_tick(context)

    empty = tick(None)
    assert not empty.run_requests and "no new or changed files" in empty.skip_message

    write(settings.landing / "calls" / "calls_2025-01.csv", "call_id\nC1\n")
    write(settings.landing / "reps" / "reps.csv", "rep_id\nR1\n")
    first = tick(None)
    (request,) = first.run_requests
    assert request.tags["kpi/changed_entities"] == "calls,reps"
    assert request.tags["kpi/files_added"] == "2"

    assert not tick(first.cursor).run_requests  # nothing new

    write(settings.landing / "calls" / "calls_2025-01.csv", "call_id\nC1\nC2\n")
    second = tick(first.cursor)
    (request2,) = second.run_requests
    assert request2.tags["kpi/files_changed"] == "1"
    assert request2.tags["kpi/changed_entities"] == "calls"
    assert request2.run_key != request.run_key


def check_results(settings: Settings, config: OpsConfig, instance) -> dict[str, dict]:
    job = ops_defs(settings, config).resolve_job_def(REFRESH_JOB)
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    out = {}
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            out[evaluation.asset_key.path[1]] = {
                "passed": evaluation.passed,
                "severity": evaluation.severity,
                "description": evaluation.description,
                "metadata": {k: v.value for k, v in evaluation.metadata.items()},
            }
    return out


def test_freshness_checks_warn_per_source_past_its_limit(settings, instance):
    write(settings.landing / "calls" / "calls_2025-01.csv", "x", age_seconds=3 * 3600)
    write(settings.landing / "emails" / "emails.jsonl", "x", age_seconds=30 * 3600)
    write(settings.landing / "reps" / "reps.csv", "x", age_seconds=10 * 86400)
    config = OpsConfig(freshness_limits={**DEFAULT_FRESHNESS_LIMITS, "calls": timedelta(hours=2)})
    results = check_results(settings, config, instance)
    assert set(results) == set(ENTITIES)
    calls, emails, reps = results["calls"], results["emails"], results["reps"]
    assert not calls["passed"] and calls["severity"] == dg.AssetCheckSeverity.WARN
    assert "older than the limit of 2.0 h" in calls["description"]
    assert calls["metadata"]["age_hours"] == pytest.approx(3, abs=0.1)
    assert emails["passed"] and reps["passed"]
    assert not results["meetings"]["passed"]
    assert results["meetings"]["description"].startswith("meetings: no files delivered")


# ------------------------------------------------------------------------------ failure reports


@dg.asset
def exploding() -> None:
    raise dg.Failure(description="landing file calls/bad.csv is not UTF-8")


def failed_run_context(instance) -> dg.RunFailureSensorContext:
    result = dg.materialize([exploding], instance=instance, raise_on_error=False)
    assert not result.success
    return dg.build_run_status_sensor_context(
        sensor_name=FAILURE_SENSOR,
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
    ).for_run_failure()


def report_failure(settings: Settings, config: OpsConfig, instance) -> str:
    defs = ops_defs(settings, config)
    context = failed_run_context(instance)
    defs.resolve_sensor_def(FAILURE_SENSOR)(context)
    return context.dagster_run.run_id


def test_failed_runs_are_reported_to_a_log_file_under_the_warehouse(settings, instance):
    run_id = report_failure(settings, OpsConfig(ui_url="http://ui:3000"), instance)
    lines = failure_log_path(settings.warehouse).read_text().splitlines()
    assert failure_log_path(settings.warehouse) == settings.warehouse / "logs/run_failures.log"
    (record,) = [json.loads(line) for line in lines]
    assert record["run_id"] == run_id
    assert record["status"] == "FAILURE"
    assert record["run_url"] == f"http://ui:3000/runs/{run_id}"
    assert record["failed_steps"] == [
        {"step": "exploding", "error": "landing file calls/bad.csv is not UTF-8"}
    ]
    assert "calls/bad.csv is not UTF-8" in record["text"]


class Hook(BaseHTTPRequestHandler):
    received: list = []  # noqa: RUF012 - one server per test, reset there

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        Hook.received.append((self.path, self.headers["Content-Type"], self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/kpi"
    server.shutdown()
    server.server_close()


def test_failed_runs_go_to_the_webhook_when_one_is_set(settings, instance, webhook):
    run_id = report_failure(settings, OpsConfig(failure_webhook=webhook), instance)
    ((path, content_type, body),) = Hook.received
    assert path == "/hooks/kpi"
    assert content_type == "application/json"
    payload = json.loads(body)
    assert payload["run_id"] == run_id
    assert payload["failed_steps"][0]["step"] == "exploding"
    assert payload["text"].startswith(f"funnel-kpi run {run_id[:8]}")
    assert not failure_log_path(settings.warehouse).exists()


def test_an_unreachable_webhook_falls_back_to_the_log_file(settings, instance):
    with socket.socket() as s:  # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hooks/kpi"
    run_id = report_failure(settings, OpsConfig(failure_webhook=dead), instance)
    (record,) = [
        json.loads(x) for x in failure_log_path(settings.warehouse).read_text().splitlines()
    ]
    assert record["run_id"] == run_id
    assert dead in record["delivery_error"]
