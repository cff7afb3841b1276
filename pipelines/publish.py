"""Write-audit-publish: copy validated KPI tables into a new file, then atomically replace kpi.duckdb.

Analysts only ever open `kpi.duckdb`. It is written complete under a temporary name in a staging
folder beside the target, checkpointed (no WAL left), synced to disk, and moved over the old file with
`os.replace`: a reader sees the old version or the new one, never a mix, and a failed (or killed) run
leaves the old file.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipelines.db import lit, q, scalar
from pipelines.ingest.contract import ENTITIES
from pipelines.ingest.loader import MANIFEST_TABLE, REJECTS_TABLE
from pipelines.killpoints import kill_point

PUBLISHED_RUNS = "published_runs"


@dataclass(frozen=True)
class PublishedTable:
    name: str  # name in kpi.duckdb
    query: str  # SELECT over the build database, attached as `build`
    description: str


@dataclass(frozen=True)
class PublishReport:
    path: Path
    run_id: str
    row_counts: dict[str, int]


def manifest_checksums(con: duckdb.DuckDBPyConnection, database: str = "build") -> dict[str, str]:
    """sha256 of every landing file the build database was loaded from, as recorded by the loader
    in `raw.landing_files` (no file is read): relative path → hash, entities in contract order."""
    has = scalar(
        con,
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'raw' "
        "AND table_name = 'landing_files'",
        [database],
    )
    if not has:
        return {}
    rows = con.execute(f"SELECT entity, source_file, sha256 FROM {database}.{MANIFEST_TABLE}")
    order = {name: i for i, name in enumerate(ENTITIES)}
    ranked = sorted(rows.fetchall(), key=lambda r: (order.get(r[0], len(order)), r[0], r[1]))
    return {source_file: sha for _, source_file, sha in ranked}


def file_checksums(files: list[Path], root: Path) -> dict[str, str]:
    out = {}
    for path in files:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        out[path.relative_to(root).as_posix()] = digest.hexdigest()
    return out


def staging_dir(target: Path) -> Path:
    """Where the next version of `target` is written: a folder beside it, on the same file system
    (so `os.replace` is atomic), holding nothing between publishes."""
    return target.parent / f".{target.stem}.publishing"


def clear_staging(target: Path) -> list[Path]:
    """Remove what a killed publish left behind (only one publish runs at a time: it holds the
    build database lock). Returns the removed paths."""
    stale = sorted(staging_dir(target).glob("*"))
    stale += sorted(target.parent.glob(f".{target.name}.*.tmp*"))  # the layout before the folder
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def publish(
    build_db: Path,
    target: Path,
    tables: list[PublishedTable],
    *,
    run_id: str,
    landing_checksums: dict[str, str] | None = None,
) -> PublishReport:
    """Publish `tables` from the build database into `target` atomically.

    `landing_checksums` (relative path → sha256) is recorded in `published_runs`; by default it is
    the loader's manifest in the build database: the files the published numbers were built from.

    Only `target` ever appears beside the target: the new file (and its WAL while it is written)
    lives in `staging_dir(target)` until the swap, and a publish killed half-way leaves the
    previous `target` untouched and its leftovers in that folder, removed by the next publish.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(target)
    staging.mkdir(exist_ok=True)
    clear_staging(target)
    tmp = staging / f"{run_id}.duckdb"
    counts: dict[str, int] = {}
    try:
        con = duckdb.connect(str(tmp))
        try:
            con.execute(f"ATTACH {lit(str(build_db))} AS build (READ_ONLY)")
            for table in tables:
                con.execute(f"CREATE TABLE {q(table.name)} AS {table.query}")
                con.execute(f"COMMENT ON TABLE {q(table.name)} IS {lit(table.description)}")
                counts[table.name] = scalar(con, f"SELECT count(*) FROM {q(table.name)}")
            if landing_checksums is None:
                landing_checksums = manifest_checksums(con)
            _record_run(con, target, run_id, landing_checksums, counts)
            con.execute("DETACH build")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        _fsync(tmp)
        kill_point("publish:before-replace")
        os.replace(tmp, target)
        kill_point("publish:after-replace")
        _fsync(target.parent)
    finally:
        clear_staging(target)
    return PublishReport(target, run_id, counts)


def _record_run(
    con: duckdb.DuckDBPyConnection,
    previous: Path,
    run_id: str,
    landing_checksums: dict[str, str],
    counts: dict[str, int],
) -> None:
    con.execute(
        f"""CREATE TABLE {PUBLISHED_RUNS} (
            run_id VARCHAR, published_at TIMESTAMPTZ, landing_files JSON, row_counts JSON,
            rejected_rows BIGINT)"""
    )
    con.execute(f"COMMENT ON TABLE {PUBLISHED_RUNS} IS 'One row per publish of this file.'")
    if previous.exists():
        con.execute(f"ATTACH {lit(str(previous))} AS previous (READ_ONLY)")
        has = scalar(
            con,
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'previous' "
            "AND table_name = ?",
            [PUBLISHED_RUNS],
        )
        if has:
            con.execute(f"INSERT INTO {PUBLISHED_RUNS} SELECT * FROM previous.{PUBLISHED_RUNS}")
        con.execute("DETACH previous")
    rejected = scalar(con, f"SELECT count(*) FROM build.{REJECTS_TABLE}")
    con.execute(
        f"INSERT INTO {PUBLISHED_RUNS} VALUES (?, ?, ?, ?, ?)",
        [run_id, datetime.now(UTC), json.dumps(landing_checksums), json.dumps(counts), rejected],
    )


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
