"""Write-audit-publish and recovery after a killed run, on small real files (docs/reliability.md).
The end-to-end versions are tests/integration/test_concurrent_readers.py and test_crash_safety.py."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import pytest

from pipelines.killpoints import ENV, POINTS
from pipelines.publish import PublishedTable, publish, staging_dir
from pipelines.settings import PROJECT_ROOT


@pytest.fixture
def build_db(tmp_path):
    path = tmp_path / "build.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA raw; CREATE TABLE raw.rejects (entity VARCHAR)")
        con.execute("CREATE TABLE numbers AS SELECT 1 AS n")
    return path


def tables(n: int) -> list[PublishedTable]:
    return [PublishedTable("numbers", f"SELECT n * {n} AS n FROM build.numbers", "numbers")]


def test_publish_swaps_atomically_and_leaves_nothing_beside(tmp_path, build_db):
    target = tmp_path / "kpi.duckdb"
    publish(build_db, target, tables(1), run_id="one", landing_checksums={})
    reader = duckdb.connect(str(target), read_only=True)  # an analyst, open across the swap
    # What a killed publish leaves behind: a half-written file in the staging folder, and a
    # temporary file of the layout before the folder.
    (staging_dir(target) / "dead.duckdb").write_bytes(b"half")
    (staging_dir(target) / "dead.duckdb.wal").write_bytes(b"wal")
    (tmp_path / ".kpi.duckdb.old-run.tmp").write_bytes(b"old")
    publish(build_db, target, tables(2), run_id="two", landing_checksums={})
    assert reader.execute("SELECT n FROM numbers").fetchall() == [(1,)]
    reader.close()
    with duckdb.connect(str(target), read_only=True) as con:
        assert con.execute("SELECT n FROM numbers").fetchall() == [(2,)]
        assert con.execute("SELECT run_id FROM published_runs").fetchall() == [("one",), ("two",)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".kpi.publishing", "build.duckdb", "kpi.duckdb",
    ]  # fmt: skip
    assert list(staging_dir(target).iterdir()) == []


@pytest.mark.parametrize("point", ["publish:before-replace", "publish:after-replace"])
def test_a_publish_killed_at_a_kill_point(tmp_path, build_db, point):
    target = tmp_path / "kpi.duckdb"
    publish(build_db, target, tables(1), run_id="one", landing_checksums={})
    before = target.read_bytes()
    code = (
        "from pathlib import Path; from tests.unit.test_publish_and_recovery import tables; "
        "from pipelines.publish import publish; "
        f"publish(Path({str(build_db)!r}), Path({str(target)!r}), tables(2), run_id='two', "
        "landing_checksums={})"
    )
    killed = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, ENV: point}, cwd=PROJECT_ROOT, check=False
    )
    assert killed.returncode == -9
    with duckdb.connect(str(target), read_only=True) as con:
        (n,) = con.execute("SELECT n FROM numbers").fetchone()
    if point == "publish:before-replace":
        assert target.read_bytes() == before and n == 1
        assert [p.name for p in staging_dir(target).iterdir()] == ["two.duckdb"]
    else:
        assert n == 2 and list(staging_dir(target).iterdir()) == []
    publish(build_db, target, tables(3), run_id="three", landing_checksums={})
    assert list(staging_dir(target).iterdir()) == []


def test_kill_points_are_documented():
    text = (PROJECT_ROOT / "docs" / "reliability.md").read_text()
    assert all(f"`{point}`" in text for point in POINTS)


def test_a_dead_kpi_run_is_reaped_and_frees_its_pool_slot(tmp_path, monkeypatch):
    import dagster as dg
    from dagster._core.storage.dagster_run import DagsterRun

    from pipelines.recovery import PROCESS_TAG, reap_dead_runs, run_tags

    (tmp_path / "dagster.yaml").write_text("concurrency:\n  pools:\n    default_limit: 1\n")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    host = run_tags()[PROCESS_TAG].split("/")[0]
    dead_token = f"{host}/1:never"  # pid 1, with a start time it does not have: another process
    with dg.DagsterInstance.get() as instance:
        runs = {
            "alive": run_tags(),  # this very process
            "dead": {PROCESS_TAG: dead_token},
            "ui": {},  # not started by `kpi run`: left to Dagster's run monitoring
        }
        for run_id, tags in runs.items():
            status = dg.DagsterRunStatus.STARTED
            instance.add_run(DagsterRun(job_name="j", run_id=run_id, status=status, tags=tags))
        instance.event_log_storage.claim_concurrency_slot("build_db", "dead", "step")
        assert reap_dead_runs(instance) == ["dead"]
        statuses = {r: instance.get_run_by_id(r).status.value for r in runs}
        assert statuses == {"alive": "STARTED", "dead": "FAILURE", "ui": "STARTED"}
        info = instance.event_log_storage.get_concurrency_info("build_db")
        assert info.claimed_slots == [] and info.pending_steps == []
        assert reap_dead_runs(instance) == []
