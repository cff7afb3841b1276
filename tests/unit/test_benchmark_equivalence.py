"""The benchmark's implementations compute the same `funnel_factors` (issue 6).

A small generated org (scale 0.05, five weeks) plus a hand-written late delivery that exercises the
contract rules the funnels depend on: corrections and exact re-deliveries, opportunity versions by
`updated_at`, trimming and case, wall-clock vs offset timestamps, unknown reps, rows in the future,
broken JSON lines; and for the funnels beyond the three shipped ones: regions, web touches
(first / last touch, a landing page with contact details to scrub, a visitor without visits, a
visit after the booking) and cohort chains (the closest preceding activity or visit, a tie at the
booking instant, windows of 30 and 180 days, an opportunity closed before its meeting was booked).
The floor script (benchmarks/floor.sql) must agree with the pandas peer
(tests/reference/pandas_funnels.py) on the three funnels by all/team/rep, and — slower — with a
real `kpi run` on the whole `funnel_factors` table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
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
ZC-13,R002,2025-01-05T10:00:00+01:00,30,outbound,connected,,AC-Z1
ZC-14,R003,2025-01-01T10:00:00+01:00,30,outbound,connected,,AC-Z2
ZC-15,R004,2025-01-09T10:00:00+01:00,30,inbound,connected,,AC-Z1
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
ZO-8,R001,AC-Z1,ZM-4,outbound,2025-01-10T10:00:00+01:00,2025-01-25T10:00:00+01:00,won,30000,NOK,2025-01-25T10:00:00+01:00
ZO-9,R002,,ZM-6,inbound,2025-01-06T10:00:00+01:00,2025-01-28T10:00:00+01:00,won,40000,NOK,2025-01-28T10:00:00+01:00
ZO-10,R002,,ZM-7,inbound,2025-01-08T10:00:00+01:00,2025-08-01T10:00:00+02:00,won,45000,NOK,2025-08-01T10:00:00+02:00
ZO-11,R003,,ZM-9,inbound,2025-01-05T10:00:00+01:00,2025-01-29T10:00:00+01:00,won,1000,NOK,2025-01-29T10:00:00+01:00
ZO-12,R001,AC-Z1,ZM-4,referral,2025-01-05T10:00:00+01:00,2025-01-11T10:00:00+01:00,won,500,NOK,2025-01-11T10:00:00+01:00
ZO-13,R001,AC-Z1,ZM-4,outbound,2025-01-05T10:00:00+01:00,2025-01-09T10:00:00+01:00,won,700,NOK,2025-01-09T10:00:00+01:00
ZO-14,R004,,ZM-404,inbound,2025-01-05T10:00:00+01:00,2025-01-30T10:00:00+01:00,won,900,NOK,2025-01-30T10:00:00+01:00
"""

MEETINGS = """\
meeting_id,rep_id,account_id,booked_at,scheduled_at,status,source,visitor_id
ZM-1,R001,,2025-01-02T10:00:00+01:00,2025-01-20T10:00:00+01:00,held,outbound,
ZM-2,R002,,2025-01-02T10:00:00+01:00,2025-01-20T10:00:00+01:00, Held ,inbound,V-1
ZM-3,R002,,2025-01-02T10:00:00+01:00,2025-01-20T10:00:00+01:00,rescheduled,inbound,V-1
ZM-1,R001,,2025-01-02T10:00:00+01:00,2025-01-21T10:00:00+01:00,held,outbound,
ZM-4,R001,AC-Z1,2025-01-10T09:00:00+01:00,2025-01-12T10:00:00+01:00,held,outbound,
ZM-5,R001,AC-Z2,2025-02-03T10:00:00+01:00,2025-02-04T10:00:00+01:00,held,outbound,
ZM-6,R002,,2025-01-05T12:00:00+01:00,2025-01-09T10:00:00+01:00,held,inbound,V-ZZZ-3
ZM-7,R002,,2025-01-07T12:00:00+01:00,2025-01-09T11:00:00+01:00,held,inbound,V-ZZZ-3
ZM-8,R003,,2025-01-02T08:00:00+01:00,2025-01-09T12:00:00+01:00,held,inbound,V-ZZZ-4
ZM-9,R003,,2025-01-04T08:00:00+01:00,2025-01-09T12:00:00+01:00,cancelled,inbound,V-ZZZ-3
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
    {
        "email_id": "ZE-4",
        "rep_id": "R003",
        "sent_at": "2025-01-08T10:00:00+01:00",
        "account_id": "AC-Z1",
    },
    {
        "email_id": "ZE-5",
        "rep_id": "R999",
        "sent_at": "2025-01-10T09:00:00+01:00",
        "account_id": "AC-Z1",
    },
    {
        "email_id": "ZE-6",
        "rep_id": "R004",
        "sent_at": "2025-01-10T09:00:01+01:00",
        "account_id": "AC-Z1",
    },
]


def _visits(landing: Path) -> pa.Table:
    """A late web-visit delivery: a correction of an existing visit, a duplicate, new visits (the
    touches of the meetings above: a landing page with an e-mail address, one with a phone number,
    a visit after the booking)."""
    existing = pq.read_table(next((landing / "web_visits").glob("*.parquet"))).slice(0, 2)
    rows = existing.to_pylist()
    corrected = dict(rows[0], visitor_id="V-ZZZ-1")
    padded = dict(rows[1], channel=f" {rows[1]['channel'].upper()} ")
    new = dict(rows[1], visit_id="ZV-1", visitor_id="V-ZZZ-2")

    def visit(visit_id: str, visitor: str, at: datetime, channel: str, page: str) -> dict:
        return dict(
            rows[1], visit_id=visit_id, visitor_id=visitor, visited_at=at, channel=channel,
            landing_page=page,
        )  # fmt: skip

    touches = [
        visit("ZV-2", "V-ZZZ-3", datetime(2025, 1, 3, 9, tzinfo=UTC), "paid",
              "/contact?from=ola.nordmann@example.com"),
        visit("ZV-3", "V-ZZZ-3", datetime(2025, 1, 6, 9, tzinfo=UTC), "social",
              "/pricing?tel=+47 912 34 567"),
        visit("ZV-4", "V-ZZZ-4", datetime(2025, 1, 3, 9, tzinfo=UTC), "email", "/demo"),
    ]  # fmt: skip
    return pa.Table.from_pylist([corrected, padded, new, *touches], schema=existing.schema)


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
    comparison = compare_files(floor_db, peer, ("floor", "pandas"), scope="pandas")
    assert comparison.identical, str(comparison)


def test_floor_covers_every_funnel(floor_db: Path) -> None:
    """Every funnel and dimension of kpi_definitions/funnels.yml, and hand-checked cohort and
    attribution numbers from the late delivery."""
    con = duckdb.connect(str(floor_db), read_only=True)
    try:
        pairs = set(con.execute("SELECT DISTINCT funnel, dimension FROM funnel_factors").fetchall())
        day = con.execute(
            """SELECT factor, value FROM funnel_factors WHERE funnel = 'outbound_cohort'
            AND grain = 'day' AND period_start = DATE '2025-01-10' AND dimension = 'rep'
            AND member = 'R999' ORDER BY position"""
        ).fetchall()
        pages = {
            m
            for (m,) in con.execute(
                "SELECT DISTINCT member FROM funnel_factors "
                "WHERE dimension = 'first_touch_landing_page'"
            ).fetchall()
        }
    finally:
        con.close()
    shipped = {"all", "team", "rep", "region"}
    touches = {"all", "first_touch_channel", "last_touch_channel", "first_touch_landing_page"}
    assert pairs == {
        *(("universal", d) for d in shipped),
        *(("outbound", d) for d in shipped),
        *(("inbound", d) for d in touches),
        ("inbound_cohort", "all"),
        ("inbound_cohort", "first_touch_channel"),
        *(("outbound_cohort", d) for d in ("all", "team", "rep")),
    }
    # ZM-4 (booked 09:00 on 10 Jan, account AC-Z1) is credited to ZE-5 (same instant, R999), not to
    # the earlier ZE-4 / ZC-13 nor the later ZE-6; ZO-8 and ZO-12 follow it, ZO-13 closed before.
    assert day == [
        ("activities", 1.0),
        ("activity_to_meeting_rate", 1.0),
        ("meeting_hit_rate", 2.0),
        ("avg_contract_value", 15250.0),
        ("total_sales", 30500.0),
    ]
    assert "/contact?from=(e-mail)" in pages


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
    # The whole table: every funnel, dimension and grain `kpi run` publishes.
    comparison = compare_files(warehouse / "kpi.duckdb", floor_db, ("kpi run", "floor"))
    assert comparison.identical, str(comparison)
    assert comparison.rows_left > 0 and comparison.outside_scope == (0, 0)
