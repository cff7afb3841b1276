"""great-expectations suites of the landing entities (pipelines/validation/raw_sources.py), on small
hand-made landing files loaded by the real loader into a real DuckDB file."""

from __future__ import annotations

import shutil

import dagster as dg
import duckdb
import pytest

from pipelines.assets.raw import raw_key
from pipelines.assets.raw_checks import selected_entities
from pipelines.ingest.loader import load_entity
from pipelines.validation.raw_sources import (
    data_docs_index,
    validate_raw_entities,
    validate_raw_entity,
)

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
    """(file, measure, landing column) of each unmet expectation; GX's expectation on a measure is
    always that its value lies between bounds."""
    assert {f["expectation"] for f in outcome.failures} <= {"expect_column_values_to_be_between"}
    return sorted((f["file"], f["measure"], f["column"]) for f in outcome.failures)


def test_suites_per_new_file_with_contract_and_distribution_results(warehouse):
    calls = validate(warehouse, "calls")
    assert calls["contract"].passed, calls["contract"].failures
    assert (calls["contract"].files, calls["contract"].new_files) == (2, 2)
    assert calls["contract"].expectations > 10
    # February: 1 of 5 calls by a known rep, and 4 of 5 calls longer than four hours.
    assert unmet(calls["distribution"]) == [
        ("calls/2025-02.csv", "duration_seconds__over_max_share", "duration_seconds"),
        ("calls/2025-02.csv", "known_rep_share", "rep_id"),
    ]
    observed = {f["measure"]: f["observed"] for f in calls["distribution"].failures}
    assert observed == {"known_rep_share": 1 / 5, "duration_seconds__over_max_share": 4 / 5}
    visits = validate(warehouse, "web_visits")
    assert visits["contract"].passed
    assert unmet(visits["distribution"]) == [
        ("web_visits/visits.csv", "day_over_day", "visited_at")
    ]
    assert visits["distribution"].failures[0]["unexpected"] == 1  # 3 March only
    opportunities = validate(warehouse, "opportunities")
    assert unmet(opportunities["distribution"]) == [
        ("opportunities/o.csv", "amount__over_max", "amount"),
        ("opportunities/o.csv", "won_amount__outside_range_share", "amount"),
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
        con.execute("UPDATE raw.calls__delivered SET direction = 'sideways' WHERE call_id = 'J1'")
    calls = validate(warehouse, "calls")
    assert unmet(calls["contract"]) == [
        ("calls/2025-01.csv", "direction__not_allowed", "direction")
    ]
    assert calls["contract"].failures[0]["unexpected"] == 1
    # A repeated id and a required value gone, in two files: each named with its rows.
    with duckdb.connect(str(warehouse / "build.duckdb")) as con:
        con.execute("UPDATE raw.calls__delivered SET call_id = 'F1' WHERE call_id IN ('F2', 'F3')")
        con.execute(
            "UPDATE raw.calls__delivered SET started_at = NULL WHERE call_id IN ('J2', 'J3', 'J4')"
        )
    (warehouse / "gx" / "validated_files.json").unlink()  # validate every file again
    calls = validate(warehouse, "calls")
    assert unmet(calls["contract"]) == [
        ("calls/2025-01.csv", "direction__not_allowed", "direction"),
        ("calls/2025-01.csv", "started_at__missing", "started_at"),
        ("calls/2025-02.csv", "call_id__repeated", "call_id"),
    ]
    assert [f["unexpected"] for f in sorted(calls["contract"].failures, key=unmet_key)] == [1, 3, 2]


def unmet_key(failure):
    return (failure["file"], failure["measure"])


def test_great_expectations_sees_one_row_per_file_and_no_row_of_data(warehouse, monkeypatch):
    """The measures are computed in DuckDB: GX gets a frame of numbers per file, whatever the
    number of rows, and every measure of each suite is one column of it."""
    import pipelines.validation.raw_sources as raw_sources
    from pipelines.ingest.contract import ENTITIES

    frames = []
    original = raw_sources._run
    monkeypatch.setattr(
        raw_sources, "_run", lambda cp, frame, measures, gx: frames.append((frame, measures))
        or original(cp, frame, measures, gx),
    )  # fmt: skip
    validate(warehouse, "calls")
    (contract, contract_measures), (distribution, _) = frames
    assert list(contract["file"]) == ["calls/2025-01.csv", "calls/2025-02.csv"]
    assert list(contract["rows"]) == [5, 5]
    assert {m.name for m in contract_measures} <= set(contract.columns)
    assert "contact_id" not in contract.columns and len(distribution) == 2
    # Every rule of the contract has a measure: each required column, allowed set, number, time.
    entity = ENTITIES["calls"]
    names = {m.name for m in contract_measures}
    for c in entity.columns:
        assert not c.required or f"{c.name}__missing" in names
    assert {
        "direction__not_allowed",
        "duration_seconds__negative",
        "started_at__in_future",
    } <= names
    # Web visits: the day-over-day frame has a row per file and day, 270 visits over four days.
    frames.clear()
    validate(warehouse, "web_visits")
    days = frames[1][0]
    assert list(days["visits"]) == [100, 100, 10, 60]


def test_new_suites_validate_every_file_again(warehouse, monkeypatch):
    import pipelines.validation.raw_sources as raw_sources

    assert validate(warehouse, "calls")["contract"].new_files == 2
    assert validate(warehouse, "calls")["contract"].new_files == 0
    monkeypatch.setattr(raw_sources, "MAX_CALL_SECONDS", 13 * 3600)  # every call is shorter
    again = validate(warehouse, "calls")
    assert again["contract"].new_files == 2
    assert unmet(again["distribution"]) == [("calls/2025-02.csv", "known_rep_share", "rep_id")]


def test_entities_validated_in_one_step_give_each_entitys_own_outcomes(warehouse, tmp_path):
    """The Dagster step validates every entity with one GX context and one Data Docs build
    (`validate_raw_entities`): the outcomes are those of validating each entity on its own."""

    names = ["reps", "calls", "web_visits", "opportunities"]
    together = tmp_path / "together"
    shutil.copytree(warehouse, together, ignore=shutil.ignore_patterns("together"))
    both = validate_raw_entities(together / "build.duckdb", together, together / "landing", names)
    for name in names:
        alone = validate(warehouse, name)
        for kind in ("contract", "distribution"):
            assert both[name][kind].failures == alone[kind].failures, (name, kind)
            assert both[name][kind].expectations == alone[kind].expectations, (name, kind)
    assert data_docs_index(together).is_file()
    # Selecting some checks in the UI runs only their entities' suites.
    keys = {dg.AssetCheckKey(raw_key("calls"), "gx_distribution")}
    assert selected_entities(keys) == ["calls"]


def test_a_new_days_volume_is_compared_with_the_day_before_in_an_earlier_file(warehouse):
    assert validate(warehouse, "web_visits")["distribution"].files == 1
    # 5 March arrives in a file of its own: 6 visits after 60 on 4 March, which only the earlier
    # file holds; 6 March: 5 visits after 6 (fine).
    landing = warehouse / "landing"
    write(landing / "web_visits" / "later.csv", VISITS + "".join(
        f"W{day}-{i},secret-visitor-{i},{day}T12:00:00Z,paid,/\n"
        for day, n in (("2025-03-05", 6), ("2025-03-06", 5)) for i in range(n)
    ))  # fmt: skip
    with duckdb.connect(str(warehouse / "build.duckdb")) as con:
        load_entity(con, "web_visits", landing)
    visits = validate(warehouse, "web_visits")["distribution"]
    assert visits.new_files == 1
    later = [f for f in visits.failures if f["file"] == "web_visits/later.csv"]
    assert [(f["measure"], f["unexpected"]) for f in later] == [("day_over_day", 1)]
