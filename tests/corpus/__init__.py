"""The bad-input corpus: broken landing files, each with exactly what the loader must do with it.

Every case is a few landing files (exact bytes: a BOM, Latin-1 bytes and CRLF line ends survive
any editor or git setting) plus the rows that must be loaded and the rows that must be rejected,
with file, row number and reason. `tests/unit/test_bad_input.py` loads each case on its own;
the end-to-end test loads all of them together through `kpi run`, so ids are unique across cases
and each case's files live in a sub-folder named after the case.

`python -m tests.corpus <dir>` writes every case under `<dir>/<case>/` to look at the files.
The 50 MB field is not stored here: `huge_field_case()` builds it on demand.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

CALLS = "call_id,rep_id,started_at,duration_seconds,direction,outcome"
REPS = "rep_id,rep_name,team,region,hired_on,left_on"
VISITS = "visit_id,visitor_id,visited_at,channel,landing_page"
OPPS = "opportunity_id,rep_id,source,created_at,closed_at,status,amount,currency,updated_at"
T = "2025-03-05T10:00:00Z"  # a timestamp every case uses when the time does not matter
REP_IDS = ("R1", "R2")  # the reps the end-to-end run delivers (`base_reps`)
GHOST_REP = "R-GHOST"  # in no reps file


@dataclass(frozen=True)
class Case:
    name: str
    behaviour: str  # one sentence, as in docs/landing-contract.md
    files: dict[str, bytes]  # path relative to the landing folder -> exact bytes
    # entity -> (id, file, row) of every row that must end up in raw.<entity>
    loaded: dict[str, list[tuple[str, str, int]]]
    # (entity, file, row, reason) of every row that must end up in rejects
    rejected: list[tuple[str, str, int, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # regex of the error that fails the entity instead

    @property
    def entities(self) -> list[str]:
        return sorted({path.split("/")[0] for path in self.files})

    def write(self, landing: Path) -> None:
        for relative, data in self.files.items():
            path = landing / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


def _lines(*lines: str, end: str = "\n") -> bytes:
    return (end.join(lines) + end).encode("utf-8")


def _jsonl(*objects: dict | str) -> bytes:
    return "".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objects).encode()


def _call(
    call_id: str,
    rep: str = "R1",
    started: str = T,
    duration: str = "60",
    direction: str = "outbound",
    outcome: str = "connected",
) -> str:
    return ",".join([call_id, rep, started, duration, direction, outcome])


def _path(case: str, entity: str, name: str) -> str:
    return f"{entity}/{case}/{name}"


def ragged_rows() -> Case:
    f = _path("ragged", "calls", "calls.csv")
    return Case(
        "ragged_rows",
        "A CSV line with too few or too many fields is rejected on its own; the lines around it load.",
        {
            f: _lines(
                CALLS,
                _call("RAG-1"),
                "RAG-2,R1,2025-03-05T10:00:00Z,60,outbound",
                _call("RAG-3") + ",surplus",
                _call("RAG-4"),
            )
        },
        {"calls": [("RAG-1", f, 2), ("RAG-4", f, 5)]},
        [
            ("calls", f, 3, "unreadable CSV line: 5 fields where the header has 6"),
            ("calls", f, 4, "unreadable CSV line: 7 fields where the header has 6"),
        ],
    )


def bad_quoting() -> Case:
    f = _path("quoting", "calls", "calls.csv")
    notes = "call_id,rep_id,started_at,duration_seconds,direction,outcome,notes"
    return Case(
        "bad_quoting",
        "A quote inside an unquoted field is a character (an id with one is rejected); text after "
        "a closing quote rejects the line; a quote that is never closed rejects only the line that "
        "opened it; a properly quoted field may span lines and the row is its first line.",
        {
            f: _lines(
                notes,
                _call("QUO-1") + ',"a note, with a comma and ""quotes""\nover two lines"',
                _call('QUO-2"') + ",",
                'QUO-3,"R1"x,2025-03-05T10:00:00Z,60,outbound,connected,',
                _call("QUO-4") + ',"never closed',
                _call("QUO-5") + ",",
                _call("QUO-6") + ',"closed"',
            )
        },
        {"calls": [("QUO-1", f, 2), ("QUO-5", f, 7), ("QUO-6", f, 8)]},
        [
            ("calls", f, 4, "call_id: 'QUO-2\"' has a quote or control character"),
            ("calls", f, 5, "unreadable CSV line: text after the closing quote of a field"),
            ("calls", f, 6, "unreadable CSV line: a quoted field is never closed"),
        ],
    )


def latin1_bytes() -> Case:
    f = _path("latin1", "reps", "reps.csv")
    data = (
        _lines(REPS, "LAT-1,Søren Å,Nord,Oslo,2024-01-01,")
        + "LAT-2,Bjørn Ø,Nord,Oslo,2024-01-01,\n".encode("latin-1")
        + _lines("LAT-3,Ola,Nord,Oslo,2024-01-01,")
    )
    return Case(
        "latin1_bytes",
        "A line that is not valid UTF-8 is rejected on its own (its raw text keeps the bytes as "
        "\\xHH); valid lines around it, accents included, load.",
        {f: data},
        {"reps": [("LAT-1", f, 2), ("LAT-3", f, 4)]},
        [
            (
                "reps",
                f,
                3,
                "unreadable CSV line: not valid UTF-8 text (another encoding, such as Latin-1?)",
            )
        ],
    )


def byte_order_mark() -> Case:
    csv_file = _path("bom", "calls", "calls.csv")
    jsonl_file = _path("bom", "emails", "emails.jsonl")
    bom = b"\xef\xbb\xbf"
    return Case(
        "byte_order_mark",
        "A UTF-8 byte-order mark at the start of a CSV or JSON-lines file is ignored; CRLF line "
        "ends are read like LF.",
        {
            csv_file: bom + _lines(CALLS, _call("BOM-1"), _call("BOM-2"), end="\r\n"),
            jsonl_file: bom + _jsonl({"email_id": "BOM-E1", "rep_id": "R1", "sent_at": T}),
        },
        {
            "calls": [("BOM-1", csv_file, 2), ("BOM-2", csv_file, 3)],
            "emails": [("BOM-E1", jsonl_file, 1)],
        },
    )


def empty_files() -> Case:
    files = {
        _path("empty", "calls", "empty.csv"): b"",
        _path("empty", "calls", "blank.csv"): b"\n \r\n\t\n",
        _path("empty", "emails", "empty.jsonl"): b"",
        _path("empty", "web_visits", "empty.parquet"): b"",
    }
    return Case(
        "empty_files",
        "An empty file (no bytes, or only whitespace) loads nothing, rejects nothing, and is "
        "reported as a warning.",
        files,
        {"calls": [], "emails": [], "web_visits": []},
        warnings=[f"{path}: no rows" for path in files],
    )


def header_only() -> Case:
    with_newline = _path("header_only", "calls", "a.csv")
    without = _path("header_only", "calls", "b.csv")
    return Case(
        "header_only",
        "A CSV file with a header and no rows loads nothing and is reported as a warning.",
        {with_newline: _lines(CALLS), without: CALLS.encode()},
        {"calls": []},
        warnings=[f"{with_newline}: no rows", f"{without}: no rows"],
    )


def missing_required_column() -> Case:
    f = _path("missing_column", "calls", "calls.csv")
    return Case(
        "missing_required_column",
        "A file without a required column fails its entity, naming the file and the column; "
        "nothing of that entity is replaced.",
        {
            f: _lines(
                "call_id,started_at,duration_seconds,direction,outcome",
                "MIS-1,2025-03-05T10:00:00Z,60,outbound,connected",
            )
        },
        {},
        error=r"calls\.csv: lacks required column\(s\) rep_id \(found: call_id, direction, "
        r"duration_seconds, outcome, started_at\)",
    )


def unknown_extra_column() -> Case:
    f = _path("extra_column", "calls", "calls.csv")
    return Case(
        "unknown_extra_column",
        "A column the contract does not know is ignored: not loaded, not checked.",
        {
            f: _lines(
                CALLS + ",crm_note,contact_email",
                _call("EXT-1") + ",not a number,x@y.z",
                _call("EXT-2") + ",,",
            )
        },
        {"calls": [("EXT-1", f, 2), ("EXT-2", f, 3)]},
    )


def wrong_types() -> Case:
    f = _path("wrong_types", "calls", "calls.csv")
    j = _path("wrong_types", "emails", "emails.jsonl")
    o = _path("wrong_types", "opportunities", "opps.csv")
    return Case(
        "wrong_types",
        "A value that does not parse as its type rejects the row with the column, the value and "
        "the type; JSON numbers are read as their text.",
        {
            f: _lines(
                CALLS,
                _call("TYP-1", duration="sixty"),
                _call("TYP-2", started="05/03/2025 10:00"),
                _call("TYP-3", started="2025-02-30T10:00:00Z"),
                _call("TYP-4", duration="1.5e2"),
                _call("TYP-5", duration="NaN"),
                _call("TYP-6", duration="1e999"),
            ),
            j: _jsonl(
                {"email_id": 7, "rep_id": "R1", "sent_at": T},
                {"email_id": "TYP-E2", "rep_id": "R1", "sent_at": 1741168800},
                {"email_id": "TYP-E3", "rep_id": {"id": "R1"}, "sent_at": T},
                {"email_id": "TYP-E4", "rep_id": "R1", "sent_at": T, "replied_at": True},
                '{"email_id": "TYP-E5", "rep_id": "R1", "sent_at": "2025-03-05T10:00:00Z"',
                '["TYP-E6", "R1"]',
            ),
            o: _lines(
                OPPS,
                f"TYP-O1,R1,inbound,{T},{T},won,12.5k,NOK,{T}",
                f"TYP-O2,R1,inbound,{T},{T},won,1500,kroner,{T}",
                f"TYP-O3,R1,inbound,{T},,won,1500,NOK,{T}",
            ),
        },
        {"calls": [("TYP-4", f, 5)], "emails": [("7", j, 1)], "opportunities": []},
        [
            ("calls", f, 2, "duration_seconds: 'sixty' is not a number"),
            ("calls", f, 3, "started_at: '05/03/2025 10:00' is not an ISO-8601 timestamp"),
            ("calls", f, 4, "started_at: '2025-02-30T10:00:00Z' is not an ISO-8601 timestamp"),
            ("calls", f, 6, "duration_seconds: 'NaN' is not a number"),
            ("calls", f, 7, "duration_seconds: '1e999' is negative or not finite"),
            ("emails", j, 2, "sent_at: '1741168800' is not an ISO-8601 timestamp"),
            ("emails", j, 3, 'rep_id: \'{"id":"R1"}\' has a quote or control character'),
            ("emails", j, 4, "replied_at: 'true' is not an ISO-8601 timestamp"),
            ("emails", j, 5, "JSON line does not parse"),
            ("emails", j, 6, "JSON line is not an object"),
            ("opportunities", o, 2, "amount: '12.5k' is not a number"),
            ("opportunities", o, 3, "currency: 'kroner' is not a three-letter currency code"),
            ("opportunities", o, 4, "closed_at is required when won or lost"),
        ],
    )


def negative_numbers() -> Case:
    f = _path("negative", "calls", "calls.csv")
    o = _path("negative", "opportunities", "opps.csv")
    return Case(
        "negative_numbers",
        "A negative duration or amount rejects the row; zero (also written -0) loads.",
        {
            f: _lines(
                CALLS,
                _call("NEG-1", duration="-1"),
                _call("NEG-2", duration="-0.001"),
                _call("NEG-3", duration="0"),
                _call("NEG-4", duration="-0"),
            ),
            o: _lines(
                OPPS,
                f"NEG-O1,R1,outbound,{T},{T},won,-1500,NOK,{T}",
                f"NEG-O2,R1,outbound,{T},{T},lost,0,NOK,{T}",
            ),
        },
        {"calls": [("NEG-3", f, 4), ("NEG-4", f, 5)], "opportunities": [("NEG-O2", o, 3)]},
        [
            ("calls", f, 2, "duration_seconds: '-1' is negative or not finite"),
            ("calls", f, 3, "duration_seconds: '-0.001' is negative or not finite"),
            ("opportunities", o, 2, "amount: '-1500' is negative or not finite"),
        ],
    )


def unknown_enums() -> Case:
    f = _path("enums", "calls", "calls.csv")
    v = _path("enums", "web_visits", "visits.csv")
    return Case(
        "unknown_enums",
        "A value outside its allowed set rejects the row and names the allowed values; case and "
        "surrounding spaces do not matter.",
        {
            f: _lines(
                CALLS,
                _call("ENU-1", direction="sideways"),
                _call("ENU-2", outcome="hung_up"),
                _call("ENU-3", direction=" Outbound ", outcome="NO_ANSWER"),
            ),
            v: _lines(VISITS, f"ENU-V1,U1,{T},tiktok,/", f"ENU-V2,U1,{T},PAID,/"),
        },
        {"calls": [("ENU-3", f, 4)], "web_visits": [("ENU-V2", v, 3)]},
        [
            ("calls", f, 2, "direction: 'sideways' is not one of outbound, inbound"),
            (
                "calls",
                f,
                3,
                "outcome: 'hung_up' is not one of connected, no_answer, voicemail, busy, failed",
            ),
            (
                "web_visits",
                v,
                2,
                "channel: 'tiktok' is not one of organic, paid, social, email, referral, direct, "
                "other",
            ),
        ],
    )


# started_at as delivered -> the instant it must be stored as (UTC), reporting zone Europe/Oslo
NAIVE_TIMESTAMPS = {
    "ZON-1": ("2025-03-05 10:00", "2025-03-05T09:00:00+00:00"),  # winter: UTC+1
    "ZON-2": ("2025-07-01T12:00:00", "2025-07-01T10:00:00+00:00"),  # summer: UTC+2
    "ZON-3": ("2025-03-30 02:30", "2025-03-30T01:30:00+00:00"),  # in the spring gap: +1 hour
    "ZON-4": ("2025-10-26 02:30", "2025-10-26T01:30:00+00:00"),  # twice in autumn: the later
    "ZON-5": ("2025-03-05T10:00:00z", "2025-03-05T10:00:00+00:00"),  # lower-case z is UTC
    "ZON-6": ("2025-03-05T10:00:00+0530", "2025-03-05T04:30:00+00:00"),  # offset without colon
    "ZON-7": ("2025-03-05T10:00:00.123456-02", "2025-03-05T12:00:00.123456+00:00"),
}


def timestamps_without_offset() -> Case:
    f = _path("zones", "calls", "calls.csv")
    rows = [_call(i, started=s) for i, (s, _) in NAIVE_TIMESTAMPS.items()]
    return Case(
        "timestamps_without_offset",
        "A timestamp without an offset is wall-clock time in the reporting time zone; a time in "
        "the spring-forward gap moves forward an hour, an ambiguous autumn time is the later one.",
        {f: _lines(CALLS, *rows)},
        {"calls": [(i, f, n) for n, i in enumerate(NAIVE_TIMESTAMPS, start=2)]},
    )


def far_future() -> Case:
    f = _path("future", "calls", "calls.csv")
    j = _path("future", "emails", "emails.jsonl")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    soon = (now + dt.timedelta(hours=6)).isoformat()
    later = (now + dt.timedelta(days=3)).isoformat()
    return Case(
        "far_future",
        "A timestamp more than one day after the run is rejected (in optional columns too); "
        "clock skew of hours is accepted.",
        {
            f: _lines(
                CALLS,
                _call("FUT-1", started="2099-01-01T00:00:00Z"),
                _call("FUT-2", started=later),
                _call("FUT-3", started=soon),
            ),
            j: _jsonl(
                {
                    "email_id": "FUT-E1",
                    "rep_id": "R1",
                    "sent_at": T,
                    "replied_at": "2999-12-31T23:59:59Z",
                }
            ),
        },
        {"calls": [("FUT-3", f, 4)], "emails": []},
        [
            ("calls", f, 2, "started_at: '2099-01-01T00:00:00Z' is in the future"),
            ("calls", f, 3, f"started_at: '{later}' is in the future"),
            ("emails", j, 1, "replied_at: '2999-12-31T23:59:59Z' is in the future"),
        ],
    )


SUPERSEDED = "superseded by a later delivery with different content"


def id_twice() -> Case:
    a = _path("twice", "calls", "2025-03-01.csv")
    b = _path("twice", "calls", "2025-03-02.csv")
    o1 = _path("twice", "opportunities", "a_snapshot.csv")
    o2 = _path("twice", "opportunities", "b_snapshot.csv")
    return Case(
        "id_twice_different_content",
        "The later delivery of an id wins and the earlier, different version is rejected as "
        "superseded (an exact copy counts once); a later version that breaks the contract is "
        "rejected and the earlier valid one stays; an opportunity's latest updated_at wins.",
        {
            a: _lines(
                CALLS,
                _call("TWI-1", duration="60"),
                _call("TWI-2", duration="60"),
                _call("TWI-3", duration="60"),
                _call("TWI-4", duration="60"),
                _call("TWI-4", duration="61"),
            ),
            b: _lines(
                CALLS,
                _call("TWI-1", duration="90"),
                _call("TWI-2", duration="60"),
                _call("TWI-3", duration="-90"),
            ),
            o1: _lines(
                OPPS,
                f"TWI-O1,R1,inbound,{T},2025-03-20T10:00:00Z,won,900,NOK,2025-03-20T10:00:00Z",
                f"TWI-O2,R1,inbound,{T},,open,100,NOK,2025-03-06T10:00:00Z",
            ),
            o2: _lines(
                OPPS,
                f"TWI-O1,R1,inbound,{T},,open,1000,NOK,2025-03-10T10:00:00Z",
                f"TWI-O2,R1,inbound,{T},,open,200,NOK,2025-03-06T10:00:00Z",
            ),
        },
        {
            "calls": [("TWI-1", b, 2), ("TWI-2", b, 3), ("TWI-3", a, 4), ("TWI-4", a, 6)],
            "opportunities": [("TWI-O1", o1, 2), ("TWI-O2", o2, 3)],
        },
        [
            ("calls", a, 2, SUPERSEDED),
            ("calls", a, 5, SUPERSEDED),
            ("calls", b, 4, "duration_seconds: '-90' is negative or not finite"),
        ],
    )


def orphaned_rep() -> Case:
    o = _path("orphan", "opportunities", "opps.csv")
    c = _path("orphan", "calls", "calls.csv")
    return Case(
        "orphaned_rep",
        f"A row whose rep_id is in no reps file loads; it counts for its rep_id, under team "
        f"'(unassigned)', and is listed in the published table orphaned_reps ({GHOST_REP}).",
        {
            o: _lines(
                OPPS, f"ORP-O1,{GHOST_REP},outbound,{T},2025-03-06T10:00:00Z,won,700,NOK,{T}"
            ),
            c: _lines(CALLS, _call("ORP-1", rep=GHOST_REP)),
        },
        {"opportunities": [("ORP-O1", o, 2)], "calls": [("ORP-1", c, 2)]},
    )


def parquet_other_schemas() -> Case:
    import pyarrow as pa
    import pyarrow.parquet as pq

    a = _path("parquet", "opportunities", "a.parquet")
    b = _path("parquet", "opportunities", "b.parquet")
    tables = {
        # columns in another order, an integer id, a dictionary column, a naive timestamp (read in
        # the reporting zone), a UTC timestamp, an integer amount and a nested extra column
        a: pa.table(
            {
                "updated_at": pa.array([dt.datetime(2025, 3, 5, 11, 0)] * 2, pa.timestamp("ms")),
                "opportunity_id": pa.array([9001, 9002], pa.int64()),
                "rep_id": pa.array(["R1", "R2"]).dictionary_encode(),
                "source": ["inbound", "referral"],
                "created_at": pa.array(
                    [dt.datetime(2025, 3, 1, tzinfo=dt.UTC)] * 2, pa.timestamp("us", tz="UTC")
                ),
                "closed_at": pa.array(
                    [dt.datetime(2025, 3, 5, 9, 0, tzinfo=dt.UTC), None],
                    pa.timestamp("us", tz="UTC"),
                ),
                "status": ["won", "open"],
                "amount": pa.array([1500, 10], pa.int32()),
                "currency": ["nok", "NOK"],
                "crm": pa.array([{"stage": 5}, {"stage": 1}]),
            }
        ),
        # every value as text, amount as a double, a date where a timestamp belongs (rejected)
        b: pa.table(
            {
                "opportunity_id": ["PAR-3", "PAR-4"],
                "rep_id": ["R1", "R1"],
                "source": ["outbound", "outbound"],
                "created_at": pa.array([dt.date(2025, 3, 1), None], pa.date32()),
                "status": ["open", "open"],
                "amount": pa.array([12.5, 0.0], pa.float64()),
                "currency": ["NOK", "NOK"],
                "updated_at": [T, T],
            }
        ),
    }
    files = {}
    for relative, table in tables.items():
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        files[relative] = sink.getvalue().to_pybytes()
    return Case(
        "parquet_other_schemas",
        "Parquet files of one entity may differ in column order and types: every value is read "
        "as text and checked like CSV text; a naive TIMESTAMP is reporting-zone time, a DATE is "
        "not a timestamp; extra (even nested) columns are ignored; missing optional ones are null.",
        files,
        {"opportunities": [("9001", a, 1), ("9002", a, 2)]},
        [
            ("opportunities", b, 1, "created_at: '2025-03-01' is not an ISO-8601 timestamp"),
            ("opportunities", b, 2, "created_at: required value missing"),
        ],
    )


def parquet_missing_column() -> Case:
    import pyarrow as pa
    import pyarrow.parquet as pq

    f = _path("parquet_renamed", "web_visits", "visits.parquet")
    sink = pa.BufferOutputStream()
    pq.write_table(
        pa.table(
            {
                "VisitId": ["PQM-1"],
                "visitor": ["U1"],
                "visited_at": [T],
                "channel": ["paid"],
                "landing_page": ["/"],
            }
        ),
        sink,
    )
    return Case(
        "parquet_missing_column",
        "A Parquet file whose columns are named differently (case counts) fails its entity like "
        "a CSV file without a required column.",
        {f: sink.getvalue().to_pybytes()},
        {},
        error=r"visits\.parquet: lacks required column\(s\) visit_id, visitor_id",
    )


HUGE_FIELD_BYTES = 50 * 1024 * 1024


def huge_field_case() -> Case:
    """A 50 MB landing_page (built on demand, not kept in memory by the module)."""
    f = _path("huge", "web_visits", "visits.csv")
    huge = b"/" + b"x" * (HUGE_FIELD_BYTES - 1)
    data = (
        _lines(VISITS, f"HUG-1,U1,{T},paid,/pricing")
        + b"HUG-2,U2,"
        + T.encode()
        + b',paid,"'
        + huge
        + b'"\n'
        + _lines(f"HUG-3,U3,{T},paid,/")
    )
    return Case(
        "huge_field",
        "A value longer than 10,000 characters rejects its row (the raw record keeps the first "
        "1,000); the file's other rows load.",
        {f: data},
        {"web_visits": [("HUG-1", f, 2), ("HUG-3", f, 4)]},
        [
            (
                "web_visits",
                f,
                3,
                "landing_page: value of 52,428,800 characters is longer than 10,000",
            )
        ],
    )


CASES = (
    ragged_rows,
    bad_quoting,
    latin1_bytes,
    byte_order_mark,
    empty_files,
    header_only,
    missing_required_column,
    unknown_extra_column,
    wrong_types,
    negative_numbers,
    unknown_enums,
    timestamps_without_offset,
    far_future,
    id_twice,
    orphaned_rep,
    parquet_other_schemas,
    parquet_missing_column,
    huge_field_case,
)


def all_cases() -> list[Case]:
    return [build() for build in CASES]


def base_files() -> dict[str, bytes]:
    """What a full run needs besides the cases: every rep they use (not the ghost), a meeting."""
    reps = [f"{rep},Rep {rep},Nord,Oslo,2024-01-01," for rep in REP_IDS]
    meetings = "meeting_id,rep_id,booked_at,scheduled_at,status,source"
    return {
        "reps/base/reps.csv": _lines(REPS, *reps),
        "meetings/base/meetings.csv": _lines(meetings, f"BAS-M1,R1,{T},{T},held,outbound"),
    }
