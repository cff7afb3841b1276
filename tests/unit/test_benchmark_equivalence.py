"""The benchmark's implementations compute the same `funnel_factors` (issue 6).

A small generated org (scale 0.05, five weeks) plus a hand-written late delivery that exercises the
contract rules the funnels depend on: corrections and exact re-deliveries, opportunity versions by
`updated_at`, trimming and case, wall-clock vs offset timestamps, unknown reps, rows in the future,
broken JSON lines. The floor script (benchmarks/floor.sql) must agree with the pandas peer
(tests/reference/pandas_funnels.py), and — slower — with a real `kpi run`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks.compare import compare_files
from benchmarks.floor import run_floor
from pipelines.sample_data import generate_sample_org
from pipelines.settings import PROJECT_ROOT
from tests.reference.pandas_funnels import compute

SAMPLE = {"seed": 11, "scale": 0.05, "start": date(2025, 1, 1), "days": 35}

CALLS = """\
call_id,rep_id,started_at,duration_seconds,direction,outcome,contact_id,account_id
C20250102-000001,R005,2025-01-02T06:39:47Z,58,inbound,connected,CT-001342,AC-00223
C20250102-000002, R005 ,2025-01-02T07:40:35+01:00,0,OUTBOUND,no_answer,CT-000818,AC-00136
ZC-1,R001,2025-01-15 23:30:00,60,outbound,connected,,
ZC-2,R001,2025-01-15T23:30:00Z,60,outbound,connected,,
ZC-3,R999,2025-01-20T10:00:00+01:00,60,outbound,connected,,
ZC-4,R001,2030-01-01T10:00:00Z,60,outbound,connected,,
ZC-5,R001,2025-01-20T10:00:00+01:00,1.5e3,outbound,busy,,
ZC-6,R001,2025-01-20T10:00,12,outbound,busy,,
ZC-7,R001,2025-01-20T23:00:00.123456-02:00,12,outbound,busy,,
ZC-8,R001,2025-03-30 02:30:00,1,outbound,busy,,
ZC-9,R001,2025-01-20T10:00:00+01:00,,outbound,busy,,
ZC-10,R001,2025-01-20T10:00:00+01:00,-0,outbound,busy,,
ZC-11,R001,2025-01-20T10:00:00+01:00,5,outbound,hung_up,,
ZC-12,R001,2025-01-21T10:00:00+01:00,5,outbound,busy,,
ZC-12,R002,2025-01-22T10:00:00+01:00,5,outbound,busy,,
"""

OPPORTUNITIES = """\
opportunity_id,rep_id,account_id,meeting_id,source,created_at,closed_at,status,amount,currency,updated_at
ZO-1,R001,,,outbound,2025-01-05T10:00:00+01:00,2025-01-20T10:00:00+01:00,won,100000,NOK,2025-01-20T10:00:00+01:00
ZO-1,R001,,,outbound,2025-01-05T10:00:00+01:00,,open,90000,NOK,2025-01-10T10:00:00+01:00
ZO-2,R002,,,inbound,2025-01-05T10:00:00+01:00,2025-01-21T09:00:00Z,won,50000.5,nok,2025-01-21T09:00:00Z
ZO-3,R003,,,outbound,2025-01-05T10:00:00+01:00,,lost,0,NOK,2025-01-22T09:00:00Z
ZO-4,R003,,,referral,2025-01-05T10:00:00+01:00,2025-01-22T09:00:00Z,lost,0,NOK,2025-01-22T09:00:00Z
ZO-5,R004,,,outbound,2025-01-05T10:00:00+01:00,2025-01-23T09:00:00Z,won,75000,NOK,2025-01-23T09:00:00Z
ZO-5,R004,,,outbound,2025-01-05T10:00:00+01:00,2025-01-24T09:00:00Z,won,80000,NOK,2025-01-23T09:00:00Z
ZO-6,R999,,,inbound,2025-01-05T10:00:00+01:00,2025-01-31T23:30:00Z,WON,20000,NOK,2025-02-01T09:00:00Z
ZO-7,R002,,,outbound,2025-01-05T10:00:00+01:00,2025-01-25T09:00:00Z,won,-5,NOK,2025-01-25T09:00:00Z
"""

MEETINGS = """\
meeting_id,rep_id,account_id,booked_at,scheduled_at,status,source,visitor_id
ZM-1,R001,,2025-01-02T10:00:00+01:00,2025-01-20T10:00:00+01:00,held,outbound,
ZM-2,R002,,2025-01-02T10:00:00+01:00,2025-01-20T10:00:00+01:00, Held ,inbound,V-1
ZM-3,R002,,2025-01-02T10:00:00+01:00,2025-01-20T10:00:00+01:00,rescheduled,inbound,V-1
ZM-1,R001,,2025-01-02T10:00:00+01:00,2025-01-21T10:00:00+01:00,held,outbound,
"""

EMAILS = [
    {"email_id": "ZE-1", "rep_id": "R002", "sent_at": "2025-01-31T23:30:00Z", "replied_at": None},
    "[1, 2]",
    "not json at all",
    {
        "email_id": "ZE-2",
        "rep_id": "R002",
        "sent_at": "2025-01-20T10:00:00+01:00",
        "replied_at": "2031-01-01T00:00:00Z",
    },
    "",
    {"email_id": "ZE-3", "rep_id": "R003", "sent_at": "2025-01-20 10:00:00", "account_id": None},
]


def _visits(landing: Path) -> pa.Table:
    """A late web-visit delivery: a correction of an existing visit, a duplicate, a new visit."""
    existing = pq.read_table(next((landing / "web_visits").glob("*.parquet"))).slice(0, 2)
    rows = existing.to_pylist()
    corrected = dict(rows[0], visitor_id="V-ZZZ-1")
    padded = dict(rows[1], channel=f" {rows[1]['channel'].upper()} ")
    new = dict(rows[1], visit_id="ZV-1", visitor_id="V-ZZZ-2")
    return pa.Table.from_pylist([corrected, padded, new], schema=existing.schema)


def add_late_delivery(landing: Path) -> None:
    """Write the hand-made files; their names sort after every generated file."""
    (landing / "calls" / "zz_late.csv").write_text(CALLS, encoding="utf-8")
    (landing / "opportunities" / "zz_late.csv").write_text(OPPORTUNITIES, encoding="utf-8")
    (landing / "meetings" / "zz_late.csv").write_text(MEETINGS, encoding="utf-8")
    lines = [e if isinstance(e, str) else json.dumps(e) for e in EMAILS]
    (landing / "emails" / "zz_late.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    pq.write_table(_visits(landing), landing / "web_visits" / "zz_late.parquet")


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bench_equivalence") / "landing"
    generate_sample_org(root, **SAMPLE)
    add_late_delivery(root)
    return root


@pytest.fixture(scope="module")
def floor_db(landing: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("floor") / "floor.duckdb"
    assert run_floor(landing, out) > 0
    return out


def test_floor_matches_pandas_peer(landing: Path, floor_db: Path, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = compute(landing)
    peer = tmp_path / "pandas.parquet"
    expected.to_parquet(peer, index=False)
    # Every funnel and dimension is exercised, and the late delivery is in the numbers.
    assert set(expected["funnel"]) == {"universal", "inbound", "outbound"}
    assert set(expected["dimension"]) == {"all", "team", "rep"}
    assert "(unassigned)" in set(expected["member"])
    comparison = compare_files(floor_db, peer, ("floor", "pandas"))
    assert comparison.identical, str(comparison)


@pytest.mark.slow
def test_kpi_run_matches_floor(landing: Path, floor_db: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(warehouse / "dagster_home"),
        "KPI_PSEUDONYM_KEY": "funnel-kpi benchmark key: not a secret",
    }
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--landing", str(landing),
         "--warehouse", str(warehouse)],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    comparison = compare_files(warehouse / "kpi.duckdb", floor_db, ("kpi run", "floor"))
    assert comparison.identical, str(comparison)
