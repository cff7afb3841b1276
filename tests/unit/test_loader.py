"""The landing contract, pinned on small hand-written files (docs/landing-contract.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.ingest.loader import SUPERSEDED, load_entity
from pipelines.ingest.readers import LandingFileError

CALL_HEADER = "call_id,rep_id,started_at,duration_seconds,direction,outcome"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


def rejects(con) -> list[tuple[str, int, str]]:
    return con.execute(
        "SELECT source_file, source_row, reason FROM raw.rejects ORDER BY source_file, source_row"
    ).fetchall()


def test_good_rows_load_typed_and_trimmed(tmp_path, con):
    write(
        tmp_path / "calls" / "a.csv",
        f"{CALL_HEADER},unknown_extra\n"
        " C1 ,R1,2025-03-05T23:30:00Z,60,Outbound, CONNECTED ,ignored\n"
        "C2,R1,2025-03-05 10:00,0,inbound,no_answer,\n",
    )
    report = load_entity(con, "calls", tmp_path)
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (2, 2, 0)
    rows = con.execute(
        "SELECT call_id, direction, outcome, started_at FROM raw.calls ORDER BY call_id"
    ).fetchall()
    assert rows[0][:3] == ("C1", "outbound", "connected")
    assert rows[0][3] == datetime(2025, 3, 5, 23, 30, tzinfo=UTC)
    # No offset: wall-clock time in Europe/Oslo (UTC+1 in March).
    assert rows[1][3] == datetime(2025, 3, 5, 9, 0, tzinfo=UTC)


def test_timestamp_without_offset_uses_reporting_zone(tmp_path, con):
    write(
        tmp_path / "calls" / "a.csv", f"{CALL_HEADER}\nC1,R1,2025-07-01 12:00:00,1,outbound,busy\n"
    )
    load_entity(con, "calls", tmp_path, timezone="America/New_York")
    (started,) = con.execute("SELECT started_at FROM raw.calls").fetchone()
    assert started == datetime(2025, 7, 1, 16, 0, tzinfo=UTC)


def test_contract_breaking_rows_are_rejected_with_line_and_every_reason(tmp_path, con):
    write(
        tmp_path / "calls" / "a.csv",
        f"{CALL_HEADER}\n"
        "C1,R1,2025-03-05T10:00:00Z,60,outbound,connected\n"
        "\n"
        "C3,,2025-03-05T10:00:00+01:00,-5,outbound,hung_up\n"
        "C4,R1,31/02/2025,1,outbound,busy\n"
        "C5,R1,2025-03-05T10:00:00Z,1,outbound,busy,too,many\n"
        'C6,R1,2025-03-05T10:00:00Z,"12,5",outbound,busy\n'
        "C7,R1,2099-01-01T00:00:00Z,1,outbound,busy\n",
    )
    report = load_entity(con, "calls", tmp_path)
    assert report.rows_loaded == 1
    got = rejects(con)
    assert [(f, r) for f, r, _ in got] == [
        ("calls/a.csv", 4),
        ("calls/a.csv", 5),
        ("calls/a.csv", 6),
        ("calls/a.csv", 7),
        ("calls/a.csv", 8),
    ]
    reasons = {r: reason for _, r, reason in got}
    assert reasons[4] == (
        "rep_id: required value missing; duration_seconds: '-5' is negative or not finite; "
        "outcome: 'hung_up' is not one of connected, no_answer, voicemail, busy, failed"
    )
    assert reasons[5] == "started_at: '31/02/2025' is not an ISO-8601 timestamp"
    assert reasons[6] == "unreadable CSV line: 8 fields where the header has 6"
    assert reasons[7] == "duration_seconds: '12,5' is not a number"
    assert reasons[8] == "started_at: '2099-01-01T00:00:00Z' is in the future"


def test_jsonl_and_parquet_row_numbers(tmp_path, con):
    lines = [
        {"email_id": "E1", "rep_id": "R1", "sent_at": "2025-03-05T10:00:00Z"},
        "not json",
        "",
        [1],
        {"email_id": "E2", "rep_id": None, "sent_at": "2025-03-05T10:00:00Z"},
    ]
    text = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n"
    write(tmp_path / "emails" / "e.jsonl", text)
    table = pa.table(
        {
            "email_id": ["E3", "E4"],
            "rep_id": ["R1", "R2"],
            "sent_at": ["2025-03-05T10:00:00Z", "yesterday"],
        }
    )
    pq.write_table(table, tmp_path / "emails" / "f.parquet")
    report = load_entity(con, "emails", tmp_path)
    assert report.rows_loaded == 2
    assert [(f, r) for f, r, _ in rejects(con)] == [
        ("emails/e.jsonl", 2),
        ("emails/e.jsonl", 4),
        ("emails/e.jsonl", 5),
        ("emails/f.parquet", 2),
    ]
    reasons = [reason for *_, reason in rejects(con)]
    assert reasons[:3] == [
        "JSON line does not parse",
        "JSON line is not an object",
        "rep_id: required value missing",
    ]


def test_parquet_timestamp_columns(tmp_path, con):
    stamp = datetime(2025, 3, 5, 23, 30, tzinfo=UTC)
    table = pa.table(
        {
            "visit_id": ["V1"],
            "visitor_id": ["U1"],
            "visited_at": pa.array([stamp], pa.timestamp("us", tz="UTC")),
            "channel": ["paid"],
            "landing_page": ["/pricing"],
        }
    )
    pq.write_table(table, write(tmp_path / "web_visits" / "x.txt", "").with_suffix(".parquet"))
    load_entity(con, "web_visits", tmp_path)
    assert con.execute("SELECT visited_at, campaign FROM raw.web_visits").fetchall() == [
        (stamp, None)
    ]


def test_exact_redelivery_counts_once_and_different_content_is_a_correction(tmp_path, con):
    row = "C1,R1,2025-03-05T10:00:00Z,60,outbound,connected"
    write(
        tmp_path / "calls" / "2025-03_a.csv",
        f"{CALL_HEADER}\n{row}\n{row}\nC2,R1,2025-03-05T10:00:00Z,5,outbound,busy\n",
    )
    write(
        tmp_path / "calls" / "2025-03_b_redelivery.csv",
        f"{CALL_HEADER}\n{row}\nC2,R2,2025-03-05T10:00:00Z,5,outbound,busy\n",
    )
    report = load_entity(con, "calls", tmp_path)
    assert report.rows_loaded == 2
    assert report.duplicates == 2
    assert con.execute("SELECT call_id, rep_id FROM raw.calls ORDER BY 1").fetchall() == [
        ("C1", "R1"),
        ("C2", "R2"),
    ]
    assert rejects(con) == [("calls/2025-03_a.csv", 4, SUPERSEDED)]


def test_opportunity_latest_updated_at_wins(tmp_path, con):
    header = "opportunity_id,rep_id,source,created_at,closed_at,status,amount,currency,updated_at"
    write(
        tmp_path / "opportunities" / "b_later_file.csv",
        f"{header}\nO1,R1,inbound,2025-01-01T10:00:00Z,,open,1000,NOK,2025-01-02T10:00:00Z\n",
    )
    write(
        tmp_path / "opportunities" / "a_earlier_file.csv",
        f"{header}\nO1,R1,inbound,2025-01-01T10:00:00Z,2025-02-01T10:00:00Z,won,1200,nok,2025-02-01T10:00:00Z\n"
        "O2,R1,inbound,2025-01-01T10:00:00Z,,lost,0,NOK,2025-02-01T10:00:00Z\n",
    )
    load_entity(con, "opportunities", tmp_path)
    assert con.execute(
        "SELECT opportunity_id, status, amount, currency FROM raw.opportunities"
    ).fetchall() == [("O1", "won", 1200.0, "NOK")]
    assert [(f, r) for f, r, _ in rejects(con)] == [("opportunities/a_earlier_file.csv", 3)]
    assert rejects(con)[0][2] == "closed_at is required when won or lost"


def test_missing_required_column_fails_naming_the_file(tmp_path, con):
    write(tmp_path / "calls" / "bad.csv", "call_id,started_at\nC1,2025-01-01T10:00:00Z\n")
    with pytest.raises(LandingFileError, match=r"bad\.csv: lacks required column\(s\) rep_id"):
        load_entity(con, "calls", tmp_path)


def test_entity_without_files_is_empty_with_a_warning(tmp_path, con):
    report = load_entity(con, "web_visits", tmp_path)
    assert report.rows_loaded == 0
    assert "no files for web_visits" in report.warnings[0]
    assert con.execute("SELECT count(*) FROM raw.web_visits").fetchone() == (0,)


def test_reload_replaces_previous_load(tmp_path, con):
    f = write(
        tmp_path / "calls" / "a.csv",
        f"{CALL_HEADER}\nC1,R1,2025-03-05T10:00:00Z,60,outbound,connected\nC2,,x,1,outbound,busy\n",
    )
    load_entity(con, "calls", tmp_path)
    load_entity(con, "calls", tmp_path)
    assert con.execute("SELECT count(*) FROM raw.calls").fetchone() == (1,)
    assert len(rejects(con)) == 1
    f.unlink()
    load_entity(con, "calls", tmp_path)
    assert con.execute("SELECT count(*) FROM raw.calls").fetchone() == (0,)
    assert rejects(con) == []
