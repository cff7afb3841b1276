"""No raw personal data is published and the pseudonymisation key never leaks (docs/reliability.md).

A small sample org plus hand-made rows whose contact and visitor ids are e-mail addresses and phone
numbers (and a landing page with both in its query string) go through a real `kpi run`; then every
column of every table of kpi.duckdb is scanned for every raw personal value of the landing files,
and every file the run wrote is searched for the key.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest.contract import ENTITIES
from pipelines.privacy import KEY_ENV
from pipelines.sample_data import generate_sample_org
from pipelines.settings import PROJECT_ROOT

pytestmark = [pytest.mark.slow]

KPI = Path(sys.executable).parent / "kpi"
KEY = "test-key-7c1e0f5b8a9d4e2f-not-used-anywhere-else"
T = "2025-01-15T10:00:00Z"
# Personal values that look like what CRMs and telephony systems really deliver.
EMAILS = ("ola.nordmann@example.no", "kari+sales@example.com", "per@example.org")
PHONES = ("+47 912 34 567", "+4798765432")
PERSONAL = {
    entity: [c.name for c in spec.columns if c.personal] for entity, spec in ENTITIES.items()
}


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def add_contact_details(landing: Path) -> None:
    calls = "call_id,rep_id,started_at,duration_seconds,direction,outcome,contact_id\n"
    calls += f"PII-C1,R001,{T},60,outbound,connected,{PHONES[0]}\n"
    calls += f"PII-C2,R001,{T},60,outbound,connected,{EMAILS[0]}\n"
    calls += f'PII-C3,R001,{T},60,outbound,connected,"{EMAILS[2]}""broken"\n'  # rejected
    write(landing / "calls" / "pii.csv", calls)
    emails = [
        {"email_id": "PII-E1", "rep_id": "R001", "sent_at": T, "contact_id": EMAILS[1]},
        {"email_id": "PII-E2", "rep_id": "R001", "sent_at": T, "contact_id": PHONES[1]},
    ]
    write(landing / "emails" / "pii.jsonl", "".join(json.dumps(e) + "\n" for e in emails))
    visits = "visit_id,visitor_id,visited_at,channel,landing_page,campaign\n"
    visits += f"PII-V1,{EMAILS[0]},{T},email,/signup?email={EMAILS[1]}&tel=%2B4798765432,\n"
    visits += f"PII-V2,{PHONES[1]},{T},paid,/demo,call {PHONES[0]}\n"
    write(landing / "web_visits" / "pii.csv", visits)
    meetings = "meeting_id,rep_id,booked_at,scheduled_at,status,source,visitor_id\n"
    meetings += f"PII-M1,R001,{T},2025-01-16T10:00:00Z,held,inbound,{EMAILS[0]}\n"
    write(landing / "meetings" / "pii.csv", meetings)


def kpi_run(landing: Path, warehouse: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    return subprocess.run(
        [str(KPI), "run", "--landing", str(landing), "--warehouse", str(warehouse)],
        env={**clean, **env}, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip


def raw_personal_values(build_db: Path) -> set[str]:
    """Every personal value the loader read from the landing files, loaded or rejected."""
    values: set[str] = set()
    with duckdb.connect(str(build_db), read_only=True) as con:
        for entity, columns in PERSONAL.items():
            for column in columns:
                rows = con.execute(f"SELECT DISTINCT {column} FROM raw.{entity} WHERE {column} "
                                   "IS NOT NULL").fetchall()  # fmt: skip
                values |= {r[0] for r in rows}
        for (record,) in con.execute("SELECT raw_record FROM raw.rejects").fetchall():
            values |= set(re.findall(r"[\w.+-]+@[\w.-]+", record))
    return values


def test_published_warehouse_holds_no_personal_value_and_no_key(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse"
    generate_sample_org(landing, seed=13, scale=0.05, start=date(2025, 1, 1), days=21)
    add_contact_details(landing)
    result = kpi_run(landing, warehouse, **{KEY_ENV: KEY})
    assert result.returncode == 0, result.stdout + result.stderr

    needles = raw_personal_values(warehouse / "build.duckdb") | set(EMAILS) | set(PHONES)
    assert len(needles) > 1000 and set(EMAILS) <= needles  # the scan looks for something real
    patterns = [re.escape(v) for v in (*EMAILS, *PHONES)] + [r"VIS-\d+", r"CT-\d+", r"%40", r"@"]
    found = []
    with duckdb.connect() as con:
        con.execute("CREATE TABLE needles (v VARCHAR)")
        con.executemany("INSERT INTO needles VALUES (?)", [[v] for v in sorted(needles)])
        con.execute(f"ATTACH '{warehouse / 'kpi.duckdb'}' AS kpi (READ_ONLY)")
        columns = con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = 'kpi'"
        ).fetchall()
        assert len(columns) > 50
        for table, column in columns:
            cell = f'CAST("{column}" AS VARCHAR)'
            exact = con.execute(
                f'SELECT count(*) FROM kpi."{table}" WHERE {cell} IN (SELECT v FROM needles)'
            ).fetchall()[0][0]
            partial = con.execute(
                f'SELECT any_value({cell}) FROM kpi."{table}" WHERE regexp_matches({cell}, ?)',
                ["|".join(patterns)],
            ).fetchall()[0][0]
            if exact or partial:
                found.append((table, column, exact, partial))
    assert found == []

    # Distinct visitors survive the hashing: the inbound funnel counts every raw visitor.
    with duckdb.connect(str(warehouse / "build.duckdb"), read_only=True) as con:
        raw_visitors = con.execute(
            "SELECT count(DISTINCT visitor_id) FROM raw.web_visits"
        ).fetchall()[0][0]
        hashed = con.execute(
            "SELECT count(DISTINCT visitor_id), count(*) FILTER (WHERE NOT regexp_full_match("
            "visitor_id, 'pseu_[0-9a-f]{32}')) FROM marts.web_visits"
        ).fetchall()[0]
        assert hashed == (raw_visitors, 0)
        # visitor_key, what the web-visit models join and count on, is the pseudonym's 128 bits:
        # one number per pseudonym, and the pseudonym's hex digits read back from it.
        keys = con.execute(
            "SELECT count(DISTINCT visitor_key), count(*) FILTER (WHERE "
            "lpad(lower(hex(visitor_key)), 32, '0') IS DISTINCT FROM substr(visitor_id, 6)) "
            "FROM marts.web_visits"
        ).fetchall()[0]
        assert keys == (raw_visitors, 0)
        # One visitor, one pseudonym everywhere: the inbound meeting still joins its visits.
        joined = con.execute(
            "SELECT count(*) FROM marts.meetings m JOIN marts.web_visits v USING (visitor_id) "
            "WHERE m.meeting_id = 'PII-M1'"
        ).fetchall()[0][0]
        assert joined == 1
        pages = con.execute(
            "SELECT landing_page, campaign FROM marts.web_visits WHERE visit_id LIKE 'PII-%' "
            "ORDER BY visit_id"
        ).fetchall()
        assert pages == [("/signup?email=(e-mail)&tel=(phone)", None), ("/demo", "call (phone)")]
    with duckdb.connect(str(warehouse / "kpi.duckdb"), read_only=True) as con:
        (reason,) = con.execute(
            "SELECT reason FROM rejects WHERE source_file = 'calls/pii.csv'"
        ).fetchone()
        assert reason == "contact_id: the value has a quote or control character"

    # The key is in no file the run wrote (logs, Dagster's event log and metadata, dbt's files).
    written = [p for p in warehouse.rglob("*") if p.is_file()]
    written += [
        p
        for p in (PROJECT_ROOT / "kpi_models" / "target").rglob("*")
        if p.is_file() and p.stat().st_mtime >= (warehouse / "build.duckdb").stat().st_ctime - 600
    ]
    assert len(written) > 10
    leaks = [p for p in written if KEY.encode() in p.read_bytes()]
    assert leaks == []
    assert KEY not in result.stdout + result.stderr


def test_a_run_without_the_key_refuses_before_writing_anything(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse"
    generate_sample_org(landing, seed=13, scale=0.05, start=date(2025, 1, 1), days=3)
    refused = kpi_run(landing, warehouse)
    assert refused.returncode == 2
    assert f"{KEY_ENV} is not set" in refused.stderr
    assert not warehouse.exists()
