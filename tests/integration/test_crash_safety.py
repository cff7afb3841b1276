"""Crash safety: `kpi run` is SIGKILLed at every named kill point (pipelines/killpoints.py), one
after the other on the same warehouse; after each kill the published file is the last good version
byte for byte, nothing is left beside it, no dbt is left writing, the landing files are as they
were; then a last run completes and publishes the same numbers as a clean run (docs/reliability.md).

The kills are chained in run order: each killed run starts from what the previous kill left and
passes every phase before its own kill point, so it also proves that state did not break them.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.killpoints import ENV, POINTS
from pipelines.publish import staging_dir
from pipelines.sample_data import generate_sample_org

pytestmark = [pytest.mark.slow]

KPI = Path(sys.executable).parent / "kpi"


def kpi_run(landing: Path, warehouse: Path, kill_at: str | None = None):
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if kill_at:
        env[ENV] = kill_at
    return subprocess.run(
        [str(KPI), "run", "--landing", str(landing), "--warehouse", str(warehouse)],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def landing_digest(landing: Path) -> dict[str, str]:
    return {
        p.relative_to(landing).as_posix(): file_digest(p)
        for p in sorted(landing.rglob("*"))
        if p.is_file()
    }


def content(published: Path) -> dict[str, tuple]:
    """Every published table but published_runs: row count and an order-free checksum (doubles
    rounded to 6 decimals: a parallel sum may differ in its last bit from run to run)."""
    with duckdb.connect(str(published), read_only=True) as con:
        columns: dict[str, list[str]] = {}
        for table, column, kind in con.execute(
            "SELECT table_name, column_name, data_type FROM duckdb_columns() "
            "WHERE NOT internal AND schema_name = 'main' AND table_name <> 'published_runs' "
            "ORDER BY table_name, column_index"
        ).fetchall():
            value = f'"{column}"'
            columns.setdefault(table, []).append(
                f"round({value}, 6)" if kind in ("DOUBLE", "FLOAT") else value
            )
        return {
            table: tuple(
                con.execute(
                    f'SELECT count(*), sum(hash({", ".join(cols)})) FROM "{table}"'
                ).fetchall()[0]
            )
            for table, cols in columns.items()
        }


def published_runs(published: Path) -> list[str]:
    with duckdb.connect(str(published), read_only=True) as con:
        return [r[0] for r in con.execute("SELECT run_id FROM published_runs").fetchall()]


def beside(warehouse: Path) -> list[str]:
    """Files next to kpi.duckdb that belong to it (temporary copies, WAL)."""
    return sorted(p.name for p in warehouse.iterdir() if "kpi" in p.name and p.is_file())


def dbt_processes(warehouse: Path) -> list[int]:
    """dbt processes still working on this warehouse."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit() or b"dbt" not in (proc / "cmdline").read_bytes():
                continue
            if f"KPI_WAREHOUSE={warehouse}".encode() in (proc / "environ").read_bytes().split(
                b"\0"
            ):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_sigkill_at_every_kill_point_loses_nothing(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse"
    generate_sample_org(landing, seed=9, scale=0.05, start=date(2025, 1, 1), days=21)
    landing_before = landing_digest(landing)
    clean = kpi_run(landing, warehouse)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    published = warehouse / "kpi.duckdb"
    expected = content(published)
    last_good = file_digest(published)
    runs = published_runs(published)

    for point in POINTS:
        killed = kpi_run(landing, warehouse, kill_at=point)
        assert killed.returncode == -signal.SIGKILL, (point, killed.stdout + killed.stderr)
        assert dbt_processes(warehouse) == [], f"{point}: a dbt process outlived the pipeline"
        assert beside(warehouse) == ["kpi.duckdb"], point
        if point == "publish:after-replace":
            # The swap happened: the new file is complete, valid and the last good version now.
            assert published_runs(published) == [*runs, published_runs(published)[-1]]
            runs = published_runs(published)
            last_good = file_digest(published)
        else:
            assert file_digest(published) == last_good, f"{point}: kpi.duckdb changed"
        assert content(published) == expected, point  # and it opens cleanly, read-only
        assert landing_digest(landing) == landing_before, f"{point}: landing files changed"

    final = kpi_run(landing, warehouse)
    assert final.returncode == 0, final.stdout + final.stderr
    assert content(published) == expected
    assert len(published_runs(published)) == len(runs) + 1
    assert beside(warehouse) == ["kpi.duckdb"]
    assert list(staging_dir(published).iterdir()) == []
    assert landing_digest(landing) == landing_before
    print(f"{len(POINTS)} kill points, every one recovered")
