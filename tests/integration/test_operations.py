"""Operations on real processes: two `kpi run` started at once on one warehouse both succeed."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from pipelines.assets.resources import BUILD_DB_POOL
from pipelines.ops.instance import open_instance
from pipelines.ops.lock import LOCKED, RELEASED
from pipelines.sample_data import generate_sample_org
from pipelines.settings import PROJECT_ROOT

pytestmark = [pytest.mark.slow]


def lock_intervals(instance: dg.DagsterInstance, run_id: str) -> list[tuple[float, float, str]]:
    """When each step of a run held build.duckdb, from the lock's messages in the event log."""
    held, intervals = {}, []
    for record in instance.all_logs(run_id):
        message = record.user_message or ""
        if message == LOCKED:
            held[record.step_key] = record.timestamp
        elif message.startswith(RELEASED):
            intervals.append((held.pop(record.step_key), record.timestamp, record.step_key))
    assert not held, f"lock taken but never released: {held}"
    return intervals


def test_two_runs_started_at_once_both_succeed_one_writer_at_a_time(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse"
    generate_sample_org(landing, seed=3, scale=0.05, start=date(2025, 2, 3), days=7)
    home = warehouse / "dagster_home"
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    command = [
        str(Path(sys.executable).parent / "kpi"), "run",
        "--landing", str(landing), "--warehouse", str(warehouse),
    ]  # fmt: skip
    options = {"cwd": PROJECT_ROOT, "env": env, "stdout": subprocess.PIPE, "text": True}
    runs = [subprocess.Popen(command, stderr=subprocess.STDOUT, **options) for _ in range(2)]
    outputs = [run.communicate(timeout=900)[0] for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output
        assert "Published" in output

    with open_instance(home) as instance:
        records = instance.get_run_records()
        assert [r.dagster_run.status for r in records] == [dg.DagsterRunStatus.SUCCESS] * 2
        ids = [r.dagster_run.run_id for r in records]
        # Every step that opens build.duckdb held it alone...
        held = sorted(i for run_id in ids for i in lock_intervals(instance, run_id))
        assert {step for _, _, step in held} >= {"kpi_models", "published__kpi", "raw__calls"}
        for (_, end, a), (start, _, b) in itertools.pairwise(held):
            assert start >= end, f"{a} and {b} had build.duckdb at the same time"
        # ...because one run's steps waited for the other's.
        waits = [
            record
            for run_id in ids
            for record in instance.all_logs(run_id)
            if f"blocked by limit for pool {BUILD_DB_POOL}" in (record.user_message or "")
            or "waiting for build.duckdb" in (record.user_message or "")
        ]
        assert waits
