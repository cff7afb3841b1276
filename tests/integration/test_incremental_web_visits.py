"""The web-visit models (staging, touches, mart) are built incrementally: a run hashes and joins
only the visits that changed. Corrections, a shortened file and a visit earlier than its visitor's
first touch must leave them, and every published table, exactly as a build from scratch of the
same landing folder does."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from pipelines.privacy import mark_sample_landing
from pipelines.runner import run_pipeline
from pipelines.sample_data import generate_sample_org
from pipelines.settings import Settings
from tests.integration.test_incremental import assert_published_equal

pytestmark = [pytest.mark.slow]

WEB_MODELS = {
    "staging.stg_web__visits": "visit_id",
    "intermediate.int_visitors_touches_aggregated": "visitor_key",
    "marts.web_visits": "visit_id",
}


def rows_of(path, table, key):
    with duckdb.connect(str(path), read_only=True) as con:
        columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
        select = "* EXCLUDE (_loaded_at)" if "_loaded_at" in columns else "*"
        return con.execute(f"SELECT {select} FROM {table} ORDER BY {key}").fetchall()


@pytest.fixture(scope="module")
def changed_visits(tmp_path_factory):
    root = tmp_path_factory.mktemp("web_visits")
    landing = root / "landing"
    generate_sample_org(landing, start=dt.date(2025, 3, 1), days=45, seed=11, scale=0.02)
    mark_sample_landing(landing)
    folder = landing / "web_visits"
    march, april = sorted(folder.glob("*.parquet"))  # March, and the first half of April
    fix = folder / "web_visits_zfix.parquet"
    with duckdb.connect() as con:  # a fix of March's third visit, delivered with the history
        con.execute(
            f"""COPY (SELECT * REPLACE (
                CASE WHEN channel = 'other' THEN 'paid' ELSE 'other' END AS channel) FROM read_parquet('{march}')
            ORDER BY visit_id LIMIT 1 OFFSET 2) TO '{fix}'"""
        )
        (restored,) = con.execute(
            f"SELECT visit_id, channel FROM read_parquet('{march}') ORDER BY visit_id "
            "LIMIT 1 OFFSET 2"
        ).fetchall()
    settings = Settings(landing=landing, warehouse=root / "warehouse")
    run_pipeline(settings)

    def april_visits() -> int:  # valid visits the loader kept from the April file
        with duckdb.connect(str(settings.build_db), read_only=True) as con:
            return con.execute(
                "SELECT count(*) FROM raw.web_visits WHERE _source_file = ?",
                [april.relative_to(landing).as_posix()],
            ).fetchone()[0]

    april_before = april_visits()
    fix.unlink()  # the fix withdrawn: March's own version of that visit is the winner again
    with duckdb.connect() as con:
        # Two visits of March corrected in a later file: one moves to another visitor and
        # channel, one to another landing page; a new visit two days before a March visitor's
        # first one (their first touch changes, so does every row of theirs in the mart).
        corrected = con.execute(
            f"SELECT * FROM read_parquet('{march}') ORDER BY visit_id LIMIT 2"
        ).fetchall()
        first = con.execute(
            f"""SELECT visitor_id, min(visited_at) FROM read_parquet('{march}')
            GROUP BY visitor_id HAVING count(*) >= 2 ORDER BY visitor_id LIMIT 1"""
        ).fetchone()
        con.execute(f"CREATE TABLE changes AS SELECT * FROM read_parquet('{march}') LIMIT 0")
        (a, b) = corrected
        con.execute(
            "INSERT INTO changes VALUES (?, 'VIS-MOVED-1', ?, 'referral', ?, ?, ?)",
            [a[0], a[2], a[4], a[5], a[6]],
        )
        con.execute(
            "INSERT INTO changes VALUES (?, ?, ?, ?, '/pricing-corrected', ?, ?)",
            [b[0], b[1], b[2], b[3], b[5], b[6]],
        )
        con.execute(
            "INSERT INTO changes VALUES ('WV-EARLY-000001', ?, ?, 'paid', '/early', NULL, NULL)",
            [first[0], first[1] - dt.timedelta(days=2)],
        )
        con.execute(f"COPY changes TO '{folder / 'web_visits_corrections.parquet'}'")
        # April shortened: its first ten visits are gone.
        con.execute(
            f"""COPY (SELECT * FROM read_parquet('{april}') ORDER BY visit_id OFFSET 10)
            TO '{root / "april.parquet"}'"""
        )
    (root / "april.parquet").replace(april)
    run_pipeline(settings)
    april_counts = (april_before, april_visits())

    rebuild = Settings(landing=landing, warehouse=root / "rebuild")
    run_pipeline(rebuild)
    return settings, rebuild, april_counts, a[0], restored


def test_the_changes_reached_the_web_visit_models(changed_visits):
    settings, _, (april_before, april_after), moved_visit, restored = changed_visits
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        channel = con.execute(
            "SELECT channel FROM marts.web_visits WHERE visit_id = ?", [moved_visit]
        ).fetchone()
        assert channel == ("referral",)
        restored_channel = con.execute(
            "SELECT channel FROM marts.web_visits WHERE visit_id = ?", [restored[0]]
        ).fetchone()
        assert restored_channel == (restored[1],)
        early = con.execute(
            "SELECT count(*), count(DISTINCT first_touch_channel), min(first_touch_channel) "
            "FROM marts.web_visits WHERE visitor_id = (SELECT visitor_id FROM marts.web_visits "
            "WHERE visit_id = 'WV-EARLY-000001')"
        ).fetchone()
        assert early[0] >= 3 and early[1:] == (1, "paid")
        changes = dict(
            con.execute(
                "SELECT change, count(*) FROM staging.base_web__visit_changes GROUP BY ALL"
            ).fetchall()
        )
    # the second run hashed only what changed: 2 corrections and 1 early visit added, the two
    # versions they corrected removed; the shortened April file was read again (a new load), so
    # its remaining visits are added in their new load and all its old ones removed; the
    # withdrawn fix removed, March's version of that visit added again
    assert april_after < april_before
    assert changes == {"added": 3 + april_after + 1, "removed": 2 + april_before + 1}, changes


@pytest.mark.parametrize("table", sorted(WEB_MODELS))
def test_each_web_visit_model_equals_a_build_from_scratch(changed_visits, table):
    settings, rebuild, *_ = changed_visits
    got = rows_of(settings.build_db, table, WEB_MODELS[table])
    want = rows_of(rebuild.build_db, table, WEB_MODELS[table])
    assert got == want


def test_the_published_tables_equal_a_build_from_scratch(changed_visits):
    settings, rebuild, *_ = changed_visits
    assert_published_equal(settings, rebuild)
