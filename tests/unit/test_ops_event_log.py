"""The instance's event log (pipelines/ops/event_log.py): Dagster's SQLite storage with its
connections kept. It must store and read what Dagster's own class does, in the same files, commit
a batch all or nothing, wake a UI watching a run, and keep the UI's view of a run live."""

from __future__ import annotations

import os
import threading
import time

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType, EngineEventData
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from pipelines.ops.event_log import BATCH_SIZE_ENV, KeptOpenSqliteEventLogStorage
from pipelines.ops.instance import open_instance


@dg.asset
def numbers() -> int:
    return 3


@dg.asset_check(asset=numbers)
def numbers_are_positive() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def entry(run_id: str, message: str) -> EventLogEntry:
    return EventLogEntry(
        user_message=message,
        level="INFO",
        job_name="job",
        run_id=run_id,
        error_info=None,
        timestamp=time.time(),
        step_key=None,
        dagster_event=DagsterEvent(
            event_type_value=DagsterEventType.ENGINE_EVENT.value,
            job_name="job",
            message=message,
            event_specific_data=EngineEventData(),
        ),
    )


def test_a_run_is_stored_as_dagsters_own_storage_reads_it(tmp_path):
    home = tmp_path / "home"
    with open_instance(home) as instance:
        assert isinstance(instance.event_log_storage, KeptOpenSqliteEventLogStorage)
        assert os.environ[BATCH_SIZE_ENV]  # the planned events of a new run come as one batch
        result = dg.materialize([numbers, numbers_are_positive], instance=instance)
        assert result.success
        run_id = result.run_id
        ours = [e.dagster_event_type for e in instance.all_logs(run_id)]
    # The same files, read by Dagster's class.
    plain = SqliteEventLogStorage(str(home / "storage"))
    theirs = [e.dagster_event_type for e in plain.get_logs_for_run(run_id)]
    assert theirs == ours
    assert DagsterEventType.ASSET_MATERIALIZATION_PLANNED in theirs
    assert DagsterEventType.ASSET_CHECK_EVALUATION in theirs
    latest = plain.get_latest_materialization_events([dg.AssetKey("numbers")])
    assert latest[dg.AssetKey("numbers")] is not None
    plain.dispose()


def test_a_batch_is_stored_all_or_nothing(tmp_path):
    storage = KeptOpenSqliteEventLogStorage(str(tmp_path / "storage"))
    storage.store_event_batch([entry("run-a", f"event {i}") for i in range(5)])
    assert len(storage.get_logs_for_run("run-a")) == 5

    class Broken(Exception):
        pass

    def fail_after_two(events):
        original = storage.store_event
        calls = []

        def store(event):
            calls.append(event)
            if len(calls) == 3:
                raise Broken
            original(event)

        storage.store_event = store
        try:
            storage.store_event_batch(events)
        finally:
            del storage.store_event

    with pytest.raises(Broken):
        fail_after_two([entry("run-b", f"event {i}") for i in range(5)])
    assert storage.get_logs_for_run("run-b") == []
    # The storage is usable afterwards, from another thread too.
    worker = threading.Thread(target=storage.store_event, args=(entry("run-b", "later"),))
    worker.start()
    worker.join()
    assert [e.user_message for e in storage.get_logs_for_run("run-b")] == ["later"]
    storage.dispose()


def test_a_watcher_of_a_run_sees_each_new_event(tmp_path):
    # The UI follows a running run through a watch on its database file.
    writer = KeptOpenSqliteEventLogStorage(str(tmp_path / "storage"))
    reader = KeptOpenSqliteEventLogStorage(str(tmp_path / "storage"))
    writer.store_event(entry("run-c", "first"))
    seen: list[str] = []
    reader.watch("run-c", None, lambda event, cursor: seen.append(event.user_message))
    try:
        for message in ("second", "third"):
            writer.store_event(entry("run-c", message))
            deadline = time.monotonic() + 10
            while message not in seen and time.monotonic() < deadline:
                time.sleep(0.05)
            assert message in seen, f"the watcher did not see {message!r}: {seen}"
        # Reading does not wake it (no loop of reads waking reads).
        before = list(seen)
        reader.get_logs_for_run("run-c")
        time.sleep(0.5)
        assert seen == before
    finally:
        reader.dispose()
        writer.dispose()


def test_existing_tables_are_looked_up_once(tmp_path, monkeypatch):
    storage = KeptOpenSqliteEventLogStorage(str(tmp_path / "storage"))
    lookups = []
    original = SqliteEventLogStorage.has_table

    def counted(self, name):
        lookups.append(name)
        return original(self, name)

    monkeypatch.setattr(SqliteEventLogStorage, "has_table", counted)
    for _ in range(3):
        assert storage.has_table("asset_check_executions")
        assert not storage.has_table("no_such_table")
    assert lookups.count("asset_check_executions") == 1
    assert lookups.count("no_such_table") == 3  # a missing table may be created by a migration
    storage.dispose()
