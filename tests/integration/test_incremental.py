"""Incremental runs: a year of history, then one new day of files (and a late call for an earlier
Tuesday) picked up by the landing sensor. The run must recompute exactly the periods holding those
days — nothing else — and publish the same numbers as a full rebuild of the same landing folder.

The expected periods are worked out here from the calendar, independently of the dbt models.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest

from pipelines.assets.automation import LANDING_SENSOR, REFRESH_JOB
from pipelines.compiler.incremental import TRACKED
from pipelines.definitions import build_definitions
from pipelines.privacy import mark_sample_landing
from pipelines.runner import dagster_instance, run_pipeline
from pipelines.sample_data import generate_sample_org
from pipelines.settings import Settings
from pipelines.spec.catalog import CATALOG

pytestmark = [pytest.mark.slow]

HISTORY_START = dt.date(2024, 9, 4)
HISTORY_DAYS = 364  # through Tuesday 2025-09-02
NEW_DAY = dt.date(2025, 9, 3)  # a Wednesday: its week, month, quarter and year already have data
LATE_DAY = dt.date(2025, 8, 12)  # a Tuesday three weeks earlier: one call delivered late
ORG = {"seed": 5, "scale": 0.03}
PERIOD_FUNNELS = ("funnel_universal", "funnel_inbound", "funnel_outbound")


def periods_of(day: dt.date) -> set[tuple[str, dt.date]]:
    return {
        ("day", day),
        ("week", day - dt.timedelta(days=day.weekday())),
        ("month", day.replace(day=1)),
        ("quarter", dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)),
        ("year", dt.date(day.year, 1, 1)),
    }


def write_late_call(landing: Path) -> None:
    """One outbound connected call on LATE_DAY, by a rep who exists, in a file of its own."""
    calls = sorted((landing / "calls").glob("calls_2025-08*.csv"))
    header, first = calls[0].read_text(encoding="utf-8").splitlines()[:2]
    rep = first.split(",")[1]
    (landing / "calls" / "calls_late_delivery.csv").write_text(
        f"{header}\nC-LATE-000001,{rep},{LATE_DAY}T10:15:00+02:00,312,outbound,connected,"
        "CT-000001,AC-00001\n",
        encoding="utf-8",
    )


def sensor_tick(settings: Settings, cursor: str | None):
    """One evaluation of the landing sensor (files count at once: no settle time)."""
    os.environ["KPI_SENSOR_SETTLE_SECONDS"] = "0"
    try:
        defs = build_definitions(settings)
    finally:
        del os.environ["KPI_SENSOR_SETTLE_SECONDS"]
    sensor = defs.resolve_sensor_def(LANDING_SENSOR)
    with dagster_instance(settings) as instance:
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, definitions=defs, resources=defs.resources
        )
        return sensor.evaluate_tick(context)


def published(path: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
                "AND table_name <> 'published_runs'"
            ).fetchall()
        ]
        return {t: sorted(con.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}


def same_row(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(
        math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)
        if isinstance(x, float) and isinstance(y, float)
        else x == y
        for x, y in zip(a, b, strict=True)
    )


@pytest.fixture(scope="module")
def incremental(tmp_path_factory):
    root = tmp_path_factory.mktemp("incremental")
    landing = root / "landing"
    generate_sample_org(landing, start=HISTORY_START, days=HISTORY_DAYS, **ORG)
    mark_sample_landing(landing)
    settings = Settings(landing=landing, warehouse=root / "warehouse")
    first_tick = sensor_tick(settings, None)
    assert len(first_tick.run_requests) == 1
    run_pipeline(settings)  # the year of history

    before = {p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.is_file()}
    generate_sample_org(landing, start=NEW_DAY, days=1, include_reps=False, **ORG)
    write_late_call(landing)
    after = {p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.is_file()}
    tick = sensor_tick(settings, first_tick.cursor)
    (request,) = tick.run_requests
    run_pipeline(settings, job_name=REFRESH_JOB, tags=request.tags)

    rebuild = Settings(landing=landing, warehouse=root / "rebuild")
    run_pipeline(rebuild)
    return settings, rebuild, request, sorted(after - before)


def test_the_sensor_asks_for_a_run_for_the_new_files(incremental):
    _, _, request, _ = incremental
    assert request.tags["kpi/trigger"] == "landing_sensor"
    assert int(request.tags["kpi/files_added"]) >= 4  # calls, emails, visits, meetings, late call
    assert "calls" in request.tags["kpi/changed_entities"].split(",")


def computed_by(con: duckdb.DuckDBPyConnection, table: str, build: str) -> set[tuple]:
    """(grain, period_start) of the rows of `kpis.<table>` that dbt invocation `build` computed."""
    rows = con.execute(
        f"SELECT DISTINCT grain, period_start FROM kpis.{table} WHERE computed_in = ?", [build]
    ).fetchall()
    return set(rows)


def days_delivered_in(con: duckdb.DuckDBPyConnection, files: list[str]) -> set[dt.date]:
    """Oslo dates of every timestamp of the rows the new files delivered (converted in Python)."""
    oslo = ZoneInfo("Europe/Oslo")
    days = set()
    for entity in TRACKED:
        for column in CATALOG[entity].timestamp_columns():
            values = con.execute(
                f'SELECT "{column}" FROM raw.{entity} WHERE "{column}" IS NOT NULL '
                "AND _source_file IN (SELECT unnest(?))",
                [files],
            ).fetchall()
            days |= {value.astimezone(oslo).date() for (value,) in values}
    return days


def test_only_the_periods_holding_the_changed_days_are_recomputed(incremental):
    settings, _, _, new_files = incremental
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        delivered = days_delivered_in(con, new_files)
        assert {NEW_DAY, LATE_DAY} <= delivered
        assert min(delivered) == LATE_DAY  # nothing else reached back into the history
        expected = set().union(*(periods_of(day) for day in delivered))
        (last_build,) = con.execute(
            "SELECT DISTINCT computed_in FROM kpis.kpi_build_state"
        ).fetchall()
        changed_days = {
            r[0] for r in con.execute("SELECT day FROM kpis.kpi_changed_days").fetchall()
        }
        assert changed_days == delivered
        for table in PERIOD_FUNNELS:
            rows = con.execute(
                f"SELECT grain, period_start, computed_in = ? FROM kpis.{table}", [last_build[0]]
            ).fetchall()
            recomputed = {(g, p) for g, p, now in rows if now}
            kept = {(g, p) for g, p, now in rows if not now}
            assert recomputed <= expected, (table, recomputed - expected)
            assert not (kept & expected), (table, kept & expected)  # no stale row survives
            assert len(kept) > 100  # the rest of the year was left alone
        outbound = computed_by(con, "funnel_outbound", last_build[0])
        # calls on both days: every one of their periods was recomputed
        assert periods_of(NEW_DAY) | periods_of(LATE_DAY) <= outbound


def assert_published_equal(settings: Settings, rebuild: Settings) -> None:
    got, want = published(settings.published_db), published(rebuild.published_db)
    assert sorted(got) == sorted(want)
    for table in want:
        assert len(got[table]) == len(want[table]), table
        mismatched = [
            (a, b) for a, b in zip(got[table], want[table], strict=True) if not same_row(a, b)
        ]
        assert not mismatched, (table, mismatched[:3])


def test_the_incremental_result_equals_a_full_rebuild(incremental):
    settings, rebuild, *_ = incremental
    assert_published_equal(settings, rebuild)


def test_the_late_call_is_counted(incremental):
    settings, *_ = incremental
    with duckdb.connect(str(settings.published_db), read_only=True) as con:
        day_value = con.execute(
            "SELECT value FROM funnel_factors WHERE funnel = 'outbound' AND grain = 'day' "
            "AND period_start = ? AND dimension = 'all' AND factor = 'activities'",
            [LATE_DAY],
        ).fetchall()
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        calls = con.execute(
            "SELECT count(*) FROM marts.calls WHERE direction = 'outbound' AND "
            "cast(timezone('Europe/Oslo', started_at) as date) = ?",
            [LATE_DAY],
        ).fetchall()[0][0]
        assert (
            con.execute(
                "SELECT count(*) FROM raw.calls WHERE call_id = 'C-LATE-000001'"
            ).fetchall()[0][0]
            == 1
        )
    assert day_value and day_value[0][0] >= calls  # activities = calls + emails


def test_a_backfill_recomputes_the_requested_days_in_one_build(incremental):
    settings, rebuild, *_ = incremental
    first, last = dt.date(2025, 2, 3), dt.date(2025, 2, 4)  # two days of one week in February
    run_pipeline(settings, recompute=(first.isoformat(), last.isoformat()))
    expected = periods_of(first) | periods_of(last)
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        (build,) = con.execute("SELECT DISTINCT computed_in FROM kpis.kpi_build_state").fetchall()
        assert {r[0] for r in con.execute("SELECT day FROM kpis.kpi_changed_days").fetchall()} == {
            first,
            last,
        }
        assert computed_by(con, "funnel_outbound", build[0]) == expected
        requests = con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'kpis' AND table_name = 'kpi_recompute_requests'"
        ).fetchall()[0][0]
        assert requests == 0  # served, then forgotten
    assert_published_equal(settings, rebuild)  # a backfill changes no number
