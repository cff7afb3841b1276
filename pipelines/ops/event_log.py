"""Dagster's SQLite event log, with its connections kept and its batches in one transaction.

The instance's `dagster.yaml` (pipelines/ops/instance.py) names this class as its event-log storage,
so `kpi run`, the UI, its daemon and the runs they launch all use it. The files, tables and
statements are Dagster's own (`SqliteEventLogStorage`): a warehouse written by either class is
read by the other. What differs is how often it opens, commits and asks:

- **One engine per database file, its connection pooled** (a few files at a time, the least recently
  used closed). Dagster's class builds an engine, opens, commits and closes a connection for every
  event it stores (a run stores hundreds); each new engine compiles its INSERT again, and closing
  the last connection of a database in WAL mode checkpoints and deletes the WAL, to create it again
  on the next event: ~10 ms of CPU per event instead of ~3.
- **Commits with `synchronous=NORMAL`**, SQLite's advice for WAL mode: a commit no longer waits for
  the disk (with FULL, the ~100 "planned" events at a run's start waited for it while DuckDB or a
  copy kept it busy, seconds of a run). A killed process loses nothing; a power cut may lose a
  run's last events, never data (the DuckDB files have their own durability).
- **Tables looked up once.** Dagster asks whether a table exists before every asset-check event and
  every asset event with tags, each time through a new engine and connection; a table that exists
  does not go away.
- **Writes still wake the UI.** The UI follows a running run by watching its database file for
  changes (watchdog); Dagster's class changed it at every event by checkpointing the WAL when the
  connection closed. With the connection kept, an event lands in the WAL only, so after a commit
  that wrote something the run's file gets a new modification time (one `utime`, no disk write).
- **A batch is one transaction per database file** (`store_event_batch`, used by Dagster for the
  planned events of a new run when `DAGSTER_EVENT_BATCH_SIZE` is set, see `BATCH_SIZE_ENV`):
  the same statements, committed together.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

# Dagster stores events in batches (`store_event_batch`) only when this environment variable is a
# positive batch size; it reads it at every event. Set by the pipeline's processes (instance.py).
BATCH_SIZE_ENV = "DAGSTER_EVENT_BATCH_SIZE"
BATCH_SIZE = "500"
# Database files kept open at once: the index and the runs being written or watched.
KEPT_OPEN = 8


def _synchronous_normal(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def _total_changes(conn: Connection) -> int:
    """Rows SQLite has inserted, updated or deleted through this connection since it opened."""
    return conn.connection.dbapi_connection.total_changes


class KeptOpenSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` with kept connections, known tables and one-transaction batches."""

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._known_tables: set[str] = set()
        self._batch: dict[str, Connection] | None = None  # shard -> its open transaction
        self._batch_thread: int | None = None
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> KeptOpenSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(
            self.conn_string_for_shard(shard),
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
        )
        event.listen(engine, "connect", _synchronous_normal)
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        self._engines[shard] = engine
        while len(self._engines) > KEPT_OPEN:
            _, oldest = self._engines.popitem(last=False)
            oldest.dispose()
        return engine

    @contextlib.contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        batch = self._batch
        if batch is not None and self._batch_thread == threading.get_ident():
            if shard not in batch:
                conn = self._engine(shard).connect()
                conn.begin()
                batch[shard] = conn
            yield batch[shard]
            return
        with self._db_lock, self._engine(shard).connect() as conn:
            changes = _total_changes(conn)
            with conn.begin():
                yield conn
            if _total_changes(conn) != changes:
                self._wake_watchers(shard)

    def _wake_watchers(self, shard: str) -> None:
        """A new modification time on a run's database file: what the UI's watcher waits for."""
        if shard != INDEX_SHARD_NAME:
            with contextlib.suppress(OSError):
                os.utime(self.path_for_shard(shard))

    def has_table(self, table_name: str) -> bool:
        if table_name in self._known_tables:
            return True
        found = super().has_table(table_name)
        if found:
            self._known_tables.add(table_name)
        return found

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """Store `events` as `store_event` would, one after the other, in one transaction per
        database file; nothing of the batch is stored if any of it fails."""
        with self._db_lock:
            self._batch, self._batch_thread = {}, threading.get_ident()
            try:
                for entry in events:
                    self.store_event(entry)
                for shard, conn in self._batch.items():
                    conn.commit()
                    self._wake_watchers(shard)
            except BaseException:
                for conn in self._batch.values():
                    conn.rollback()
                raise
            finally:
                for conn in self._batch.values():
                    conn.close()
                self._batch, self._batch_thread = None, None

    def dispose(self) -> None:
        super().dispose()
        with self._db_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()
