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
import json
import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from pipelines.ops.event_log import BATCH_SIZE, BATCH_SIZE_ENV
from pipelines.settings import Settings

MARKER = "# Managed by funnel-kpi (pipelines/ops/instance.py); remove this line to keep your edits."
LEGACY_CONFIGS = ("telemetry:\n  enabled: false\n",)


# One writer of build.duckdb: every step that opens it is in the `build_db` pool (BUILD_DB_POOL) and
# every pool allows one step at a time, across runs and processes (`kpi run` included). Runs started
# by the UI, the schedule or a sensor also queue: one in progress at a time, the next one waits.
# Run monitoring (daemon) frees the pool slot of a run that ended without freeing it, after 60 s.
# The event log is Dagster's SQLite storage with its connections kept (pipelines/ops/event_log.py),
# in the same folder as the default one (`<home>/storage`), for every process using the instance.
def dagster_yaml(home: Path) -> str:
    """The managed dagster.yaml of the instance in `home`."""
    return f"""{MARKER}
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
event_log_storage:
  module: pipelines.ops.event_log
  class: KeptOpenSqliteEventLogStorage
  config:
    base_dir: {json.dumps(str(home / "storage"))}
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
    wanted = dagster_yaml(home)
    if managed and current != wanted:  # also a warehouse copied from elsewhere: its paths moved
        tmp = config.with_name(f".dagster.yaml.{os.getpid()}.tmp")
        tmp.write_text(wanted, encoding="utf-8")
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
    # Dagster stores a new run's planned events as one batch only when asked (event_log.py).
    os.environ.setdefault(BATCH_SIZE_ENV, BATCH_SIZE)
    with _exclusive(home / ".instance.lock"):
        ensure_instance_config(home)
        return dg.DagsterInstance.from_config(str(home))
