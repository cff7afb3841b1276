"""Incremental KPI models: generated config, the code hash that forces a full refresh, backfill
requests, and what a build reports as recomputed — against real DuckDB files."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines import build_state
from pipelines.compiler.funnels import render_funnel_model
from pipelines.compiler.incremental import CHANGED_PERIODS_MODEL, render_changed_periods
from pipelines.spec.loader import load_definitions

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def defs():
    return load_definitions(ROOT / "kpi_definitions")


def test_period_funnels_are_incremental_and_cohort_funnels_are_tables(defs):
    for name, funnel in defs.funnels.items():
        sql = render_funnel_model(defs, name)
        if funnel.kind == "cohort":
            assert "materialized='table'" in sql and "is_incremental" not in sql
        else:
            assert "materialized='incremental'" in sql
            assert f"ref('{CHANGED_PERIODS_MODEL}')" in sql
            assert "computed_in" in sql


def test_changed_periods_cover_every_grain_in_use(defs):
    sql = render_changed_periods(defs)
    for grain in defs.settings.grains:
        assert f"'{grain}' as grain" in sql


@pytest.fixture
def project(tmp_path):
    target = tmp_path / "kpi_models"
    shutil.copytree(
        ROOT / "kpi_models", target, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb")
    )
    return target


def test_code_version_moves_with_models_and_macros_only(project):
    first = build_state.code_version(project)
    assert build_state.code_version(project) == first
    (project / "README.md").write_text("docs do not change numbers\n")
    assert build_state.code_version(project) == first
    macro = project / "macros" / "time_zones.sql"
    macro.write_text(macro.read_text() + "\n{# edited #}\n")
    assert build_state.code_version(project) != first


def test_code_version_moves_with_the_pseudonym_key(project):
    """The web-visit models are incremental: a new key must rebuild them whole, not mix pseudonyms."""
    first = build_state.code_version(project, pseudonym_key="k" * 32)
    assert build_state.code_version(project, pseudonym_key="k" * 32) == first
    assert build_state.code_version(project, pseudonym_key="j" * 32) != first


def test_a_new_database_or_changed_code_needs_a_full_refresh(project, tmp_path):
    with duckdb.connect(str(tmp_path / "build.duckdb")) as con:
        assert build_state.needs_full_refresh(con, build_state.code_version(project))
        build_state.record_success(con, build_state.code_version(project))
        assert not build_state.needs_full_refresh(con, build_state.code_version(project))
        model = project / "models" / "kpis" / "funnel_universal.sql"
        model.write_text(model.read_text().replace("'universal' as funnel", "'u' as funnel"))
        assert build_state.needs_full_refresh(con, build_state.code_version(project))


def test_recompute_requests_are_every_day_of_the_range_until_a_build_succeeds(project, tmp_path):
    with duckdb.connect(str(tmp_path / "build.duckdb")) as con:
        n = build_state.request_recompute(con, dt.date(2025, 2, 27), dt.date(2025, 3, 2))
        days = [
            r[0] for r in con.execute(f"SELECT day FROM {build_state.REQUESTS_TABLE}").fetchall()
        ]
        assert n == 4 and sorted(days) == [
            dt.date(2025, 2, 27),
            dt.date(2025, 2, 28),
            dt.date(2025, 3, 1),
            dt.date(2025, 3, 2),
        ]
        with pytest.raises(ValueError, match="ends"):
            build_state.request_recompute(con, dt.date(2025, 3, 2), dt.date(2025, 3, 1))
        build_state.record_success(con, build_state.code_version(project))
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'kpis'"
        ).fetchall()
        assert ("kpi_recompute_requests",) not in tables


def test_recomputed_periods_summarise_the_changed_days(tmp_path):
    with duckdb.connect(str(tmp_path / "build.duckdb")) as con:
        assert build_state.recomputed_periods(con) == {}
        con.execute("CREATE SCHEMA kpis")
        con.execute("CREATE TABLE kpis.kpi_changed_days AS SELECT DATE '2025-08-12' AS day")
        con.execute(
            "CREATE TABLE kpis.kpi_changed_periods AS SELECT * FROM (VALUES "
            "('day', DATE '2025-08-12'), ('week', DATE '2025-08-11'), ('year', DATE '2025-01-01')) "
            "AS t(grain, period_start)"
        )
        assert build_state.recomputed_periods(con) == {
            "days_changed": 1,
            "first_day_changed": "2025-08-12",
            "last_day_changed": "2025-08-12",
            "periods_recomputed": "day: 1, week: 1, year: 1",
        }


@pytest.mark.parametrize(
    "value, message",
    [("2025-13-01", "expected FIRST:LAST or DAY"), ("2025-03-02:2025-03-01", "ends before")],
)
def test_kpi_run_refuses_a_bad_recompute_range(tmp_path, value, message):
    from typer.testing import CliRunner

    from pipelines.cli import app

    (tmp_path / "landing").mkdir()
    result = CliRunner().invoke(
        app,
        ["run", "--landing", str(tmp_path / "landing"), "--warehouse", str(tmp_path / "w"),
         "--recompute", value],
        env={"KPI_PSEUDONYM_KEY": "a test key that is long enough"},
    )  # fmt: skip
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "w").exists()  # refused before anything was written
