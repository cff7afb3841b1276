"""Tests for the deterministic sample-org generator (``pipelines.sample_data``).

Landing files are read back with pyarrow (every value as text, like the loader does) and checked
against an independent, minimal reading of docs/landing-contract.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq
import pytest

from pipelines.sample_data import SampleSummary, generate_sample_org
from pipelines.sample_data.roster import build_roster
from pipelines.sample_data.timekeeping import is_working_day, norwegian_holidays

OSLO = ZoneInfo("Europe/Oslo")
REPO = Path(__file__).resolve().parents[2]

ENTITIES = ("reps", "web_visits", "calls", "emails", "meetings", "opportunities")
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
_DATE = r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
PATTERNS = {
    **{
        c: _DATE + r"[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?"
        for c in TIMESTAMPS
    },
    "hired_on": _DATE,
    "left_on": _DATE,
    "duration_seconds": r"\d+(\.\d+)?([eE][+-]?\d+)?",
    "amount": r"\d+(\.\d+)?([eE][+-]?\d+)?",
    "currency": r"[A-Za-z]{3}",
}
BAD_ID = r'["\x00-\x1f]'
Row = dict[str, str | None]


# --- reading landing files ---------------------------------------------------------------------


def entity_files(root: Path, entity: str) -> list[Path]:
    folder = root / entity
    if not folder.exists():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix in {".csv", ".jsonl", ".parquet"})


def read_file(path: Path, entity: str) -> pa.Table:
    """Contract columns as text, plus ``row`` (contract row number)."""
    first_row = 1
    if path.suffix == ".csv":
        options = pa_csv.ConvertOptions(
            column_types=dict.fromkeys(COLUMNS[entity], pa.string()), strings_can_be_null=False
        )
        table = pa_csv.read_csv(path, convert_options=options)
        first_row = 2  # the header is line 1
    elif path.suffix == ".jsonl":
        schema = pa.schema([(c, pa.string()) for c in COLUMNS[entity]])
        table = pa_json.read_json(path, parse_options=pa_json.ParseOptions(explicit_schema=schema))
    else:
        table = pq.read_table(path)
    columns = {}
    for name in COLUMNS[entity]:
        column = table[name]
        columns[name] = pc.fill_null(column.cast(pa.string()), "")
    columns["row"] = pa.array(range(first_row, first_row + table.num_rows), pa.int64())
    return pa.table(columns)


def load(root: Path, entity: str) -> pa.Table:
    """All rows of an entity with their ``file`` (relative to root) and ``row``."""
    tables = []
    for path in entity_files(root, entity):
        table = read_file(path, entity)
        file = path.relative_to(root).as_posix()
        tables.append(table.append_column("file", pa.array([file] * table.num_rows)))
    return pa.concat_tables(tables)


def table_problems(entity: str, table: pa.Table) -> dict[tuple[str, int], list[str]]:
    """Contract violations per (file, row), column by column."""
    checks = []
    for column in COLUMNS[entity]:
        text = pc.utf8_trim_whitespace(table[column])
        blank = pc.equal(text, "")
        present = pc.invert(blank)
        if column not in OPTIONAL:
            checks.append((f"missing {column}", blank))
        if column.endswith("_id"):
            checks.append((f"bad id {column}", pc.match_substring_regex(text, BAD_ID)))
        if column in PATTERNS:
            valid = pc.match_substring_regex(text, f"^(?:{PATTERNS[column]})$")
            checks.append((f"unparsable {column}", pc.and_(present, pc.invert(valid))))
        allowed = ALLOWED.get(column) or (STATUS.get(entity) if column == "status" else None)
        if allowed:
            known = pc.is_in(pc.utf8_lower(text), value_set=pa.array(sorted(allowed)))
            checks.append((f"unknown {column}", pc.and_(present, pc.invert(known))))
    if entity == "opportunities":
        closed = pc.is_in(table["status"], value_set=pa.array(["won", "lost"]))
        checks.append(("missing closed_at", pc.and_(closed, pc.equal(table["closed_at"], ""))))
    found: dict[tuple[str, int], list[str]] = defaultdict(list)
    for issue, mask in checks:
        hits = table.filter(mask).select(["file", "row"]).to_pydict()
        for key in zip(hits["file"], hits["row"], strict=True):
            found[key].append(issue)
    return dict(found)


def parse_timestamp(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=OSLO)


def oslo_day(text: str) -> dt.date:
    return parse_timestamp(text).astimezone(OSLO).date()


def tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def without_rejects(table: pa.Table, summary: SampleSummary) -> pa.Table:
    keys = [f"{r.file}#{r.row_number}" for r in summary.expected_rejects]
    joined = pc.binary_join_element_wise(table["file"], pc.cast(table["row"], pa.string()), "#")
    return table.filter(pc.invert(pc.is_in(joined, value_set=pa.array(keys, pa.string()))))


def counts(column: pa.ChunkedArray) -> Counter[str]:
    values = pc.value_counts(column).to_pylist()
    return Counter({v["values"]: v["counts"] for v in values})


def records(table: pa.Table) -> list[Row]:
    return table.drop_columns(["file", "row"]).to_pylist()


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> SampleSummary:
    """The default sample: scale 0.1, 2025, dirty."""
    return generate_sample_org(tmp_path_factory.mktemp("year"))


@pytest.fixture(scope="module")
def tables(year: SampleSummary) -> dict[str, pa.Table]:
    """Every row the default sample delivered, per entity."""
    return {entity: load(year.out, entity) for entity in ENTITIES}


@pytest.fixture(scope="module")
def good(year: SampleSummary, tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
    """Rows that are not expected rejects."""
    return {entity: without_rejects(table, year) for entity, table in tables.items()}


# --- calendar and roster ------------------------------------------------------------------------


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


@pytest.mark.parametrize(("scale", "reps", "teams"), [(0.01, 5, 3), (0.1, 10, 3), (1.0, 100, 6)])
def test_roster_size_and_teams(scale: float, reps: int, teams: int) -> None:
    roster = build_roster(7, scale)
    assert roster.size == reps
    assert len(roster.teams) == teams
    assert len(set(roster.team_index.tolist())) == teams
    assert roster.is_top.sum() == max(1, round(0.2 * reps))
    assert sum(d is not None for d in roster.left_on) in {1, 2}
    assert sum(d.year == 2025 for d in roster.hired_on) >= 2
    assert len(set(roster.rep_name)) == reps


def test_roster_depends_only_on_seed_and_scale(year: SampleSummary, tmp_path: Path) -> None:
    other = generate_sample_org(tmp_path / "a", start=dt.date(2026, 3, 2), days=2, dirty=False)
    reps = (year.out / "reps/reps.csv").read_bytes()
    assert (tmp_path / "a/reps/reps.csv").read_bytes() == reps
    assert other.top_performers == year.top_performers
    generate_sample_org(tmp_path / "b", seed=8, days=1, dirty=False)
    assert (tmp_path / "b/reps/reps.csv").read_bytes() != reps


# --- determinism and incremental runs -----------------------------------------------------------


def test_same_arguments_give_identical_files(year: SampleSummary, tmp_path: Path) -> None:
    again = generate_sample_org(tmp_path)
    assert tree_digest(tmp_path) == tree_digest(year.out)
    assert again.rows_written == year.rows_written
    assert again.expected_rejects == year.expected_rejects


def test_incremental_runs_write_new_files_with_new_ids(
    year: SampleSummary, tables: dict[str, pa.Table], tmp_path: Path
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
    for entity in ("web_visits", "calls", "emails", "meetings"):
        table, id_column = load(tmp_path, entity), ID_COLUMN[entity]
        is_new = pc.is_in(table["file"], value_set=pa.array(sorted(new_files)))
        new_ids = set(table.filter(is_new)[id_column].to_pylist())
        old_ids = set(table.filter(pc.invert(is_new))[id_column].to_pylist())
        assert new_ids, entity
        assert not new_ids & old_ids, entity
        assert not new_ids & set(tables[entity][id_column].to_pylist()), entity


def test_overlapping_ranges_repeat_days_exactly(
    tables: dict[str, pa.Table], tmp_path: Path
) -> None:
    """A day's activity depends only on (seed, scale, date), not on the range around it."""
    generate_sample_org(tmp_path, start=dt.date(2025, 3, 10), days=3, dirty=False)
    for entity in ("calls", "emails", "web_visits"):
        id_column = ID_COLUMN[entity]
        short = load(tmp_path, entity).drop_columns(["file", "row"]).sort_by(id_column)
        long = tables[entity].filter(
            pc.is_in(tables[entity][id_column], value_set=short[id_column])
        )
        long = long.drop_columns(["file", "row"]).sort_by(id_column)
        if entity == "emails":  # replies after the end of the short range are not known yet
            replied = pc.not_equal(short["replied_at"], "")
            assert short.filter(replied).equals(long.filter(replied))
            short, long = short.drop_columns(["replied_at"]), long.drop_columns(["replied_at"])
        assert short.num_rows > 0 and short.equals(long), entity


# --- files, columns, contract -------------------------------------------------------------------


def test_layout_and_row_counts(year: SampleSummary, tables: dict[str, pa.Table]) -> None:
    assert year.n_reps == 10
    for file in (
        "reps/reps.csv",
        "calls/calls_2025-03.csv",
        "calls/calls_2025-03_redelivery.csv",
        "emails/emails_2025-01.jsonl",
        "web_visits/web_visits_2025-12.parquet",
        "meetings/meetings_2025-07.csv",
        "opportunities/snapshot_2025-06-30.csv",
        "opportunities/snapshot_2025-12-31.csv",
    ):
        assert file in year.files
    written = sorted(p.relative_to(year.out).as_posix() for p in year.out.rglob("*") if p.is_file())
    assert year.files == written
    assert {e: t.num_rows for e, t in tables.items()} == year.rows_written


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
            relation = con.sql(f"select * from {readers[path.suffix].format(repr(str(path)))}")
            assert set(COLUMNS[entity]) <= set(relation.columns), path
        for suffix, reader in readers.items():  # and all of their rows
            paths = [str(p) for p in files if p.suffix == suffix]
            if paths:
                query = f"select filename, count(*) from {reader.format(paths)} group by filename"
                rows = con.sql(query).fetchall()
                assert len(rows) == len(paths) and all(n > 0 for _, n in rows), entity


def test_only_the_expected_rows_break_the_contract(
    year: SampleSummary, tables: dict[str, pa.Table]
) -> None:
    found = {
        (entity, file, row): issues
        for entity, table in tables.items()
        for (file, row), issues in table_problems(entity, table).items()
    }
    expected = {(r.entity, r.file, r.row_number): r.reason for r in year.expected_rejects}
    assert set(found) == set(expected)
    for key, issues in found.items():
        assert len(issues) == 1, (key, issues)
        column = issues[0].split()[-1]
        assert column.split("_")[0] in expected[key], (key, issues, expected[key])
    assert 5 <= len(expected) <= 20
    assert {r.entity for r in year.expected_rejects} >= {"calls", "meetings", "opportunities"}
    assert len({(r.file, r.row_number) for r in year.expected_rejects}) == len(expected)


def test_expected_rejects_point_at_the_dirty_lines(year: SampleSummary) -> None:
    for reject in year.expected_rejects:
        path = year.out / reject.file
        if path.suffix == ".parquet":
            row = pq.read_table(path).slice(reject.row_number - 1, 1).to_pylist()[0]
            line = json.dumps(row, default=str)
        else:
            line = path.read_text(encoding="utf-8").splitlines()[reject.row_number - 1]
        assert re.search(r"-X\d\d\b", line), (reject, line)


def test_dirty_ids_are_new(year: SampleSummary, tables: dict[str, pa.Table]) -> None:
    for entity, table in tables.items():
        ids = table[ID_COLUMN[entity]]
        dirty = ids.filter(pc.match_substring_regex(ids, r"-X\d\d$")).to_pylist()
        assert len(dirty) == sum(r.entity == entity for r in year.expected_rejects), entity
        uses = pc.sum(pc.is_in(ids, value_set=pa.array(dirty, pa.string()))).as_py()
        assert uses == len(set(dirty)) == len(dirty), entity  # each dirty id used once


def test_exact_redeliveries_repeat_rows_exactly(
    year: SampleSummary, tables: dict[str, pa.Table]
) -> None:
    for entity in ("reps", "web_visits", "calls", "emails", "meetings"):
        table = tables[entity].drop_columns(["file", "row"])
        distinct_ids = pc.count_distinct(table[ID_COLUMN[entity]]).as_py()
        distinct_rows = table.group_by(list(COLUMNS[entity])).aggregate([]).num_rows
        assert table.num_rows - distinct_ids == year.exact_redeliveries[entity], entity
        assert distinct_rows == distinct_ids, entity  # repeated ids repeat every value
    assert year.exact_redeliveries == {
        "reps": 0, "web_visits": 0, "calls": 3, "emails": 0, "meetings": 2, "opportunities": 0,
    }  # fmt: skip


def test_clean_run_has_no_dirt(tmp_path: Path) -> None:
    summary = generate_sample_org(tmp_path, days=45, dirty=False)
    assert summary.expected_rejects == []
    assert set(summary.exact_redeliveries.values()) == {0}
    for entity in ENTITIES:
        table = load(tmp_path, entity)
        assert not table_problems(entity, table), entity
        assert pc.count_distinct(table[ID_COLUMN[entity]]).as_py() == table.num_rows or (
            entity == "opportunities"
        )
    assert not list(tmp_path.rglob("*redelivery*"))
    assert "calls/calls_2025-02-01_2025-02-14.csv" in summary.files


# --- believable data ----------------------------------------------------------------------------


def _working_days(hired: str, left: str, year: int = 2025) -> int:
    first = dt.date(year, 1, 1)
    days = (first + dt.timedelta(days=i) for i in range(365))
    hired_on = dt.date.fromisoformat(hired)
    left_on = dt.date.fromisoformat(left) if left else dt.date.max
    return sum(1 for d in days if hired_on <= d < left_on and is_working_day(d))


def test_call_rates_are_plausible(year: SampleSummary, good: dict[str, pa.Table]) -> None:
    reps = {r["rep_id"]: r for r in records(good["reps"])}
    calls = counts(good["calls"]["rep_id"])
    per_day = {r: calls[r] / _working_days(v["hired_on"], v["left_on"]) for r, v in reps.items()}
    assert 50 <= sum(per_day.values()) / len(per_day) <= 90
    top = [per_day[r] for r in year.top_performers]
    others = [v for r, v in per_day.items() if r not in year.top_performers]
    assert min(top) > max(others) - 5
    assert sum(top) / len(top) > sum(others) / len(others) + 8

    connected_calls = good["calls"].filter(pc.equal(good["calls"]["outcome"], "connected"))
    connected = counts(connected_calls["rep_id"])
    rate = {r: connected[r] / calls[r] for r in reps}
    assert min(rate[r] for r in year.top_performers) > sum(rate.values()) / len(rate)
    assert set(counts(good["calls"]["outcome"])) == ALLOWED["outcome"]
    silent = pc.is_in(good["calls"]["outcome"], value_set=pa.array(["no_answer", "failed"]))
    assert set(good["calls"].filter(silent)["duration_seconds"].to_pylist()) == {"0"}


def test_activity_only_on_oslo_working_days(good: dict[str, pa.Table]) -> None:
    for entity, column in (("calls", "started_at"), ("emails", "sent_at")):
        stamps = set(good[entity][column].to_pylist())
        days = {oslo_day(s) for s in stamps}
        assert all(is_working_day(d) for d in days), entity
        assert len(days) == 252  # every working day of 2025
        assert {s[19:] for s in stamps} == {"Z", "+01:00", "+02:00"}
    sent = good["emails"]["sent_at"].to_pylist()
    assert any(parse_timestamp(s).date() != oslo_day(s) for s in sent), "UTC date != Oslo date"


def test_funnel_shapes(good: dict[str, pa.Table]) -> None:
    visits = good["web_visits"]
    assert 350_000 <= visits.num_rows <= 650_000
    assert set(counts(visits["channel"])) == ALLOWED["channel"]
    assert 0 < counts(visits["campaign"])[""] < visits.num_rows
    meetings = records(good["meetings"])
    sources = Counter(m["source"] for m in meetings)
    assert sources["outbound"] > sources["inbound"] > sources["referral"] > 0
    statuses = Counter(m["status"] for m in meetings)
    assert statuses["held"] > 0.7 * len(meetings)
    assert statuses["no_show"] and statuses["cancelled"] and statuses["scheduled"]
    end = dt.datetime(2026, 1, 1, tzinfo=OSLO)
    for m in meetings:
        booked, scheduled = parse_timestamp(m["booked_at"]), parse_timestamp(m["scheduled_at"])
        assert booked < scheduled
        assert (m["status"] == "scheduled") == (scheduled >= end)
        assert bool(m["visitor_id"]) == (m["source"] == "inbound")


def test_inbound_meetings_follow_a_visit(good: dict[str, pa.Table]) -> None:
    inbound = [m for m in records(good["meetings"]) if m["source"] == "inbound"]
    assert inbound
    visitors = pa.array(sorted({m["visitor_id"] for m in inbound}))
    visits = good["web_visits"].filter(
        pc.is_in(good["web_visits"]["visitor_id"], value_set=visitors)
    )
    first = visits.group_by("visitor_id").aggregate([("visited_at", "min")]).to_pydict()
    first_visit = dict(zip(first["visitor_id"], first["visited_at_min"], strict=True))
    for m in inbound:
        assert parse_timestamp(first_visit[m["visitor_id"]]) < parse_timestamp(m["booked_at"])


def test_opportunity_snapshots(year: SampleSummary, good: dict[str, pa.Table]) -> None:
    history: dict[str, list[Row]] = defaultdict(list)
    for row in records(good["opportunities"]):  # files are in snapshot-date order
        history[str(row["opportunity_id"])].append(row)
    final = {k: v[-1] for k, v in history.items()}
    assert 200 <= len(final) <= 1500
    statuses = Counter(r["status"] for r in final.values())
    won, lost = statuses["won"], statuses["lost"]
    assert statuses["open"] > 0 and 0.1 <= won / (won + lost) <= 0.6
    assert any(v[0]["status"] == "open" and v[-1]["status"] == "won" for v in history.values())
    for versions in history.values():
        for earlier, later in itertools.pairwise(versions):
            if earlier["status"] == "open":
                assert parse_timestamp(later["updated_at"]) > parse_timestamp(earlier["updated_at"])
            else:
                assert later == earlier  # closed deals do not change
    meetings = {m["meeting_id"]: m for m in records(good["meetings"])}
    for row in final.values():
        assert row["currency"] == "NOK"
        assert meetings[row["meeting_id"]]["source"] == row["source"]
        assert meetings[row["meeting_id"]]["status"] == "held"
        assert 20_000 <= float(row["amount"]) <= 1_500_000
        if row["closed_at"]:
            cycle = parse_timestamp(row["closed_at"]) - parse_timestamp(row["created_at"])
            assert dt.timedelta(days=2) <= cycle <= dt.timedelta(days=126)
    top = set(year.top_performers)
    wins = Counter(r["rep_id"] for r in final.values() if r["status"] == "won")
    top_wins = sum(wins[r] for r in top) / len(top)
    other_wins = sum(n for r, n in wins.items() if r not in top) / (year.n_reps - len(top))
    assert top_wins > 1.5 * other_wins
