"""`make ui`: the instance config and the launcher's command line and environment."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from pipelines.ops.instance import (
    MARKER,
    dagster_home,
    dagster_yaml,
    ensure_instance_config,
    open_instance,
)
from pipelines.ops.ui import pid_file, stop, ui_address, ui_command, ui_environment
from pipelines.settings import PROJECT_ROOT, Settings

OPEN = """
import sys, time
from pathlib import Path
from pipelines.ops.instance import open_instance
home, me = Path(sys.argv[1]), sys.argv[2]
(home.parent / f"ready-{me}").touch()
while not (home.parent / "go").exists():
    time.sleep(0.01)
open_instance(home).dispose()
"""


def settings(tmp_path: Path) -> Settings:
    return Settings(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")


def test_instance_lives_under_the_warehouse_unless_dagster_home_is_set(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert dagster_home(settings(tmp_path)) == tmp_path / "warehouse" / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "elsewhere"))
    assert dagster_home(settings(tmp_path)) == tmp_path / "elsewhere"


def test_instance_config_is_written_and_loads_in_dagster(tmp_path):
    home = tmp_path / "home"
    config = ensure_instance_config(home)
    assert config.read_text() == dagster_yaml(home)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.is_persistent
        assert instance.get_settings("telemetry") == {"enabled": False}
        assert type(instance.event_log_storage).__name__ == "KeptOpenSqliteEventLogStorage"


def test_instance_config_upgrades_our_own_files_and_keeps_hand_edits(tmp_path):
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    assert ensure_instance_config(legacy).read_text() == dagster_yaml(legacy)

    older = tmp_path / "older"
    older.mkdir()
    (older / "dagster.yaml").write_text(f"{MARKER}\ntelemetry:\n  enabled: true\n")
    assert ensure_instance_config(older).read_text() == dagster_yaml(older)

    # A warehouse copied elsewhere: its managed config names the new folder.
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "dagster.yaml").write_text(dagster_yaml(older))
    assert ensure_instance_config(moved).read_text() == dagster_yaml(moved)
    assert str(moved / "storage") in dagster_yaml(moved)

    edited = tmp_path / "edited"
    edited.mkdir()
    mine = "telemetry:\n  enabled: false\nrun_monitoring:\n  enabled: true\n"
    (edited / "dagster.yaml").write_text(mine)
    assert ensure_instance_config(edited).read_text() == mine


def test_ui_binds_localhost_on_3000_unless_told_otherwise():
    assert ui_address({}) == ("127.0.0.1", 3000)
    assert ui_address({"KPI_UI_HOST": "0.0.0.0", "KPI_UI_PORT": "8080"}) == ("0.0.0.0", 8080)


def test_ui_runs_dg_dev_from_the_venv_on_the_project():
    command = ui_command("127.0.0.1", 3001)
    assert command[0] == str(Path(sys.executable).parent / "dg")
    assert command[1:] == [
        "dev", "--host", "127.0.0.1", "--port", "3001", "--target-path", str(PROJECT_ROOT),
    ]  # fmt: skip


def test_ui_environment_carries_paths_instance_and_venv(tmp_path):
    s = settings(tmp_path)
    env = ui_environment(s, tmp_path / "home")
    assert {k: env[k] for k in s.env()} == s.env()
    assert env["DAGSTER_HOME"] == str(tmp_path / "home")
    # dbt and dg are found even when the venv is not activated
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)


def test_stop_without_a_running_ui_changes_nothing(tmp_path):
    assert stop(tmp_path).startswith("no UI recorded")
    # A stale PID file whose process is not `dg dev` (here: this test) is removed, not signalled.
    pid_file(tmp_path).write_text(f"{os.getpid()}\n")
    assert "is not running" in stop(tmp_path)
    assert not pid_file(tmp_path).exists()


def test_processes_opening_a_new_instance_at_once_leave_it_usable(tmp_path):
    # Unserialised, processes creating the SQLite storage together can leave two alembic heads
    # ("more than one head present") and an instance nobody can open.
    home = tmp_path / "home"
    openers = [
        subprocess.Popen([sys.executable, "-c", OPEN, str(home), str(i)], cwd=PROJECT_ROOT)
        for i in range(4)
    ]
    while len(list(tmp_path.glob("ready-*"))) < len(openers):  # all imported: start together
        assert all(p.poll() is None for p in openers)
        time.sleep(0.05)
    (tmp_path / "go").touch()
    assert [p.wait(timeout=120) for p in openers] == [0] * len(openers)
    for db in sorted(home.rglob("*.db")):
        with sqlite3.connect(db) as con:
            assert con.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,), db
    with open_instance(home) as instance:
        assert instance.get_runs() == []
