"""The persistent Dagster instance under the warehouse, shared by `kpi run` and `make ui`.

Both use `<warehouse>/dagster_home` (or `$DAGSTER_HOME`), so runs started either way show up in the
same UI. The instance's `dagster.yaml` is written by this module; a file without the marker line
below is treated as hand-edited and left alone.

Opening the instance creates its SQLite storage on first use, and two processes doing that at once
(two `kpi run`, or `kpi run` and `make ui`, on a new warehouse) corrupt it ("alembic_version has
more than one head"), so `open_instance` opens it under an exclusive lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from pipelines.settings import Settings

MARKER = "# Managed by funnel-kpi (pipelines/ops/instance.py); remove this line to keep your edits."
LEGACY_CONFIGS = ("telemetry:\n  enabled: false\n",)

# One writer of build.duckdb: every step that opens it is in the `build_db` pool (BUILD_DB_POOL) and
# every pool allows one step at a time, across runs and processes (`kpi run` included). Runs started
# by the UI, the schedule or a sensor also queue: one in progress at a time, the next one waits.
# Run monitoring (daemon) frees the pool slot of a run that ended without freeing it, after 60 s.
DAGSTER_YAML = f"""{MARKER}
telemetry:
  enabled: false
concurrency:
  pools:
    default_limit: 1
  runs:
    max_concurrent_runs: 1
run_monitoring:
  enabled: true
  free_slots_after_run_end_seconds: 60
"""


def dagster_home(settings: Settings) -> Path:
    """`$DAGSTER_HOME` if set, else `<warehouse>/dagster_home`."""
    return Path(os.environ.get("DAGSTER_HOME", settings.warehouse / "dagster_home")).resolve()


def ensure_instance_config(home: Path) -> Path:
    """Create `home` and write its dagster.yaml unless someone has edited it by hand."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    current = config.read_text(encoding="utf-8") if config.exists() else None
    managed = current is None or current in LEGACY_CONFIGS or current.startswith(MARKER)
    if managed and current != DAGSTER_YAML:
        tmp = config.with_name(f".dagster.yaml.{os.getpid()}.tmp")
        tmp.write_text(DAGSTER_YAML, encoding="utf-8")
        os.replace(tmp, config)
    return config


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def open_instance(home: Path) -> dg.DagsterInstance:
    """The instance in `home`, its config written and its storage created by one process at a time."""
    home.mkdir(parents=True, exist_ok=True)
    with _exclusive(home / ".instance.lock"):
        ensure_instance_config(home)
        return dg.DagsterInstance.from_config(str(home))


@contextlib.contextmanager
def sqlite_kept_open(instance: dg.DagsterInstance, run_id: str) -> Iterator[None]:
    """Keep one idle connection to each SQLite file the run writes, for the length of the run.

    Dagster's SQLite storage opens and closes a connection for every event (a run writes ~700:
    every dbt model and test is a few), and when the last connection to a database in WAL mode
    closes, SQLite checkpoints the WAL and deletes it, to create it again on the next event. One
    connection held open keeps the WAL in place: about 20 → 6 ms per event on this machine. It
    changes nothing else (readers such as the UI see the same data, the WAL is checkpointed as
    usual), and other storages (Postgres) are left alone.
    """
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    storage = instance.event_log_storage
    if not isinstance(storage, SqliteEventLogStorage):
        yield
        return
    paths = [Path(storage.path_for_shard(run_id)), Path(storage.path_for_shard("index"))]
    held = []
    try:
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(path, timeout=30)
            con.execute("PRAGMA journal_mode=WAL")  # what Dagster sets when it creates the shard
            held.append(con)
        yield
    finally:
        for con in held:
            con.close()
