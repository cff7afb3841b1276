"""Hand-computed checks of the independent pandas reference implementation.

Every expected number below is derived by hand in the comments from the tiny landing folders the
tests write, following docs/landing-contract.md and docs/published-tables.md.
"""

from __future__ import annotations

import json
import math
import warnings
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from .pandas_funnels import (
    ENTITIES,
    SUPERSEDED,
    LandingFileError,
    LoadedLanding,
    compute,
    funnel_factors,
    load_landing,
    main,
    parse_timestamps,
    read_csv_arrow,
    read_csv_python,
)

NOW = pd.Timestamp("2025-06-01T00:00:00Z")
NAN = math.nan

REPS_HEADER = "rep_id,rep_name,team,region,hired_on,left_on"
CALLS_HEADER = "call_id,rep_id,started_at,duration_seconds,direction,outcome,contact_id,account_id"
MEETINGS_HEADER = "meeting_id,rep_id,account_id,booked_at,scheduled_at,status,source,visitor_id"
OPPS_HEADER = (
    "opportunity_id,rep_id,account_id,meeting_id,source,created_at,closed_at,status,amount,"
    "currency,updated_at"
)
TWO_REPS = [REPS_HEADER, "R1,Ann,North,EU,2024-01-01,", "R2,Bob,South,NA,2024-02-01,"]


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------


def write_lines(path: Path, lines: list[str]) -> None:
    """Write text lines verbatim (so line numbers are exactly what the test says)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_jsonl(path: Path, records: list[dict | str]) -> None:
    """One line per record; a str is written verbatim (for broken lines)."""
    write_lines(path, [r if isinstance(r, str) else json.dumps(r) for r in records])


def write_parquet(path: Path, table: pa.Table) -> None:
    """Write a Parquet file, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def run(landing: Path) -> tuple[LoadedLanding, pd.DataFrame]:
    """Load (with a fixed run time) and compute the factors, ignoring empty-entity warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = load_landing(landing, now=NOW)
    return loaded, funnel_factors(loaded)


def factors(
    out: pd.DataFrame,
    funnel: str,
    grain: str,
    period: str,
    dimension: str = "all",
    member: str = "all",
) -> dict[str, float]:
    """The factor values of one group, by factor name (empty when the group is not emitted)."""
    rows = out[
        (out["funnel"] == funnel)
        & (out["grain"] == grain)
        & (out["period_start"] == date.fromisoformat(period))
        & (out["dimension"] == dimension)
        & (out["member"] == member)
    ].sort_values("position")
    assert rows["position"].tolist() == list(range(1, len(rows) + 1))
    return dict(zip(rows["factor"], rows["value"], strict=True))


def check(actual: dict[str, float], expected: dict[str, float]) -> None:
    """Compare factor dicts, NaN equal to NaN."""
    assert list(actual) == list(expected)
    assert actual == pytest.approx(expected, nan_ok=True)


def outbound(activities: float, rate: float, hit: float, avg: float, total: float) -> dict:
    """Expected outbound factors in order."""
    return {
        "activities": activities,
        "activity_to_meeting_rate": rate,
        "meeting_hit_rate": hit,
        "avg_contract_value": avg,
        "total_sales": total,
    }


def universal(opportunities: float, hit: float, avg: float, total: float) -> dict:
    """Expected universal factors in order."""
    return {
        "opportunities": opportunities,
        "hit_rate": hit,
        "avg_contract_value": avg,
        "total_sales": total,
    }


def rejects_of(loaded: LoadedLanding, entity: str) -> list[tuple[str, int]]:
    """(source_file, source_row) of an entity's rejects."""
    r = loaded.rejects[loaded.rejects["entity"] == entity]
    return list(zip(r["source_file"], r["source_row"].astype(int), strict=True))


def reason(loaded: LoadedLanding, source_file: str, source_row: int) -> str:
    """The reason of one reject."""
    r = loaded.rejects
    hit = r[(r["source_file"] == source_file) & (r["source_row"] == source_row)]
    assert len(hit) == 1
    return str(hit["reason"].iloc[0])


# ------------------------------------------------------------------------------------------------
# time zone and periods
# ------------------------------------------------------------------------------------------------


def test_call_at_2330z_belongs_to_next_oslo_day(tmp_path: Path) -> None:
    write_lines(tmp_path / "reps" / "reps.csv", TWO_REPS)
    write_lines(
        tmp_path / "calls" / "calls.csv",
        [CALLS_HEADER, "C1,R1,2025-03-05T23:30:00Z,60,outbound,connected,,"],
    )
    _, out = run(tmp_path)
    # 23:30Z = 00:30 CET on Thursday 6 March in Oslo.
    # activities 1; held outbound meetings 0 -> 0/1 = 0.0; wins 0 / meetings 0 -> NULL;
    # amount 0 / wins 0 -> NULL; total_sales of an emitted group without wins = 0.0.
    expected = outbound(1, 0.0, NAN, NAN, 0.0)
    check(factors(out, "outbound", "day", "2025-03-06"), expected)
    check(factors(out, "outbound", "day", "2025-03-06", "team", "North"), expected)
    check(factors(out, "outbound", "day", "2025-03-06", "rep", "R1"), expected)
    check(factors(out, "outbound", "week", "2025-03-03"), expected)  # Monday 3 March
    assert factors(out, "outbound", "day", "2025-03-05") == {}
    # No opportunities and no web visits: nothing to emit for the other funnels.
    assert set(out["funnel"]) == {"outbound"}
    # 3 dimensions x 5 grains x 5 factors.
    assert len(out) == 75


def test_week_starts_monday_across_month_boundary(tmp_path: Path) -> None:
    write_lines(tmp_path / "reps" / "reps.csv", TWO_REPS)
    emails = [
        # Sunday 30 March 14:00 CEST -> week of Mon 24 March, month March
        {"email_id": "E1", "rep_id": "R1", "sent_at": "2025-03-30T12:00:00Z"},
        # 22:30Z on 30 March = 00:30 CEST Monday 31 March -> week 31 March, month March
        {"email_id": "E2", "rep_id": "R1", "sent_at": "2025-03-30T22:30:00Z"},
        # no offset: Oslo wall clock, Wednesday 2 April -> week 31 March, month April
        {"email_id": "E3", "rep_id": "R2", "sent_at": "2025-04-02 09:00"},
        # 23:59:59 CEST Sunday 6 April -> still week 31 March
        {"email_id": "E4", "rep_id": "R2", "sent_at": "2025-04-06T21:59:59+00:00"},
        # 00:00 CEST Monday 7 April -> week 7 April
        {"email_id": "E5", "rep_id": "R2", "sent_at": "2025-04-06T22:00:00Z"},
    ]
    write_jsonl(tmp_path / "emails" / "emails.jsonl", emails)
    _, out = run(tmp_path)
    week = {
        p: factors(out, "outbound", "week", p)["activities"]
        for p in ("2025-03-24", "2025-03-31", "2025-04-07")
    }
    assert week == {"2025-03-24": 1.0, "2025-03-31": 3.0, "2025-04-07": 1.0}  # E1 | E2,E3,E4 | E5
    assert factors(out, "outbound", "week", "2025-03-31", "team", "North")["activities"] == 1.0
    assert factors(out, "outbound", "week", "2025-03-31", "team", "South")["activities"] == 2.0
    assert factors(out, "outbound", "month", "2025-03-01")["activities"] == 2.0  # E1, E2
    assert factors(out, "outbound", "month", "2025-04-01")["activities"] == 3.0  # E3, E4, E5
    assert factors(out, "outbound", "quarter", "2025-01-01")["activities"] == 2.0
    assert factors(out, "outbound", "quarter", "2025-04-01")["activities"] == 3.0
    assert factors(out, "outbound", "year", "2025-01-01")["activities"] == 5.0
    assert factors(out, "outbound", "day", "2025-03-31")["activities"] == 1.0  # E2
    weeks = out.loc[out["grain"] == "week", "period_start"]
    assert all(d.weekday() == 0 for d in weeks)


# ------------------------------------------------------------------------------------------------
# deliveries
# ------------------------------------------------------------------------------------------------


def _opportunity(
    oid: str, rep: str, source: str, closed: str | None, status: str, amount: float, updated: str
) -> dict:
    """A JSON opportunity record."""
    return {
        "opportunity_id": oid,
        "rep_id": rep,
        "source": source,
        "created_at": "2025-02-01T09:00:00Z",
        "closed_at": closed,
        "status": status,
        "amount": amount,
        "currency": "NOK",
        "updated_at": updated,
    }


def test_opportunity_snapshots_latest_update_wins(tmp_path: Path) -> None:
    write_lines(tmp_path / "reps" / "reps.csv", TWO_REPS)
    write_lines(
        tmp_path / "opportunities" / "2025-03-01.csv",
        [
            OPPS_HEADER,
            "O1,R1,,,outbound,2025-02-01T09:00:00Z,,open,1000,NOK,2025-03-01T09:00:00Z",
            "O2,R1,,,inbound,2025-02-01T09:00:00Z,2025-03-10T09:00:00Z,won,2000,NOK,"
            "2025-03-10T09:00:00Z",
            "O3,R2,,,outbound,2025-02-01T09:00:00Z,2025-03-15T09:00:00Z,lost,0,NOK,"
            "2025-03-15T09:00:00Z",
            "O4,R2,,,outbound,2025-02-01T09:00:00Z,2025-03-12T09:00:00Z,lost,700,NOK,"
            "2025-03-12T09:00:00Z",
        ],
    )
    write_jsonl(
        tmp_path / "opportunities" / "2025-03-20.jsonl",
        [
            # O1 first seen open, now won (later updated_at) -> won, 1000
            _opportunity(
                "O1", "R1", "outbound", "2025-03-20T10:00:00Z", "won", 1000, "2025-03-20T10:00:00Z"
            ),
            # O2 re-sent with an OLDER updated_at -> the won version (2000) stays
            _opportunity(
                "O2", "R1", "inbound", "2025-03-05T09:00:00Z", "lost", 0, "2025-03-05T09:00:00Z"
            ),
            # O3 same updated_at as the lost version -> tie, later delivery wins: won, 500
            _opportunity(
                "O3", "R2", "outbound", "2025-03-15T09:00:00Z", "won", 500, "2025-03-15T09:00:00Z"
            ),
        ],
    )
    write_jsonl(
        tmp_path / "emails" / "e.jsonl",
        [{"email_id": "E1", "rep_id": "R1", "sent_at": "2025-03-03T08:00:00Z"}],
    )
    loaded, out = run(tmp_path)
    opps = loaded.tables["opportunities"].set_index("opportunity_id")
    assert opps["status"].to_dict() == {"O1": "won", "O2": "won", "O3": "won", "O4": "lost"}
    assert rejects_of(loaded, "opportunities") == []  # older versions are history, not errors
    # March: closed O1 (won 1000), O2 (won 2000), O3 (won 500), O4 (lost) -> 4 opportunities,
    # hit_rate 3/4, total 3500, avg 3500/3.
    check(factors(out, "universal", "month", "2025-03-01"), universal(4, 0.75, 3500 / 3, 3500))
    # R1: O1 + O2, both won: 2, 1.0, 3000/2, 3000.  R2: O3 won 500, O4 lost: 2, 0.5, 500, 500.
    check(
        factors(out, "universal", "month", "2025-03-01", "rep", "R1"),
        universal(2, 1.0, 1500, 3000),
    )
    check(
        factors(out, "universal", "month", "2025-03-01", "team", "South"),
        universal(2, 0.5, 500, 500),
    )
    # The open O1 snapshot of 1 March closes nothing on that day.
    assert factors(out, "universal", "day", "2025-03-01") == {}
    # O1 closed on 20 March (day grain): 1 opportunity, won.
    check(factors(out, "universal", "day", "2025-03-20"), universal(1, 1.0, 1000, 1000))
    # Outbound March: 1 email; no held meetings -> 0/1 = 0.0; won outbound O1 + O3 = 2 wins over
    # 0 meetings -> NULL; avg 1500/2 = 750; total 1500.
    check(factors(out, "outbound", "month", "2025-03-01"), outbound(1, 0.0, NAN, 750, 1500))
    # No web visits: the inbound funnel's first stage is 0 everywhere -> nothing emitted,
    # although O2 is a won inbound deal.
    assert "inbound" not in set(out["funnel"])


def test_redeliveries_and_rejects_in_csv_jsonl_and_parquet(tmp_path: Path) -> None:
    write_lines(
        tmp_path / "reps" / "reps.csv",
        [
            REPS_HEADER,  # line 1
            'R1,"Ann',  # line 2: a quoted name spanning two lines ...
            'Lee",North,EU,2024-01-01,',  # line 3
            "R2,Bob,South,NA,2024-02-01,",  # line 4 ("NA" is a region, not a null)
            "R3,Cid,,EU,2024-02-30,",  # line 5: team missing and no 30 February -> rejected
            "R5,Eve,North",  # line 6: too few fields -> rejected
        ],
    )
    write_lines(
        tmp_path / "calls" / "a.csv",
        [
            CALLS_HEADER,  # line 1
            "C1,R1,2025-03-03T09:00:00Z,60,outbound,connected,,",  # line 2
            "C2,R1,2025-03-03T10:00:00Z,-5,outbound,connected,,",  # line 3: negative duration
            "C3,R1,2025-03-03T11:00:00Z,30,outbound,no_answer,,",  # line 4: superseded below
            "C8,R2,2025-03-03T12:00:00Z,30, Outbound ,VoiceMail,,",  # line 5: case/space ok
        ],
    )
    call = {"rep_id": "R1", "duration_seconds": 60, "direction": "outbound", "outcome": "connected"}
    write_jsonl(
        tmp_path / "calls" / "b" / "c.jsonl",
        [
            # line 1: exact re-delivery of C1 (duration as a JSON number) -> counted once
            {**call, "call_id": "C1", "started_at": "2025-03-03T09:00:00Z"},
            # line 2: C3 with different content -> wins; a.csv line 4 goes to rejects
            {
                **call,
                "call_id": "C3",
                "started_at": "2025-03-04T11:00:00Z",
                "duration_seconds": 30,
                "outcome": "no_answer",
            },
            "[1, 2]",  # line 3: not a JSON object
            {
                **call,
                "call_id": "C4",
                "started_at": "2025-03-04T09:00:00Z",
                "direction": "sideways",
            },
            "",  # line 5: blank, skipped
            {**call, "call_id": "C9", "started_at": None},  # line 6: required value missing
        ],
    )
    aware = pa.timestamp("us", tz="UTC")
    write_parquet(
        tmp_path / "calls" / "z1.parquet",
        pa.table(
            {
                "call_id": ["C5", "C6"],
                "rep_id": ["R2", "R2"],
                "started_at": pa.array(
                    [pd.Timestamp("2025-03-04T08:00Z"), pd.Timestamp("2030-01-01T00:00Z")], aware
                ),
                "duration_seconds": pa.array([10, 20], pa.int64()),
                "direction": ["outbound", "outbound"],
                "outcome": ["connected", "busy"],
                "extra_column": ["ignored", "ignored"],
            }
        ),  # row 2: more than a day after the run -> "in the future"
    )
    write_parquet(
        tmp_path / "calls" / "z2.parquet",
        pa.table(
            {
                "call_id": ["C7"],
                "rep_id": ["R9"],  # not in reps
                # naive TIMESTAMP: Oslo wall clock, 23:30 on 4 March (22:30Z), NOT 5 March
                "started_at": pa.array([pd.Timestamp("2025-03-04T23:30")], pa.timestamp("us")),
                "duration_seconds": pa.array([12.5], pa.float64()),
                "direction": ["OUTBOUND"],
                "outcome": ["failed"],
                "contact_id": pa.array([None], pa.string()),
            }
        ),
    )
    loaded, out = run(tmp_path)

    assert rejects_of(loaded, "reps") == [("reps/reps.csv", 5), ("reps/reps.csv", 6)]
    assert "team" in reason(loaded, "reps/reps.csv", 5)
    assert "hired_on" in reason(loaded, "reps/reps.csv", 5)
    reps = loaded.tables["reps"].set_index("rep_id")
    assert reps.loc["R1", "rep_name"] == "Ann\nLee"
    assert reps.loc["R2", "region"] == "NA"
    assert reps.loc["R2", "hired_on"] == date(2024, 2, 1)

    assert rejects_of(loaded, "calls") == [
        ("calls/a.csv", 3),
        ("calls/a.csv", 4),
        ("calls/b/c.jsonl", 3),
        ("calls/b/c.jsonl", 4),
        ("calls/b/c.jsonl", 6),
        ("calls/z1.parquet", 2),
    ]
    assert "duration_seconds" in reason(loaded, "calls/a.csv", 3)
    assert reason(loaded, "calls/a.csv", 4) == SUPERSEDED
    assert "direction" in reason(loaded, "calls/b/c.jsonl", 4)
    assert "started_at" in reason(loaded, "calls/b/c.jsonl", 6)
    assert "future" in reason(loaded, "calls/z1.parquet", 2)

    calls = loaded.tables["calls"].set_index("call_id")
    assert sorted(calls.index) == ["C1", "C3", "C5", "C7", "C8"]
    assert calls.loc["C3", "started_at"] == pd.Timestamp("2025-03-04T11:00:00Z")
    assert calls.loc["C7", "started_at"] == pd.Timestamp("2025-03-04T22:30:00Z")
    assert calls.loc["C8", "direction"] == "outbound"
    assert calls.loc["C8", "outcome"] == "voicemail"

    # 3 March: C1 (R1) + C8 (R2) = 2 (the first C3 was superseded).
    # 4 March: C3 (R1), C5 (R2), C7 (R9, naive 23:30 Oslo) = 3.  No meetings, no deals.
    check(factors(out, "outbound", "day", "2025-03-03"), outbound(2, 0.0, NAN, NAN, 0.0))
    check(factors(out, "outbound", "day", "2025-03-04"), outbound(3, 0.0, NAN, NAN, 0.0))
    assert factors(out, "outbound", "day", "2025-03-05") == {}
    for team in ("North", "South", "(unassigned)"):
        assert factors(out, "outbound", "day", "2025-03-04", "team", team)["activities"] == 1.0
    assert factors(out, "outbound", "day", "2025-03-04", "rep", "R9")["activities"] == 1.0
    assert factors(out, "outbound", "week", "2025-03-03")["activities"] == 5.0


def test_broken_csv_lines_are_rejected_with_their_line_number(tmp_path: Path) -> None:
    header = b"email_id,rep_id,sent_at,contact_id,account_id,replied_at\r\n"  # line 1
    body = (
        b"E1,R1,2025-03-03T09:00:00Z,,,\r\n"  # line 2: fine
        b"\r\n"  # line 3: blank, skipped
        b"E2,R1,2025-03-03T09:00:00Z,,,,extra\r\n"  # line 4: 7 fields for 6 columns
        b"E3,R\xff1,2025-03-03T09:00:00Z,,,\r\n"  # line 5: invalid UTF-8
        b'E"4,R1,2025-03-03T09:00:00Z,,,\r\n'  # line 6: stray quote in an id
        b'E5,R1,2025-03-03T09:00:00Z,"c\r\n1",,\r\n'  # lines 7-8: line break inside an id
        b"E6,R1,2025-03-03T10:00:00.1234,,,2025-06-03T00:00Z\r\n"  # line 9: replied > now + 1d
        b"E7,R1,2025-03-30 02:30,,,\r\n"  # line 10: in the spring DST gap -> 03:00 CEST
        b"E8,R1,  ,,,\r\n"  # line 11: blank sent_at
    )
    (tmp_path / "emails").mkdir()
    (tmp_path / "emails" / "e.csv").write_bytes(header + body)
    loaded, out = run(tmp_path)
    assert rejects_of(loaded, "emails") == [("emails/e.csv", n) for n in (4, 5, 6, 7, 9, 11)]
    assert "fields" in reason(loaded, "emails/e.csv", 4)
    assert "UTF-8" in reason(loaded, "emails/e.csv", 5)
    assert "email_id" in reason(loaded, "emails/e.csv", 6)
    assert "contact_id" in reason(loaded, "emails/e.csv", 7)
    assert "future" in reason(loaded, "emails/e.csv", 9)
    assert "sent_at" in reason(loaded, "emails/e.csv", 11)
    assert loaded.tables["emails"]["email_id"].tolist() == ["E1", "E7"]
    # R1 is in no reps file: team (unassigned). E1 on 3 March, E7 on 30 March (Oslo).
    assert factors(out, "outbound", "day", "2025-03-03", "team", "(unassigned)")["activities"] == 1
    assert factors(out, "outbound", "day", "2025-03-30")["activities"] == 1
    assert factors(out, "outbound", "month", "2025-03-01")["activities"] == 2


def test_fast_and_exact_csv_readers_agree(tmp_path: Path) -> None:
    raw = (
        CALLS_HEADER + "\n"
        "C1,R1,2025-03-03T09:00:00Z,60,outbound,connected,,\n"
        'C2, R2 ,2025-03-03T09:00:00Z,"1,5",NA,null,"x""y",\n'
    ).encode()
    calls = ENTITIES["calls"]
    fast = read_csv_arrow(tmp_path / "x.csv", raw, calls)
    exact = read_csv_python(tmp_path / "x.csv", raw, calls)
    assert fast is not None
    pd.testing.assert_frame_equal(fast.frame, exact.frame)
    assert fast.frame.loc[1, "contact_id"] == 'x"y'
    assert fast.frame.loc[1, "direction"] == "NA"  # text, not a null
    assert fast.frame["_row"].tolist() == [2, 3]


# ------------------------------------------------------------------------------------------------
# funnel semantics
# ------------------------------------------------------------------------------------------------


def test_zero_denominators_orphans_and_first_stage_zero(tmp_path: Path) -> None:
    write_lines(tmp_path / "reps" / "reps.csv", TWO_REPS)
    write_lines(
        tmp_path / "calls" / "calls.csv",
        [
            CALLS_HEADER,
            "C1,R1,2025-03-03T10:00:00Z,60,outbound,connected,,",
            "C2,R9,2025-03-03T11:00:00Z,60,outbound,connected,,",  # R9 is not in reps
            "C3,R2,2025-03-04T10:00:00Z,60,inbound,connected,,",  # inbound: not an activity
        ],
    )
    write_lines(
        tmp_path / "meetings" / "meetings.csv",
        [
            MEETINGS_HEADER,
            "M1,R1,,2025-02-20T10:00:00Z,2025-03-03T14:00:00Z,held,outbound,",
            "M2,R2,,2025-02-20T10:00:00Z,2025-03-05T14:00:00Z,held,outbound,",
            "M3,R1,,2025-02-20T10:00:00Z,2025-03-03T15:00:00Z,no_show,outbound,",  # not held
        ],
    )
    write_lines(
        tmp_path / "opportunities" / "o.csv",
        [
            OPPS_HEADER,
            "O1,R1,,,outbound,2025-02-01T09:00:00Z,2025-03-05T09:00:00Z,won,1000,nok,"
            "2025-03-05T09:00:00Z",
        ],
    )
    loaded, out = run(tmp_path)
    assert loaded.tables["opportunities"]["currency"].tolist() == ["NOK"]

    # 3 March, all: activities C1 + C2 = 2; held outbound meetings M1 = 1 -> 1/2;
    # wins that day 0 -> 0/1 = 0.0; avg 0/0 -> NULL; total 0.0.
    check(factors(out, "outbound", "day", "2025-03-03"), outbound(2, 0.5, 0.0, NAN, 0.0))
    # North (R1): C1, M1 -> 1, 1/1, 0/1, NULL, 0.
    north = outbound(1, 1.0, 0.0, NAN, 0.0)
    check(factors(out, "outbound", "day", "2025-03-03", "team", "North"), north)
    # R9 -> team (unassigned): C2, no meetings -> 1, 0/1, 0/0 NULL, NULL, 0.
    orphan = outbound(1, 0.0, NAN, NAN, 0.0)
    check(factors(out, "outbound", "day", "2025-03-03", "team", "(unassigned)"), orphan)
    check(factors(out, "outbound", "day", "2025-03-03", "rep", "R9"), orphan)
    # 4 March: only an inbound call; 5 March: M2 and the win but no activity -> first stage 0.
    assert factors(out, "outbound", "day", "2025-03-04") == {}
    assert factors(out, "outbound", "day", "2025-03-05") == {}
    # South (R2) never has an outbound activity -> never emitted for outbound.
    south = out[(out["funnel"] == "outbound") & (out["member"].isin(["South", "R2"]))]
    assert south.empty
    # March, all: activities 2, meetings M1 + M2 = 2 -> 1.0, wins 1/2, avg 1000, total 1000.
    check(factors(out, "outbound", "month", "2025-03-01"), outbound(2, 1.0, 0.5, 1000, 1000))
    # March, North: C1, M1, O1 -> 1, 1.0, 1.0, 1000, 1000.
    check(
        factors(out, "outbound", "month", "2025-03-01", "team", "North"),
        outbound(1, 1.0, 1.0, 1000, 1000),
    )
    # Universal: O1 closed (won) on 5 March; 3 March has no closed deal -> not emitted.
    check(factors(out, "universal", "day", "2025-03-05"), universal(1, 1.0, 1000, 1000))
    assert factors(out, "universal", "day", "2025-03-03") == {}
    # Product of all factors but the last equals the last wherever every factor is defined.
    for _, group in out.groupby(["funnel", "grain", "period_start", "dimension", "member"]):
        values = group.sort_values("position")["value"].tolist()
        if not any(math.isnan(v) for v in values):
            assert math.prod(values[:-1]) == pytest.approx(values[-1])


def test_inbound_distinct_visitors_all_dimension_only(tmp_path: Path) -> None:
    write_lines(tmp_path / "reps" / "reps.csv", TWO_REPS)
    visit = {"landing_page": "/", "campaign": None}
    write_jsonl(
        tmp_path / "web_visits" / "v.jsonl",
        [
            {
                **visit,
                "visit_id": "V1",
                "visitor_id": "A",
                "visited_at": "2025-03-03T10:00:00Z",
                "channel": "Organic",
            },
            {
                **visit,
                "visit_id": "V2",
                "visitor_id": "A",
                "visited_at": "2025-03-03T15:00:00Z",
                "channel": "paid",
            },
            {
                **visit,
                "visit_id": "V3",
                "visitor_id": "B",
                "visited_at": "2025-03-03T16:00:00Z",
                "channel": "direct",
            },
            {
                **visit,
                "visit_id": "V4",
                "visitor_id": "A",
                "visited_at": "2025-03-04T10:00:00Z",
                "channel": "email",
            },
        ],
    )
    write_lines(
        tmp_path / "meetings" / "m.csv",
        [
            MEETINGS_HEADER,
            "M1,R1,,2025-02-20T10:00:00Z,2025-03-03T12:00:00Z,held,inbound,A",
            "M2,R1,,2025-02-20T10:00:00Z,2025-03-10T12:00:00Z,held,inbound,",
        ],
    )
    write_lines(
        tmp_path / "opportunities" / "o.csv",
        [
            OPPS_HEADER,
            "O1,R1,,M1,inbound,2025-03-03T12:30:00Z,2025-03-03T13:00:00Z,won,600,EUR,"
            "2025-03-03T13:00:00Z",
        ],
    )
    _, out = run(tmp_path)
    inbound = out[out["funnel"] == "inbound"]
    assert set(inbound["dimension"]) == {"all"}
    assert inbound["factor"].drop_duplicates().tolist() == [
        "visitors",
        "visit_to_meeting_rate",
        "meeting_hit_rate",
        "avg_contract_value",
        "total_sales",
    ]

    def expected(visitors: float, rate: float, hit: float, avg: float, total: float) -> dict:
        names = ["visitors", "visit_to_meeting_rate", "meeting_hit_rate", "avg_contract_value"]
        return dict(zip([*names, "total_sales"], [visitors, rate, hit, avg, total], strict=True))

    # 3 March: visitors A, B = 2 (A twice counts once); M1 -> 1/2; O1 -> 1/1; 600; 600.
    check(factors(out, "inbound", "day", "2025-03-03"), expected(2, 0.5, 1.0, 600, 600))
    # 4 March: visitor A = 1; no meeting -> 0/1 = 0.0; 0/0 -> NULL; NULL; 0.0.
    check(factors(out, "inbound", "day", "2025-03-04"), expected(1, 0.0, NAN, NAN, 0.0))
    # Week of 3 March: distinct visitors over the week A, B = 2 (not 2 + 1).
    check(factors(out, "inbound", "week", "2025-03-03"), expected(2, 0.5, 1.0, 600, 600))
    # 10 March: M2 held, but no visitor -> not emitted (day and week).
    assert factors(out, "inbound", "day", "2025-03-10") == {}
    assert factors(out, "inbound", "week", "2025-03-10") == {}
    # March: visitors 2, meetings M1 + M2 = 2 -> 1.0; 1 win / 2 -> 0.5; 600; 600.
    check(factors(out, "inbound", "month", "2025-03-01"), expected(2, 1.0, 0.5, 600, 600))


# ------------------------------------------------------------------------------------------------
# values, files, command line
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2025-03-05T23:30:00Z", "2025-03-05T23:30:00"),
        ("2025-03-05 23:30", "2025-03-05T22:30:00"),  # Oslo wall clock, CET (+01)
        ("2025-07-01T12:00:00", "2025-07-01T10:00:00"),  # Oslo wall clock, CEST (+02)
        ("2025-03-05T23:30:00.5+01", "2025-03-05T22:30:00.5"),
        ("2025-03-05T23:30:00.123456-02:30", "2025-03-06T02:00:00.123456"),
        ("2025-03-05T23:30:00+0100", None),  # offset must be ±HH or ±HH:MM
        ("2025-02-29T00:00:00Z", None),  # not a calendar date
        ("2025-03-05T24:00:00Z", None),
        ("2025-03-05T23:30:60Z", None),
        ("2025-03-05T23:30:00.1234567Z", None),  # more than microseconds
        ("2025-03-05", None),
        ("05.03.2025 23:30", None),
    ],
)
def test_timestamp_format(text: str, utc: str | None) -> None:
    parsed = parse_timestamps(pd.Series([text], dtype="str"), "Europe/Oslo").iloc[0]
    if utc is None:
        assert pd.isna(parsed)
    else:
        assert parsed == pd.Timestamp(utc, tz="UTC")


def test_empty_entity_warns_and_missing_required_column_fails(tmp_path: Path) -> None:
    write_lines(tmp_path / "reps" / "reps.csv", TWO_REPS)
    with pytest.warns(UserWarning) as caught:
        loaded = load_landing(tmp_path, now=NOW)
    empty = {"web_visits", "calls", "emails", "meetings", "opportunities"}
    assert {e for e in empty for w in caught if f"'{e}'" in str(w.message)} == empty
    assert loaded.warnings and all("empty" in note for note in loaded.warnings)
    assert loaded.tables["web_visits"].empty
    assert list(loaded.tables["calls"].columns)[:3] == ["call_id", "rep_id", "started_at"]
    write_lines(tmp_path / "calls" / "bad.csv", ["call_id,rep_id", "C1,R1"])
    with (
        warnings.catch_warnings(),
        pytest.raises(LandingFileError, match=r"bad\.csv.*started_at"),
    ):
        warnings.simplefilter("ignore")
        load_landing(tmp_path, now=NOW)


def test_command_line_writes_parquet(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write_lines(landing / "reps" / "reps.csv", TWO_REPS)
    write_lines(
        landing / "calls" / "calls.csv",
        [CALLS_HEADER, "C1,R1,2025-03-05T23:30:00Z,60,outbound,connected,,"],
    )
    target = tmp_path / "out" / "factors.parquet"
    assert main([str(landing), str(target)]) == 0
    written = pd.read_parquet(target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = compute(landing)
    assert len(written) == len(expected) == 75
    assert written["period_start"].map(pd.Timestamp).min() == pd.Timestamp("2025-01-01")
    pd.testing.assert_series_equal(
        written["value"].reset_index(drop=True), expected["value"], check_names=False
    )
