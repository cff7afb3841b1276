"""The validation ledger: the publish step re-validates exactly the tables whose content changed."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.validation import ledger


@pytest.fixture
def con(tmp_path):
    with duckdb.connect(str(tmp_path / "build.duckdb")) as con:
        con.execute("CREATE SCHEMA kpis")
        con.execute(
            "CREATE TABLE kpis.a AS SELECT range AS id, CAST(range AS DOUBLE) / 3 AS v FROM range(1000)"
        )
        con.execute("CREATE TABLE kpis.b AS SELECT 'x' AS k, CAST(1 AS DOUBLE) AS v")
        yield con


def test_fingerprints_follow_content(con):
    before = ledger.fingerprints(con, ["a", "b"])
    assert before["a"].startswith("1000:") and before["b"].startswith("1:")
    assert ledger.fingerprints(con, ["a", "b"]) == before  # deterministic
    con.execute("UPDATE kpis.a SET v = v + 1e-12 WHERE id = 500")  # one value, barely
    assert ledger.fingerprints(con, ["a"])["a"] != before["a"]
    con.execute("UPDATE kpis.a SET v = v - 1e-12 WHERE id = 500")
    assert ledger.fingerprints(con, ["a"])["a"] == before["a"]
    con.execute("ALTER TABLE kpis.b ALTER v TYPE VARCHAR")  # same text, other type
    assert ledger.fingerprints(con, ["b"])["b"] != before["b"]


def test_only_unchanged_passed_tables_are_trusted(con):
    assert ledger.already_validated(con, ["a", "b"]) == set()  # no ledger yet
    for table in ("a", "b"):
        ledger.record_passed(con, table, ledger.fingerprints(con, [table])[table])
    assert ledger.already_validated(con, ["a", "b"]) == {"a", "b"}
    con.execute("INSERT INTO kpis.a VALUES (1000, 1.0)")  # rebuilt or edited after its check
    assert ledger.already_validated(con, ["a", "b"]) == {"b"}
    ledger.forget(con, "b")  # its next check failed
    assert ledger.already_validated(con, ["a", "b"]) == set()
    con.execute("DROP TABLE kpis.a")  # a recorded table that is gone is simply not trusted
    assert ledger.already_validated(con, ["a", "b"]) == set()
