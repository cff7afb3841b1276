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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
def sqlite_kept_open(instance: dg.DagsterInstance) -> Iterator[None]:
    """For the length of the run, one SQLAlchemy engine per SQLite event-log file, its connection
    pooled and kept open.

    Dagster's SQLite event-log storage builds a new engine, opens a connection, commits and closes
    it for every event it stores or reads (a run writes ~700: every dbt model and test is a few).
    Each new engine compiles its INSERT again (SQLAlchemy caches compiled statements per engine),
    and when the last connection to a database in WAL mode closes, SQLite checkpoints the WAL and
    deletes it, to create it again on the next event. Reusing one engine per file, whose pool keeps
    the connection, costs ~3 ms of CPU per event instead of ~10 (about 4 s of a small run). It
    changes nothing else: the same statements in the same transactions under the storage's own
    lock; readers such as the UI see the same data; the WAL is checkpointed as usual. Other
    storages (Postgres) are left alone.

    The connections commit with `synchronous=NORMAL` (SQLite's advice for WAL mode) instead of
    FULL: a commit no longer waits for the disk, which is what made the ~200 "planned" events of a
    run take 5-10 s while the disk was busy (after copying a warehouse, beside DuckDB writing). A
    killed process loses nothing; a power cut may lose the run's last events, never the data (the
    build database and kpi.duckdb have their own durability).
    """
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
        SQLITE_BUSY_TIMEOUT_SECONDS,
        SqliteEventLogStorage,
    )
    from sqlalchemy import create_engine, event

    storage = instance.event_log_storage
    if not isinstance(storage, SqliteEventLogStorage):
        yield
        return
    engines: dict[str, Any] = {}

    @contextlib.contextmanager
    def connect(shard: str) -> Iterator[Any]:  # SqliteEventLogStorage._connect, engine kept
        with storage._db_lock:
            engine = engines.get(shard)
            if engine is None:
                engine = create_engine(
                    storage.conn_string_for_shard(shard),
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
                )
                event.listen(engine, "connect", _synchronous_normal)
                if shard not in storage._initialized_dbs:
                    storage._initdb(engine)
                    storage._initialized_dbs.add(shard)
                engines[shard] = engine
            with engine.connect() as conn, conn.begin():
                yield conn

    storage._connect = connect  # this storage object only, for this run
    try:
        yield
    finally:
        del storage._connect  # the class's method again
        for engine in engines.values():
            engine.dispose()


def _synchronous_normal(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
