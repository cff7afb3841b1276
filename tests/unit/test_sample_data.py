"""Tests for the deterministic sample-org generator (``pipelines.sample_data``)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import itertools
import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipelines.sample_data import SampleSummary, generate_sample_org
from pipelines.sample_data.roster import build_roster
from pipelines.sample_data.timekeeping import is_working_day, norwegian_holidays

OSLO = ZoneInfo("Europe/Oslo")
REPO = Path(__file__).resolve().parents[2]

ENTITIES = ("reps", "web_visits", "calls", "emails", "meetings", "opportunities")
TEXT_ENTITIES = ("reps", "calls", "emails", "meetings", "opportunities")  # read row by row
ID_COLUMN = {
    "reps": "rep_id",
    "web_visits": "visit_id",
    "calls": "call_id",
    "emails": "email_id",
    "meetings": "meeting_id",
    "opportunities": "opportunity_id",
}
COLUMNS = {
    "reps": ("rep_id", "rep_name", "team", "region", "hired_on", "left_on"),
    "web_visits": (
        "visit_id", "visitor_id", "visited_at", "channel", "landing_page", "campaign", "account_id",
    ),
    "calls": (
        "call_id", "rep_id", "started_at", "duration_seconds", "direction", "outcome",
        "contact_id", "account_id",
    ),
    "emails": ("email_id", "rep_id", "sent_at", "contact_id", "account_id", "replied_at"),
    "meetings": (
        "meeting_id", "rep_id", "account_id", "booked_at", "scheduled_at", "status", "source",
        "visitor_id",
    ),
    "opportunities": (
        "opportunity_id", "rep_id", "account_id", "meeting_id", "source", "created_at",
        "closed_at", "status", "amount", "currency", "updated_at",
    ),
}  # fmt: skip
OPTIONAL = {
    "left_on", "campaign", "account_id", "contact_id", "replied_at", "visitor_id", "meeting_id",
    "closed_at",
}  # fmt: skip
TIMESTAMPS = {
    "visited_at", "started_at", "sent_at", "replied_at", "booked_at", "scheduled_at",
    "created_at", "closed_at", "updated_at",
}  # fmt: skip
DATES = {"hired_on", "left_on"}
NUMBERS = {"duration_seconds", "amount"}
ALLOWED = {
    "channel": {"organic", "paid", "social", "email", "referral", "direct", "other"},
    "direction": {"outbound", "inbound"},
    "outcome": {"connected", "no_answer", "voicemail", "busy", "failed"},
    "source": {"inbound", "outbound", "referral", "other"},
}
STATUS = {
    "meetings": {"scheduled", "held", "no_show", "cancelled"},
    "opportunities": {"open", "won", "lost"},
}
TIMESTAMP_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?"
)
NUMBER_RE = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")

Row = dict[str, str | None]


# --- reading landing files ---------------------------------------------------------------------


def entity_files(root: Path, entity: str) -> list[Path]:
    folder = root / entity
    if not folder.exists():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix in {".csv", ".jsonl", ".parquet"})


def read_rows(path: Path) -> Iterator[tuple[int, Row]]:
    """(contract row number, row as text) for every data row of a landing file."""
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            for row in reader:
                yield reader.line_num, dict(row)
    elif path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                yield number, json.loads(line)
    else:
        table = pq.read_table(path)
        names = table.column_names
        for number, values in enumerate(zip(*table.to_pydict().values(), strict=True), start=1):
            yield (
                number,
                {
                    n: v.isoformat() if isinstance(v, dt.datetime) else v
                    for n, v in zip(names, values, strict=True)
                },
            )


def all_rows(root: Path, entity: str) -> Iterator[tuple[str, int, Row]]:
    for path in entity_files(root, entity):
        for number, row in read_rows(path):
            yield path.relative_to(root).as_posix(), number, row


def parse_timestamp(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=OSLO)


def problems(entity: str, row: Row) -> list[str]:
    """Contract violations of one row (an independent, minimal reading of the contract)."""
    found = []
    for column in COLUMNS[entity]:
        value = row.get(column)
        text = "" if value is None else str(value).strip()
        if not text:
            if column not in OPTIONAL:
                found.append(f"missing {column}")
        elif issue := _value_problem(entity, column, text):
            found.append(f"{issue} {column}")
    if entity == "opportunities" and row.get("status") in {"won", "lost"} and not row["closed_at"]:
        found.append("missing closed_at")
    return found


def _value_problem(entity: str, column: str, text: str) -> str | None:
    if column.endswith("_id") and ('"' in text or any(ord(c) < 32 for c in text)):
        return "bad id"
    if (column in TIMESTAMPS and not _timestamp_ok(text)) or (
        column in DATES and not _date_ok(text)
    ):
        return "unparsable"
    if column in NUMBERS and (not NUMBER_RE.fullmatch(text) or float(text) < 0):
        return "bad number"
    if column in ALLOWED and text.lower() not in ALLOWED[column]:
        return "unknown"
    if column == "status" and text.lower() not in STATUS[entity]:
        return "unknown"
    if column == "currency" and not re.fullmatch(r"[A-Za-z]{3}", text):
        return "bad currency"
    return None


def _timestamp_ok(text: str) -> bool:
    if not TIMESTAMP_RE.fullmatch(text):
        return False
    try:
        parse_timestamp(text)
    except ValueError:
        return False
    return True


def _date_ok(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", text))


def tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def visits_table(root: Path) -> pa.Table:
    """All web visits with their file and 1-based row index."""
    tables = []
    for path in entity_files(root, "web_visits"):
        table = pq.read_table(path)
        file = path.relative_to(root).as_posix()
        table = table.append_column("file", pa.array([file] * table.num_rows))
        tables.append(table.append_column("row", pa.array(range(1, table.num_rows + 1))))
    return pa.concat_tables(tables)


def visit_problems(table: pa.Table) -> dict[tuple[str, int], list[str]]:
    """Contract violations of web visits, checked column by column."""
    found: dict[tuple[str, int], list[str]] = defaultdict(list)
    for column in COLUMNS["web_visits"]:
        values = table[column]
        text = values if pa.types.is_string(values.type) else values.cast(pa.string())
        blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(text), ""), True)
        checks = [] if column in OPTIONAL else [("missing", blank)]
        if column in ALLOWED:
            allowed = pa.array(sorted(ALLOWED[column]))
            checks.append(("unknown", pc.and_(pc.invert(blank), pc.invert(pc.is_in(
                pc.utf8_lower(text), value_set=allowed
            )))))  # fmt: skip
        for issue, mask in checks:
            for file, row in zip(*table.filter(mask).select(["file", "row"]).to_pydict().values(),
                                 strict=True):  # fmt: skip
                found[(file, row)].append(f"{issue} {column}")
    return dict(found)


def ids(root: Path, entity: str) -> list[str]:
    if entity == "web_visits":
        return visits_table(root)["visit_id"].to_pylist()
    return [str(row[ID_COLUMN[entity]]) for _, _, row in all_rows(root, entity)]


def oslo_day(text: str) -> dt.date:
    return parse_timestamp(text).astimezone(OSLO).date()


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> SampleSummary:
    """The default sample: scale 0.1, 2025, dirty."""
    return generate_sample_org(tmp_path_factory.mktemp("year"))


@pytest.fixture(scope="module")
def rows(year: SampleSummary) -> dict[str, list[tuple[str, int, Row]]]:
    """(file, row number, row) of every text entity (web visits: see ``visits``)."""
    return {entity: list(all_rows(year.out, entity)) for entity in TEXT_ENTITIES}


@pytest.fixture(scope="module")
def visits(year: SampleSummary) -> pa.Table:
    return visits_table(year.out)


@pytest.fixture(scope="module")
def good(year: SampleSummary, rows: dict) -> dict[str, list[Row]]:
    """Rows of text entities that are not expected rejects."""
    rejected = {(r.file, r.row_number) for r in year.expected_rejects}
    return {
        entity: [row for file, number, row in entity_rows if (file, number) not in rejected]
        for entity, entity_rows in rows.items()
    }


@pytest.fixture(scope="module")
def good_visits(year: SampleSummary, visits: pa.Table) -> pa.Table:
    rejected = {(r.file, r.row_number) for r in year.expected_rejects if r.entity == "web_visits"}
    keys = [f"{f}#{r}" for f, r in rejected]
    joined = pc.binary_join_element_wise(visits["file"], pc.cast(visits["row"], pa.string()), "#")
    return visits.filter(pc.invert(pc.is_in(joined, value_set=pa.array(keys, pa.string()))))


# --- calendar -----------------------------------------------------------------------------------


def test_norwegian_holidays_2025() -> None:
    expected = {
        dt.date(2025, m, d)
        for m, d in [(1, 1), (4, 17), (4, 18), (4, 20), (4, 21), (5, 1), (5, 17), (5, 29),
                     (6, 8), (6, 9), (12, 25), (12, 26)]
    }  # fmt: skip
    assert norwegian_holidays(2025) == expected
    assert dt.date(2026, 4, 5) in norwegian_holidays(2026)  # Easter Sunday 2026
    assert not is_working_day(dt.date(2026, 1, 1))
    assert is_working_day(dt.date(2026, 1, 2))


def test_import_does_no_io(tmp_path: Path) -> None:
    code = "import pipelines.sample_data as s; assert callable(s.generate_sample_org)"
    env = {"PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True)
    assert list(tmp_path.iterdir()) == []


# --- roster -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("scale", "reps", "teams"), [(0.01, 5, 3), (0.1, 10, 3), (1.0, 100, 6)])
def test_roster_size_and_teams(scale: float, reps: int, teams: int) -> None:
    roster = build_roster(7, scale)
    assert roster.size == reps
    assert len(roster.teams) == teams
    assert len(set(roster.team_index.tolist())) == teams
    assert round(0.2 * reps) == roster.is_top.sum() or roster.is_top.sum() == 1
    assert sum(d is not None for d in roster.left_on) in {1, 2}
    assert sum(d.year == 2025 for d in roster.hired_on) >= 2
    assert len(set(roster.rep_name)) == reps


def test_roster_depends_only_on_seed_and_scale(year: SampleSummary, tmp_path: Path) -> None:
    other = generate_sample_org(tmp_path, start=dt.date(2026, 3, 2), days=2, dirty=False)
    assert (tmp_path / "reps/reps.csv").read_bytes() == (year.out / "reps/reps.csv").read_bytes()
    assert other.top_performers == year.top_performers
    names = [row["rep_name"] for _, row in read_rows(tmp_path / "reps/reps.csv")]
    assert all(" " in name for name in names)
    assert (year.out / "reps/reps.csv").read_bytes() != _reps_bytes(tmp_path / "seed8", seed=8)


def _reps_bytes(out: Path, seed: int) -> bytes:
    generate_sample_org(out, seed=seed, days=1, dirty=False)
    return (out / "reps/reps.csv").read_bytes()


# --- determinism and incremental runs -----------------------------------------------------------


def test_same_arguments_give_identical_files(year: SampleSummary, tmp_path: Path) -> None:
    again = generate_sample_org(tmp_path)
    assert tree_digest(tmp_path) == tree_digest(year.out)
    assert again.rows_written == year.rows_written
    assert again.expected_rejects == year.expected_rejects


def test_incremental_runs_write_new_files_with_new_ids(
    year: SampleSummary, rows: dict, visits: pa.Table, tmp_path: Path
) -> None:
    generate_sample_org(tmp_path, days=31)
    before = tree_digest(tmp_path)
    holiday = generate_sample_org(tmp_path, start=dt.date(2026, 1, 1), days=1, include_reps=False)
    workday = generate_sample_org(tmp_path, start=dt.date(2026, 1, 2), days=1, include_reps=False)
    after = tree_digest(tmp_path)
    assert {k: after[k] for k in before} == before  # nothing overwritten
    new_files = set(after) - set(before)
    assert new_files == set(holiday.files) | set(workday.files)
    assert "calls/calls_2026-01-02.csv" in new_files
    assert holiday.rows_written["calls"] == 0  # New Year's Day: no calls
    assert holiday.rows_written["web_visits"] > 0
    assert holiday.rows_written["reps"] == workday.rows_written["reps"] == 0
    year_ids = {e: {str(row[ID_COLUMN[e]]) for _, _, row in r} for e, r in rows.items()}
    year_ids["web_visits"] = set(visits["visit_id"].to_pylist())
    for entity in ("web_visits", "calls", "emails", "meetings"):
        if entity == "web_visits":
            table = visits_table(tmp_path)
            new = pc.is_in(table["file"], value_set=pa.array(sorted(new_files)))
            new_ids = set(table.filter(new)["visit_id"].to_pylist())
            old_ids = set(table.filter(pc.invert(new))["visit_id"].to_pylist())
        else:
            new_ids, old_ids = set(), set()
            for file, _, row in all_rows(tmp_path, entity):
                (new_ids if file in new_files else old_ids).add(str(row[ID_COLUMN[entity]]))
        assert new_ids, entity
        assert not new_ids & old_ids, entity
        assert not new_ids & year_ids[entity], entity


def test_overlapping_ranges_repeat_days_exactly(
    rows: dict, visits: pa.Table, tmp_path: Path
) -> None:
    """A day's activity depends only on (seed, scale, date), not on the range around it."""
    generate_sample_org(tmp_path, start=dt.date(2025, 3, 10), days=3, dirty=False)
    for entity in ("calls", "emails"):
        short = {row[ID_COLUMN[entity]]: row for _, _, row in all_rows(tmp_path, entity)}
        long = {
            row[ID_COLUMN[entity]]: row
            for _, _, row in rows[entity]
            if row[ID_COLUMN[entity]] in short
        }
        if entity == "emails":  # replies after the end of the short range are not known yet
            assert {k: v["replied_at"] for k, v in short.items() if v["replied_at"]}.items() <= {
                k: v["replied_at"] for k, v in long.items()
            }.items()
            short = {k: {**v, "replied_at": None} for k, v in short.items()}
            long = {k: {**v, "replied_at": None} for k, v in long.items()}
        assert short and long == short, entity
    short_visits = visits_table(tmp_path).drop_columns(["file", "row"]).sort_by("visit_id")
    long_visits = visits.filter(pc.is_in(visits["visit_id"], value_set=short_visits["visit_id"]))
    assert long_visits.drop_columns(["file", "row"]).sort_by("visit_id").equals(short_visits)


# --- files, columns, contract -------------------------------------------------------------------


def test_layout_and_row_counts(year: SampleSummary, rows: dict, visits: pa.Table) -> None:
    assert year.n_reps == 10
    assert "calls/calls_2025-03.csv" in year.files
    assert "calls/calls_2025-03_redelivery.csv" in year.files
    assert "emails/emails_2025-01.jsonl" in year.files
    assert "web_visits/web_visits_2025-12.parquet" in year.files
    assert "opportunities/snapshot_2025-06-30.csv" in year.files
    assert "opportunities/snapshot_2025-12-31.csv" in year.files
    assert year.files == sorted(
        p.relative_to(year.out).as_posix() for p in year.out.rglob("*") if p.is_file()
    )
    counts = {e: len(r) for e, r in rows.items()} | {"web_visits": visits.num_rows}
    assert counts == year.rows_written


def test_every_file_is_readable_by_duckdb_with_required_columns(year: SampleSummary) -> None:
    readers = {
        ".csv": "read_csv({}, header=true, all_varchar=true, filename=true)",
        ".jsonl": "read_json({}, format='newline_delimited', filename=true)",
        ".parquet": "read_parquet({}, filename=true)",
    }
    con = duckdb.connect()
    for entity in ENTITIES:
        files = entity_files(year.out, entity)
        assert files, entity
        for path in files:  # each file on its own: sniffing and columns
            columns = con.sql(
                f"select * from {readers[path.suffix].format(repr(str(path)))}"
            ).columns
            assert set(COLUMNS[entity]) <= set(columns), path
        for suffix, reader in readers.items():  # and all their rows
            paths = [str(p) for p in files if p.suffix == suffix]
            if paths:
                counts = con.sql(
                    f"select filename, count(*) from {reader.format(paths)} group by filename"
                ).fetchall()
                assert len(counts) == len(paths) and all(n > 0 for _, n in counts), entity


def test_only_the_expected_rows_break_the_contract(
    year: SampleSummary, rows: dict, visits: pa.Table
) -> None:
    found = {}
    for entity, entity_rows in rows.items():
        for file, number, row in entity_rows:
            if issues := problems(entity, row):
                found[(entity, file, number)] = issues
    for (file, number), issues in visit_problems(visits).items():
        found[("web_visits", file, number)] = issues
    expected = {(r.entity, r.file, r.row_number): r.reason for r in year.expected_rejects}
    assert set(found) == set(expected)
    for key, issues in found.items():
        assert len(issues) == 1, (key, issues)
        column = issues[0].split()[-1]
        assert column.split("_")[0] in expected[key], (key, issues, expected[key])
    assert 5 <= len(expected) <= 20
    assert {r.entity for r in year.expected_rejects} >= {"calls", "meetings", "opportunities"}


def test_expected_rejects_point_at_the_dirty_lines(year: SampleSummary) -> None:
    for reject in year.expected_rejects:
        path = year.out / reject.file
        if path.suffix == ".parquet":
            row = pq.read_table(path).slice(reject.row_number - 1, 1).to_pylist()[0]
            line = json.dumps(row, default=str)
        else:
            line = path.read_text(encoding="utf-8").splitlines()[reject.row_number - 1]
        assert re.search(r"-X\d\d\b", line), (reject, line)


def test_dirty_ids_are_new(year: SampleSummary, rows: dict, visits: pa.Table) -> None:
    for entity in ENTITIES:
        if entity == "web_visits":
            all_ids = visits["visit_id"].to_pylist()
        else:
            all_ids = [str(row[ID_COLUMN[entity]]) for _, _, row in rows[entity]]
        counts = Counter(all_ids)
        dirty = [i for i in counts if re.search(r"-X\d\d$", i)]
        assert all(counts[i] == 1 for i in dirty), entity
        assert len(dirty) == sum(r.entity == entity for r in year.expected_rejects), entity


def test_exact_redeliveries_repeat_rows_exactly(
    year: SampleSummary, rows: dict, visits: pa.Table
) -> None:
    for entity in ("reps", "calls", "emails", "meetings"):
        versions: dict[str, set[tuple]] = defaultdict(set)
        count: Counter[str] = Counter()
        for _, _, row in rows[entity]:
            key = str(row[ID_COLUMN[entity]])
            versions[key].add(tuple(row.get(c) or "" for c in COLUMNS[entity]))
            count[key] += 1
        assert sum(n - 1 for n in count.values()) == year.exact_redeliveries[entity], entity
        assert all(len(v) == 1 for v in versions.values()), entity
    assert pc.count_distinct(visits["visit_id"]).as_py() == visits.num_rows
    assert year.exact_redeliveries["web_visits"] == 0
    assert year.exact_redeliveries["calls"] == 3
    assert year.exact_redeliveries["meetings"] == 2


def test_clean_run_has_no_dirt(tmp_path: Path) -> None:
    summary = generate_sample_org(tmp_path, days=45, dirty=False)
    assert summary.expected_rejects == []
    assert set(summary.exact_redeliveries.values()) == {0}
    for entity in TEXT_ENTITIES:
        for file, number, row in all_rows(tmp_path, entity):
            assert not problems(entity, row), (file, number, row)
    assert not visit_problems(visits_table(tmp_path))
    assert not list(tmp_path.rglob("*redelivery*"))
    assert "calls/calls_2025-02-01_2025-02-14.csv" in summary.files


# --- believable data ----------------------------------------------------------------------------


def _working_days(hired: str, left: str | None, year: int = 2025) -> int:
    first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    days = (first + dt.timedelta(days=i) for i in range((last - first).days + 1))
    hired_on = dt.date.fromisoformat(hired)
    left_on = dt.date.fromisoformat(left) if left else dt.date.max
    return sum(1 for d in days if hired_on <= d < left_on and is_working_day(d))


def test_call_rates_are_plausible(year: SampleSummary, good: dict) -> None:
    reps = {row["rep_id"]: row for row in good["reps"]}
    calls = Counter(row["rep_id"] for row in good["calls"])
    per_day = {r: calls[r] / _working_days(reps[r]["hired_on"], reps[r]["left_on"]) for r in reps}
    assert 50 <= sum(per_day.values()) / len(per_day) <= 90
    top = [per_day[r] for r in year.top_performers]
    others = [v for r, v in per_day.items() if r not in year.top_performers]
    assert min(top) > max(others) - 5
    assert sum(top) / len(top) > sum(others) / len(others) + 8

    connected = Counter(r["rep_id"] for r in good["calls"] if r["outcome"] == "connected")
    rate = {r: connected[r] / calls[r] for r in reps}
    assert min(rate[r] for r in year.top_performers) > sum(rate.values()) / len(rate)
    outcomes = Counter(row["outcome"] for row in good["calls"])
    assert set(outcomes) == ALLOWED["outcome"]
    assert all(
        row["duration_seconds"] == "0"
        for row in good["calls"]
        if row["outcome"] in {"no_answer", "failed"}
    )


def test_activity_only_on_oslo_working_days(good: dict) -> None:
    for entity, column in (("calls", "started_at"), ("emails", "sent_at")):
        days = {oslo_day(str(row[column])) for row in good[entity]}
        assert all(is_working_day(d) for d in days), entity
        assert len(days) == 252  # every working day of 2025
    offsets = Counter(str(r["started_at"])[19:] for r in good["calls"])
    assert {"Z", "+01:00", "+02:00"} <= set(offsets)
    late = [
        r for r in good["emails"]
        if parse_timestamp(str(r["sent_at"])).date() != oslo_day(str(r["sent_at"]))
    ]  # fmt: skip
    assert late, "some events should fall on another date in UTC than in Oslo"


def test_funnel_shapes(good: dict, good_visits: pa.Table) -> None:
    assert 350_000 <= good_visits.num_rows <= 650_000
    assert set(pc.unique(good_visits["channel"]).to_pylist()) == ALLOWED["channel"]
    campaigns = good_visits["campaign"]
    assert 0 < campaigns.null_count < len(campaigns)
    meetings = good["meetings"]
    sources = Counter(m["source"] for m in meetings)
    assert sources["outbound"] > sources["inbound"] > sources["referral"] > 0
    statuses = Counter(m["status"] for m in meetings)
    assert statuses["held"] > 0.7 * len(meetings)
    assert statuses["no_show"] and statuses["cancelled"] and statuses["scheduled"]
    end = dt.datetime(2026, 1, 1, tzinfo=OSLO)
    for m in meetings:
        assert parse_timestamp(str(m["booked_at"])) < parse_timestamp(str(m["scheduled_at"]))
        assert (m["status"] == "scheduled") == (parse_timestamp(str(m["scheduled_at"])) >= end)
        assert bool(m["visitor_id"]) == (m["source"] == "inbound")


def test_inbound_meetings_follow_a_visit(good: dict, good_visits: pa.Table) -> None:
    inbound = [m for m in good["meetings"] if m["source"] == "inbound"]
    assert inbound
    wanted = pa.array(sorted({str(m["visitor_id"]) for m in inbound}))
    first_visit = dict(
        zip(
            *good_visits.filter(pc.is_in(good_visits["visitor_id"], value_set=wanted))
            .group_by("visitor_id")
            .aggregate([("visited_at", "min")])
            .select(["visitor_id", "visited_at_min"])
            .to_pydict()
            .values(),
            strict=True,
        )
    )
    for m in inbound:
        assert first_visit[str(m["visitor_id"])] < parse_timestamp(str(m["booked_at"]))


def test_opportunity_snapshots(year: SampleSummary, good: dict) -> None:
    history: dict[str, list[Row]] = defaultdict(list)
    for row in good["opportunities"]:
        history[str(row["opportunity_id"])].append(row)  # files are read in date order
    final = {k: v[-1] for k, v in history.items()}
    assert 200 <= len(final) <= 1500
    statuses = Counter(r["status"] for r in final.values())
    won, lost = statuses["won"], statuses["lost"]
    assert statuses["open"] > 0 and 0.1 <= won / (won + lost) <= 0.6
    opened_then_won = [
        v for v in history.values() if v[0]["status"] == "open" and v[-1]["status"] == "won"
    ]
    assert opened_then_won
    for versions in history.values():
        for earlier, later in itertools.pairwise(versions):
            if earlier["status"] == "open":
                assert parse_timestamp(str(later["updated_at"])) > parse_timestamp(
                    str(earlier["updated_at"])
                )
            else:
                assert later == earlier  # closed deals do not change
    meetings = {str(m["meeting_id"]): m for m in good["meetings"]}
    for row in final.values():
        assert row["currency"] == "NOK"
        assert meetings[str(row["meeting_id"])]["source"] == row["source"]
        assert meetings[str(row["meeting_id"])]["status"] == "held"
        assert 20_000 <= float(str(row["amount"])) <= 1_500_000
        if row["closed_at"]:
            days = parse_timestamp(str(row["closed_at"])) - parse_timestamp(str(row["created_at"]))
            assert dt.timedelta(days=2) <= days <= dt.timedelta(days=310)
    top = set(year.top_performers)
    wins = Counter(r["rep_id"] for r in final.values() if r["status"] == "won")
    top_wins = sum(wins[r] for r in top) / len(top)
    other_wins = sum(n for r, n in wins.items() if r not in top) / (year.n_reps - len(top))
    assert top_wins > 1.5 * other_wins
