"""great-expectations suites of the landing entities (pipelines/validation/raw_sources.py), on small
hand-made landing files loaded by the real loader into a real DuckDB file."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.ingest.loader import load_entity
from pipelines.validation.raw_sources import data_docs_index, validate_raw_entity

pytestmark = [pytest.mark.slow]  # importing great-expectations alone takes 7+ seconds

CALLS = "call_id,rep_id,started_at,duration_seconds,direction,outcome,contact_id\n"
VISITS = "visit_id,visitor_id,visited_at,channel,landing_page\n"
OPPS = "opportunity_id,rep_id,source,created_at,closed_at,status,amount,currency,updated_at\n"
T = "2025-03-05T10:00:00Z"


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def warehouse(tmp_path):
    landing = tmp_path / "landing"
    write(
        landing / "reps" / "reps.csv", "rep_id,rep_name,team,region,hired_on\nR1,A,N,O,2024-01-01\n"
    )
    # January: every call by a known rep. February: most calls by a rep in no reps file.
    write(landing / "calls" / "2025-01.csv", CALLS + "".join(
        f"J{i},R1,2025-01-0{i}T10:00:00Z,60,outbound,connected,secret-contact-{i}\n"
        for i in range(1, 6)
    ))  # fmt: skip
    write(landing / "calls" / "2025-02.csv", CALLS + "".join(
        f"F{i},{'R1' if i == 1 else 'R-UNKNOWN'},2025-02-0{i}T10:00:00Z,{i * 9000},outbound,"
        "connected,\n" for i in range(1, 6)
    ))  # fmt: skip
    # Visits: 100 a day, then a day with 10 (collapse), then 60 (fine).
    visits = [(f"2025-03-0{d}", n) for d, n in ((1, 100), (2, 100), (3, 10), (4, 60))]
    write(landing / "web_visits" / "visits.csv", VISITS + "".join(
        f"V{day}-{i},secret-visitor-{i},{day}T12:00:00Z,paid,/\n" for day, n in visits
        for i in range(n)
    ))  # fmt: skip
    write(landing / "opportunities" / "o.csv", OPPS
          + f"O1,R1,inbound,{T},{T},won,50000,NOK,{T}\n"
          + f"O2,R1,inbound,{T},{T},won,25000000,NOK,{T}\n")  # fmt: skip
    build_db = tmp_path / "build.duckdb"
    with duckdb.connect(str(build_db)) as con:
        for entity in ("reps", "calls", "web_visits", "opportunities"):
            load_entity(con, entity, landing)
    return tmp_path


def validate(warehouse, entity):
    return validate_raw_entity(warehouse / "build.duckdb", warehouse, warehouse / "landing", entity)


def unmet(outcome):
    return sorted((f["file"], f["expectation"], f["column"]) for f in outcome.failures)


def test_suites_per_new_file_with_contract_and_distribution_results(warehouse):
    calls = validate(warehouse, "calls")
    assert calls["contract"].passed, calls["contract"].failures
    assert (calls["contract"].files, calls["contract"].new_files) == (2, 2)
    assert calls["contract"].expectations > 10
    # February: 1 of 5 calls by a known rep, and two calls longer than four hours.
    assert unmet(calls["distribution"]) == [
        ("calls/2025-02.csv", "expect_column_mean_to_be_between", "known_rep"),
        ("calls/2025-02.csv", "expect_column_values_to_be_between", "duration_seconds"),
    ]
    visits = validate(warehouse, "web_visits")
    assert visits["contract"].passed
    assert unmet(visits["distribution"]) == [
        ("web_visits/visits.csv", "expect_column_values_to_be_between", "day_over_day")
    ]
    assert visits["distribution"].failures[0]["unexpected"] == 1  # 3 March only
    opportunities = validate(warehouse, "opportunities")
    assert unmet(opportunities["distribution"]) == [
        ("opportunities/o.csv", "expect_column_values_to_be_between", "amount"),
        ("opportunities/o.csv", "expect_column_values_to_be_between", "won_amount"),
    ]
    assert validate(warehouse, "reps")["distribution"].passed

    # Data Docs are written under the warehouse, and no personal value reaches GX.
    index = data_docs_index(warehouse)
    assert index.is_file() and index.is_relative_to(warehouse / "gx")
    for path in (warehouse / "gx").rglob("*"):
        if path.is_file():
            assert b"secret-" not in path.read_bytes(), path


def test_only_new_or_changed_files_are_validated(warehouse):
    first = validate(warehouse, "calls")
    again = validate(warehouse, "calls")
    assert again["contract"].new_files == 0
    assert again["distribution"].failures == first["distribution"].failures
    # A corrected re-delivery of February replaces the file: only it is validated again.
    landing = warehouse / "landing"
    (landing / "calls" / "2025-02.csv").write_text(
        CALLS + "F1,R1,2025-02-01T10:00:00Z,60,outbound,connected,\n"
    )
    with duckdb.connect(str(warehouse / "build.duckdb")) as con:
        load_entity(con, "calls", landing)
    fixed = validate(warehouse, "calls")
    assert fixed["distribution"].new_files == 1 and fixed["distribution"].passed


def test_the_contract_suite_catches_what_the_loader_should_have_rejected(warehouse):
    with duckdb.connect(str(warehouse / "build.duckdb")) as con:
        con.execute("UPDATE raw.calls SET direction = 'sideways' WHERE call_id = 'J1'")
    calls = validate(warehouse, "calls")
    assert unmet(calls["contract"]) == [
        ("calls/2025-01.csv", "expect_column_values_to_be_in_set", "direction")
    ]
    assert calls["contract"].failures[0]["unexpected"] == 1


def test_distribution_batches_hold_every_column_their_expectations_name():
    from pipelines.ingest.contract import ENTITIES
    from pipelines.validation.raw_sources import batch_sql, distribution_expectations

    for name, entity in ENTITIES.items():
        if name == "web_visits":  # judged on visits per day (daily_visits_sql)
            continue
        named = {
            value
            for expectation in distribution_expectations(entity)
            for key, value in expectation.dict().items()
            if key in ("column", "column_A", "column_B") and value
        }
        sql = batch_sql(entity, "distribution")
        assert named and all(f'AS "{c}"' in sql or f"AS {c}" in sql for c in named), name


def test_a_file_bigger_than_a_batch_is_validated_in_slices_with_one_result(warehouse, monkeypatch):
    """Pandas never holds more than MAX_BATCH_ROWS rows: the 270 visits of visits.csv are read in
    slices of 100 lines, and a bad row in two slices is still one unmet expectation, 2 rows."""
    import pipelines.validation.raw_sources as raw_sources

    monkeypatch.setattr(raw_sources, "MAX_BATCH_ROWS", 100)
    seen = []
    original = raw_sources._run
    monkeypatch.setattr(
        raw_sources, "_run", lambda cp, frame, name, gx: seen.append((name, len(frame)))
        or original(cp, frame, name, gx),
    )  # fmt: skip
    with duckdb.connect(str(warehouse / "build.duckdb")) as con:
        con.execute(
            "UPDATE raw.web_visits SET channel = 'carrier-pigeon' WHERE _source_row IN (50, 250)"
        )
    visits = validate(warehouse, "web_visits")
    contract = [(name, rows) for name, rows in seen if "rows" in name]
    assert contract == [
        ("web_visits/visits.csv rows 1–100", 99),  # line 1 is the header
        ("web_visits/visits.csv rows 101–200", 100),
        ("web_visits/visits.csv rows 201–271", 71),
    ]
    assert unmet(visits["contract"]) == [
        ("web_visits/visits.csv", "expect_column_values_to_be_in_set", "channel")
    ]
    assert visits["contract"].failures[0]["unexpected"] == 2
