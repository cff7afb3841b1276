"""The KPI language end to end, on a hand-made org whose numbers are computed here a second way.

Edges pinned: a target change on 1 July (70 → 75 calls a day) and a team-scoped target; working-day
normalisation across Ascension Day 2025 (Thursday 29 May); the top-20 % split with a tie at the
boundary; per-rep averages for teams; the points leaderboard.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipelines.runner import run_pipeline
from pipelines.settings import Settings

pytestmark = [pytest.mark.slow]

# Norway's 2025 public holidays, written out here independently of kpi_definitions/calendar.yml.
HOLIDAYS_2025 = [
    "2025-01-01", "2025-04-17", "2025-04-18", "2025-04-20", "2025-04-21", "2025-05-01",
    "2025-05-17", "2025-05-29", "2025-06-08", "2025-06-09", "2025-12-25", "2025-12-26",
]  # fmt: skip
REPS = {
    "R1": "Oslo Enterprise",
    "R2": "Oslo Enterprise",
    "R3": "Trondheim SMB",
    "R4": "Trondheim SMB",
    "R5": "Trondheim SMB",
}
# (rep, local date, number of outbound calls, of which connected)
CALL_DAYS = [
    *[("R1", f"2025-05-{d}", 10, 3) for d in (26, 27, 28, 30)],  # Ascension week: 4 working days
    ("R1", "2025-06-02", 50, 5),
    ("R2", "2025-06-30", 70, 10),
    ("R2", "2025-07-01", 80, 8),
    ("R2", "2025-07-02", 90, 9),  # the latest event: as-of date for the calls KPIs
    ("R3", "2025-05-26", 60, 6),
    ("R4", "2025-05-27", 40, 4),
    ("R5", "2025-05-28", 20, 2),
]
# Won amounts in 2025: R1 and R2 tie at the top; R4 lost; R5 wins the cohort deal below.
OPPORTUNITIES = [
    ("O1", "R1", "won", 100_000, "2025-05-20T12:00:00Z", "outbound", ""),
    ("O2", "R2", "won", 100_000, "2025-06-20T12:00:00Z", "outbound", ""),
    ("O3", "R3", "won", 50_000, "2025-06-10T12:00:00Z", "outbound", ""),
    ("O4", "R4", "lost", 0, "2025-06-11T12:00:00Z", "outbound", ""),
    # won exactly 180 days after M1 was booked: inside the cohort window (inclusive)
    ("O5", "R5", "won", 77_000, "2025-11-27T10:00:00Z", "inbound", "M1"),
]
# Cohort edges: (visitor, visit time, channel)
VISITS = [
    ("U1", "2025-05-01T10:00:00Z", "paid"),
    ("U2", "2025-05-01T10:00:00Z", "paid"),
    ("U3", "2025-05-01T10:00:00Z", "organic"),
    ("U3", "2025-06-05T10:00:00Z", "organic"),
]
# (meeting, visitor, booked_at): M1 exactly 30 days after U1's visit (in), M2 one second late
# (out), M3 credited to U3's closest preceding visit, 5 June (June's cohort, not May's).
MEETINGS = [
    ("M1", "U1", "2025-05-31T10:00:00Z"),
    ("M2", "U2", "2025-05-31T10:00:01Z"),
    ("M3", "U3", "2025-06-10T10:00:00Z"),
]


def call_contact(rep: str, i: int, connected: int, n: int) -> str:
    """Connected calls reach one of four contacts per rep again and again (so distinct contacts
    differ from calls, across days and periods); R5's first connected call has no contact."""
    if i >= connected:
        return f"CT{n}"
    if rep == "R5" and i == 0:
        return ""
    return f"CT-{rep}-{i % 4}"


def write_landing(root: Path) -> None:
    (root / "reps").mkdir(parents=True)
    lines = ["rep_id,rep_name,team,region,hired_on"]
    lines += [f"{r},Rep {r},{team},Øst,2024-01-01" for r, team in REPS.items()]
    (root / "reps" / "reps.csv").write_text("\n".join(lines) + "\n")
    calls = ["call_id,rep_id,started_at,duration_seconds,direction,outcome,contact_id"]
    n = 0
    for rep, day, count, connected in CALL_DAYS:
        for i in range(count):
            n += 1
            outcome = "connected" if i < connected else "no_answer"
            # 10:00 local summer time (UTC+2)
            calls.append(
                f"C{n},{rep},{day}T10:00:00+02:00,{120 if i < connected else 0},outbound,{outcome},"
                f"{call_contact(rep, i, connected, n)}"
            )
    (root / "calls").mkdir()
    (root / "calls" / "calls.csv").write_text("\n".join(calls) + "\n")
    opps = [
        "opportunity_id,rep_id,source,created_at,closed_at,status,amount,currency,updated_at,"
        "meeting_id"
    ]
    for oid, rep, status, amount, closed, source, meeting in OPPORTUNITIES:
        opps.append(
            f"{oid},{rep},{source},2025-04-01T09:00:00Z,{closed},{status},{amount},NOK,"
            f"{closed},{meeting}"
        )
    visits = ["visit_id,visitor_id,visited_at,channel,landing_page"]
    visits += [f"V{i},{u},{t},{c},/demo" for i, (u, t, c) in enumerate(VISITS)]
    (root / "web_visits").mkdir()
    (root / "web_visits" / "visits.csv").write_text("\n".join(visits) + "\n")
    meetings = ["meeting_id,rep_id,booked_at,scheduled_at,status,source,visitor_id"]
    meetings += [f"{m},R5,{t},{t},held,inbound,{u}" for m, u, t in MEETINGS]
    (root / "meetings").mkdir()
    (root / "meetings" / "meetings.csv").write_text("\n".join(meetings) + "\n")
    (root / "opportunities").mkdir()
    (root / "opportunities" / "opportunities.csv").write_text("\n".join(opps) + "\n")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Settings:
    root = tmp_path_factory.mktemp("kpi_language")
    write_landing(root / "landing")
    settings = Settings(landing=root / "landing", warehouse=root / "warehouse")
    run_pipeline(settings)
    return settings


def query(settings: Settings, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.published_db), read_only=True) as con:
        return con.execute(sql).df()


def kpi_row(settings, kpi, grain, period, dimension, member) -> pd.Series:
    rows = query(
        settings,
        f"SELECT * FROM activity_kpis WHERE kpi = '{kpi}' AND grain = '{grain}' "
        f"AND period_start = DATE '{period}' AND dimension = '{dimension}' AND member = '{member}'",
    )
    assert len(rows) == 1, (kpi, grain, period, dimension, member)
    return rows.iloc[0]


def period_starts(days: pd.Series) -> dict[str, pd.Series]:
    """Each day's period start at every grain (ISO weeks from Monday), computed with pandas."""
    return {
        "day": days,
        "week": days - pd.to_timedelta(days.dt.weekday, unit="D"),
        "month": days.dt.to_period("M").dt.start_time,
        "quarter": days.dt.to_period("Q").dt.start_time,
        "year": days.dt.to_period("Y").dt.start_time,
    }


def busdays(start: str, end_inclusive: str) -> int:
    end = np.datetime64(end_inclusive) + np.timedelta64(1, "D")
    return int(np.busday_count(start, end, holidays=HOLIDAYS_2025))


def test_working_day_normalisation_across_a_public_holiday(warehouse):
    row = kpi_row(warehouse, "outbound_calls_per_working_day", "week", "2025-05-26", "rep", "R1")
    assert busdays("2025-05-26", "2025-05-30") == 4  # Ascension Day is not a working day
    assert row.working_days == 4
    assert row.total == 40
    assert row.value == pytest.approx(40 / 4)


def test_target_across_an_effective_date_change(warehouse):
    june = kpi_row(warehouse, "outbound_calls_per_working_day", "month", "2025-06-01", "rep", "R2")
    july = kpi_row(warehouse, "outbound_calls_per_working_day", "month", "2025-07-01", "rep", "R2")
    assert (june.target, july.target) == (70, 75)
    # July to date: the as-of date is 2 July, so 2 working days have elapsed.
    assert july.working_days_elapsed == 2
    assert july.value == pytest.approx((80 + 90) / 2)
    assert july.attainment == pytest.approx(july.value / 75)
    assert bool(july.on_pace) is True
    # The year's target weighs each target by the working days it was in force.
    year = kpi_row(warehouse, "outbound_calls_per_working_day", "year", "2025-01-01", "rep", "R2")
    before, after = busdays("2025-01-01", "2025-06-30"), busdays("2025-07-01", "2025-07-02")
    assert year.working_days_elapsed == before + after
    assert year.target == pytest.approx((70 * before + 75 * after) / (before + after))
    assert year.value == pytest.approx((70 + 80 + 90) / (before + after))
    assert bool(year.on_pace) is False


def test_team_target_beats_the_later_global_one(warehouse):
    row = kpi_row(warehouse, "outbound_calls_per_working_day", "month", "2025-05-01", "rep", "R3")
    assert row.target == 60
    team = kpi_row(
        warehouse, "outbound_calls_per_working_day", "month", "2025-05-01", "team", "Trondheim SMB"
    )
    assert team.target == 60
    # A team's value is per rep with calls: (60 + 40 + 20) calls / 3 reps / working days to date.
    may_days = busdays("2025-05-01", "2025-05-31")
    assert team.reps == 3
    assert team.value == pytest.approx((60 + 40 + 20) / 3 / may_days)


def test_ratio_kpi_and_total_target(warehouse):
    row = kpi_row(warehouse, "connected_call_rate", "month", "2025-05-01", "rep", "R1")
    assert row.value == pytest.approx(12 / 40)
    assert row.target == pytest.approx(0.12)


def test_top_share_split_with_a_tie(warehouse):
    gap = query(
        warehouse,
        "SELECT * FROM top_performer_gap WHERE grain = 'year' AND metric = 'outbound_calls'",
    ).iloc[0]
    # Five reps; top 20 % is one rep, but R1 and R2 tie at 100 000 NOK: both are top.
    calls = {r: sum(c for rep, _, c, _ in CALL_DAYS if rep == r) for r in REPS}
    assert (gap.top_reps, gap.rest_reps) == (2, 3)
    top = (calls["R1"] + calls["R2"]) / 2
    rest = (calls["R3"] + calls["R4"] + calls["R5"]) / 3
    assert gap.top_average == pytest.approx(top)
    assert gap.rest_average == pytest.approx(rest)
    assert gap.ratio == pytest.approx(top / rest)
    hit = query(
        warehouse,
        "SELECT * FROM top_performer_gap WHERE grain = 'year' AND metric = 'universal.hit_rate'",
    ).iloc[0]
    # R1, R2 won 1 of 1; R3 won 1 of 1, R4 0 of 1, R5 1 of 1.
    assert hit.top_average == 1.0
    assert hit.rest_average == pytest.approx(2 / 3)


def test_points_leaderboard(warehouse):
    board = query(
        warehouse,
        "SELECT rep_id, points, leaderboard_rank FROM activity_points "
        "WHERE grain = 'year' ORDER BY leaderboard_rank, rep_id",
    )
    # 1 point per outbound call, 2 more per connected call.
    expected = {r: 0.0 for r in REPS}
    for rep, _, count, connected in CALL_DAYS:
        expected[rep] += count * 1 + connected * 2
    expected["R5"] += 20 * len(MEETINGS)  # held meetings with new prospects
    got = dict(zip(board.rep_id, board.points, strict=True))
    assert got == pytest.approx(expected)
    assert board.rep_id.iloc[0] == max(expected, key=expected.get)
    assert list(board.leaderboard_rank) == sorted(board.leaderboard_rank)


def test_every_calls_count_row_matches_a_second_computation(warehouse):
    ours = query(
        warehouse,
        "SELECT grain, period_start, member, total FROM activity_kpis "
        "WHERE kpi = 'outbound_calls' AND dimension = 'rep'",
    )
    events = pd.DataFrame(
        [(rep, pd.Timestamp(day)) for rep, day, count, _ in CALL_DAYS for _ in range(count)],
        columns=["member", "day"],
    )
    expected = []
    periods = period_starts(events.day)
    for grain, start in periods.items():
        counts = (
            events.assign(period_start=start.dt.date).groupby(["period_start", "member"]).size()
        )
        expected += [(grain, p, m, float(n)) for (p, m), n in counts.items()]
    got = sorted(
        (g, p.date() if hasattr(p, "date") else p, m, t)
        for g, p, m, t in ours.itertuples(index=False)
    )
    assert got == sorted(expected)


def test_every_distinct_contacts_row_matches_a_second_computation(warehouse):
    """`contacts_reached` (count_distinct of contact_id over connected calls): per period and
    member, the distinct contacts (no contact counts none) divided by the reps with such calls."""
    ours = query(
        warehouse,
        "SELECT grain, period_start, dimension, member, total, reps, value FROM activity_kpis "
        "WHERE kpi = 'contacts_reached'",
    )
    calls = pd.DataFrame(
        [
            (rep, REPS[rep], pd.Timestamp(day), call_contact(rep, i, connected, 0) or None)
            for rep, day, _, connected in CALL_DAYS
            for i in range(connected)
        ],
        columns=["rep", "team", "day", "contact"],
    )
    calls["all"] = "all"
    periods = period_starts(calls.day)
    expected = []
    for grain, start in periods.items():
        for dimension in ("all", "team", "rep"):
            groups = calls.assign(period_start=start.dt.date).groupby(["period_start", dimension])
            for (period, member), rows in groups:
                contacts, reps = rows.contact.nunique(), rows.rep.nunique()
                expected.append((grain, period, dimension, member, contacts, reps, contacts / reps))
    got = sorted(
        (g, p.date() if hasattr(p, "date") else p, d, m, t, r, v)
        for g, p, d, m, t, r, v in ours.itertuples(index=False)
    )
    assert [row[:6] for row in got] == [row[:6] for row in sorted(expected)]
    assert [row[6] for row in got] == pytest.approx([row[6] for row in sorted(expected)])
    # The distinct count is not the number of calls: R2 reached 4 contacts in 27 connected calls.
    assert ("year", pd.Timestamp("2025-01-01").date(), "rep", "R2", 4, 1) in [r[:6] for r in got]


def test_cohort_window_edges(warehouse):
    rows = query(
        warehouse,
        "SELECT period_start, visitors, meetings_within_30_days, won_within_180_days, total_sales "
        "FROM funnel_inbound_cohort WHERE grain = 'month' AND dimension = 'all' "
        "ORDER BY period_start",
    )
    got = {str(r.period_start)[:10]: tuple(r)[1:] for r in rows.itertuples(index=False)}
    # Recompute the cohort here: credit each meeting to the closest visit of its visitor no more
    # than 30 days before it, and the won deal to its meeting if within 180 days.
    visits = pd.DataFrame(VISITS, columns=["visitor", "at", "channel"])
    visits["at"] = pd.to_datetime(visits["at"])
    expected: dict[str, list] = {}
    for month, group in visits.groupby(visits["at"].dt.strftime("%Y-%m-01")):
        expected[month] = [group.visitor.nunique(), 0, 0, 0.0]
    credit = {}
    for meeting, visitor, booked in MEETINGS:
        booked = pd.Timestamp(booked)
        before = visits[(visits.visitor == visitor) & (visits["at"] <= booked)
                        & (booked - visits["at"] <= pd.Timedelta(days=30))]  # fmt: skip
        if len(before):
            month = before["at"].max().strftime("%Y-%m-01")
            expected[month][1] += 1
            credit[meeting] = (month, booked)
    for _, _, status, amount, closed, _, meeting in OPPORTUNITIES:
        if status == "won" and meeting in credit:
            month, booked = credit[meeting]
            if pd.Timestamp(closed) - booked <= pd.Timedelta(days=180):
                expected[month][2] += 1
                expected[month][3] += amount
    assert expected == {"2025-05-01": [3, 1, 1, 77000.0], "2025-06-01": [1, 1, 0, 0.0]}
    assert {k: list(v) for k, v in got.items()} == expected
