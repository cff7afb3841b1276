"""The pipeline's DuckDB settings (pipelines/db.py): a memory cap, and a spill folder under the
warehouse that read-only connections (great-expectations' measures, pandera) spill into too."""

from __future__ import annotations

import threading
import time

import duckdb

from pipelines.db import duckdb_config


def test_a_read_only_connection_spills_into_the_pipelines_folder(tmp_path):
    with duckdb.connect(str(tmp_path / "build.duckdb")) as con:
        con.execute("CREATE TABLE big AS SELECT md5(i::VARCHAR) AS v, i FROM range(4000000) t(i)")
    config = duckdb_config(tmp_path, memory_limit="60MB")
    spill = tmp_path / "duckdb_tmp"
    assert spill.is_dir()
    seen: set[str] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.update(p.name for p in spill.iterdir())
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with duckdb.connect(str(tmp_path / "build.duckdb"), read_only=True, config=config) as con:
            rows = con.execute("SELECT i % 3, count(*) - count(DISTINCT v) FROM big GROUP BY 1")
            assert sorted(rows.fetchall()) == [(0, 0), (1, 0), (2, 0)]
    finally:
        done.set()
        watcher.join()
    assert any(name.endswith(".tmp") for name in seen), seen  # it did spill, there


def test_the_cap_comes_from_the_environment_unless_a_step_asks_for_less(tmp_path, monkeypatch):
    monkeypatch.setenv("KPI_DUCKDB_MEMORY_LIMIT", "5GB")
    assert duckdb_config(tmp_path)["memory_limit"] == "5GB"
    assert duckdb_config(tmp_path, memory_limit="1GB")["memory_limit"] == "1GB"
    monkeypatch.delenv("KPI_DUCKDB_MEMORY_LIMIT")
    assert duckdb_config(tmp_path)["memory_limit"] == "3GB"
