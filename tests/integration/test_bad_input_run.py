"""The whole bad-input corpus through a real `kpi run`: nothing lost, nothing bad counted, and the
orphaned rep flagged in the published file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest.contract import ENTITIES
from tests import corpus

pytestmark = [pytest.mark.slow]

KPI = Path(sys.executable).parent / "kpi"


def kpi_run(landing: Path, warehouse: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(KPI), "run", "--landing", str(landing), "--warehouse", str(warehouse)],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip


def test_the_corpus_in_one_run(tmp_path):
    # Every case that does not fail its entity, all in one landing folder (the 50 MB field is
    # left to the unit test: it only adds memory here).
    cases = [c for c in corpus.all_cases() if c.error is None and c.name != "huge_field"]
    landing = tmp_path / "landing"
    for case in cases:
        case.write(landing)
    for relative, data in corpus.base_files().items():
        (landing / relative).parent.mkdir(parents=True, exist_ok=True)
        (landing / relative).write_bytes(data)
    warehouse = tmp_path / "warehouse"
    result = kpi_run(landing, warehouse)
    assert result.returncode == 0, result.stdout + result.stderr
    expected_rejects = sorted(r for c in cases for r in c.rejected)
    with duckdb.connect(str(warehouse / "kpi.duckdb"), read_only=True) as con:
        assert con.execute("SELECT * FROM rejects ORDER BY ALL").fetchall() == expected_rejects
        assert con.execute("SELECT * FROM orphaned_reps ORDER BY ALL").fetchall() == [
            ("calls", corpus.GHOST_REP, 1),
            ("opportunities", corpus.GHOST_REP, 1),
        ]
        # The orphan's won deal counts for its rep_id and under team (unassigned).
        sales = con.execute(
            "SELECT dimension, member, value FROM funnel_factors WHERE funnel = 'universal' "
            "AND grain = 'day' AND period_start = '2025-03-06' AND factor = 'total_sales' "
            "AND dimension IN ('all', 'rep', 'team') ORDER BY ALL"
        ).fetchall()
        assert sales == [
            ("all", "all", 700.0),
            ("rep", corpus.GHOST_REP, 700.0),
            ("team", "(unassigned)", 700.0),
        ]
    with duckdb.connect(str(warehouse / "build.duckdb"), read_only=True) as con:
        for entity, spec in ENTITIES.items():
            expected = [row for c in cases for row in c.loaded.get(entity, [])]
            if entity == "reps":
                expected += [(r, "reps/base/reps.csv", n) for n, r in enumerate(corpus.REP_IDS, 2)]
            if entity == "meetings":
                expected += [("BAS-M1", "meetings/base/meetings.csv", 2)]
            got = con.execute(
                f"SELECT {spec.id_column}, _source_file, _source_row FROM raw.{entity} ORDER BY ALL"
            ).fetchall()
            assert got == sorted(expected), entity
    assert "rejected rows with reasons" in result.stdout
    # great-expectations: the loaded rows meet the contract; the orphan's file is flagged (WARN).
    failed = [line for line in result.stdout.splitlines() if "FAILED" in line]
    assert not [line for line in failed if "gx_contract" in line]
    assert any("raw/opportunities:gx_distribution" in line for line in failed)
