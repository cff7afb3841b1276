"""The bad-input corpus (tests/corpus): for each broken delivery, the exact rows loaded and the exact
rows rejected, with file, row number and reason (docs/landing-contract.md, "Bad input")."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.ingest.checks import RAW_VALUE_CHARS
from pipelines.ingest.contract import ENTITIES, Column, Entity, Kind
from pipelines.ingest.loader import ensure_raw_schema, load_entity
from pipelines.ingest.readers import LandingFileError, create_text_table, read_into_text_table
from tests import corpus
from tests.corpus import Case


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


def load_case(con, case: Case, landing: Path) -> list[str]:
    """Load every entity of the case; returns the warnings."""
    case.write(landing)
    warnings = []
    for entity in case.entities:
        report = load_entity(con, entity, landing)
        assert report.rows_read == report.rows_loaded + report.rows_rejected + report.duplicates
        warnings += report.warnings
    return warnings


def loaded(con, entity: str) -> list[tuple[str, str, int]]:
    key = ENTITIES[entity].id_column
    return sorted(
        con.execute(f"SELECT {key}, _source_file, _source_row FROM raw.{entity}").fetchall()
    )


def rejected(con) -> list[tuple[str, str, int, str]]:
    ensure_raw_schema(con)
    return con.execute(
        "SELECT entity, source_file, source_row, reason FROM raw.rejects ORDER BY ALL"
    ).fetchall()


def check_case(con, case: Case, landing: Path) -> None:
    """Exactly the rows the case lists are loaded, exactly its rejects are rejected."""
    warnings = load_case(con, case, landing)
    assert {e: loaded(con, e) for e in case.entities} == {
        e: sorted(case.loaded.get(e, [])) for e in case.entities
    }
    assert rejected(con) == sorted(case.rejected)
    assert sorted(warnings) == sorted(case.warnings)


def test_ragged_csv_rows(con, tmp_path):
    check_case(con, corpus.ragged_rows(), tmp_path)


def test_bad_quoting(con, tmp_path):
    case = corpus.bad_quoting()
    check_case(con, case, tmp_path)
    # The unclosed quote's line is kept as delivered for the reject, and only that line.
    (raw,) = con.execute("SELECT raw_record FROM raw.rejects WHERE source_row = 6").fetchone()
    assert raw == 'QUO-4,R1,2025-03-05T10:00:00Z,60,outbound,connected,"never closed'


def test_latin1_bytes_in_a_utf8_file(con, tmp_path):
    check_case(con, corpus.latin1_bytes(), tmp_path)
    assert con.execute("SELECT rep_name FROM raw.reps ORDER BY rep_id").fetchall() == [
        ("Søren Å",),
        ("Ola",),
    ]
    (raw,) = con.execute("SELECT raw_record FROM raw.rejects").fetchone()
    assert raw == "LAT-2,Bj\\xF8rn \\xD8,Nord,Oslo,2024-01-01,"


def test_byte_order_mark_and_crlf(con, tmp_path):
    check_case(con, corpus.byte_order_mark(), tmp_path)
    assert con.execute("SELECT call_id, outcome FROM raw.calls ORDER BY 1").fetchall() == [
        ("BOM-1", "connected"),
        ("BOM-2", "connected"),
    ]


def test_empty_files(con, tmp_path):
    check_case(con, corpus.empty_files(), tmp_path)


def test_header_only_file(con, tmp_path):
    check_case(con, corpus.header_only(), tmp_path)


def test_missing_required_column_fails_the_entity_and_changes_nothing(con, tmp_path):
    good = corpus.ragged_rows()
    check_case(con, good, tmp_path)
    before = (loaded(con, "calls"), rejected(con))
    case = corpus.missing_required_column()
    case.write(tmp_path)
    with pytest.raises(LandingFileError, match=case.error):
        load_entity(con, "calls", tmp_path)
    assert (loaded(con, "calls"), rejected(con)) == before


def test_unknown_extra_column_is_ignored(con, tmp_path):
    check_case(con, corpus.unknown_extra_column(), tmp_path)
    columns = [r[0] for r in con.execute("DESCRIBE raw.calls").fetchall()]
    assert "crm_note" not in columns and "contact_email" not in columns


def test_wrong_types(con, tmp_path):
    check_case(con, corpus.wrong_types(), tmp_path)
    assert con.execute("SELECT duration_seconds FROM raw.calls").fetchall() == [(150.0,)]


def test_negative_amounts_and_durations(con, tmp_path):
    check_case(con, corpus.negative_numbers(), tmp_path)
    assert con.execute("SELECT amount FROM raw.opportunities").fetchall() == [(0.0,)]


def test_unknown_enum_values(con, tmp_path):
    check_case(con, corpus.unknown_enums(), tmp_path)
    assert con.execute("SELECT direction, outcome FROM raw.calls").fetchall() == [
        ("outbound", "no_answer")
    ]


def test_timestamps_without_offset_are_reporting_zone_time(con, tmp_path):
    check_case(con, corpus.timestamps_without_offset(), tmp_path)
    got = dict(con.execute("SELECT call_id, started_at FROM raw.calls").fetchall())
    expected = {k: datetime.fromisoformat(v) for k, (_, v) in corpus.NAIVE_TIMESTAMPS.items()}
    assert got == expected


def test_timestamps_far_in_the_future(con, tmp_path):
    check_case(con, corpus.far_future(), tmp_path)


def test_an_id_delivered_twice_with_different_content(con, tmp_path):
    check_case(con, corpus.id_twice(), tmp_path)
    calls = dict(con.execute("SELECT call_id, duration_seconds FROM raw.calls").fetchall())
    assert calls == {"TWI-1": 90.0, "TWI-2": 60.0, "TWI-3": 60.0, "TWI-4": 61.0}
    opps = con.execute("SELECT opportunity_id, status, amount FROM raw.opportunities ORDER BY 1")
    assert opps.fetchall() == [("TWI-O1", "won", 900.0), ("TWI-O2", "open", 200.0)]


def test_opportunity_of_a_rep_not_in_reps_is_loaded(con, tmp_path):
    # Flagging it as orphaned happens in dbt; the end-to-end test below checks the published flag.
    check_case(con, corpus.orphaned_rep(), tmp_path)


def test_parquet_files_with_other_schemas(con, tmp_path):
    check_case(con, corpus.parquet_other_schemas(), tmp_path)
    rows = con.execute(
        "SELECT opportunity_id, rep_id, created_at, closed_at, amount, currency, updated_at "
        "FROM raw.opportunities ORDER BY 1"
    ).fetchall()
    utc = datetime.fromisoformat
    assert rows[0] == (
        "9001", "R1", utc("2025-03-01T00:00:00+00:00"), utc("2025-03-05T09:00:00+00:00"),
        1500.0, "NOK", utc("2025-03-05T10:00:00+00:00"),  # 11:00 in Oslo
    )  # fmt: skip
    assert rows[1][3] is None


def test_parquet_file_without_the_contract_columns(con, tmp_path):
    case = corpus.parquet_missing_column()
    case.write(tmp_path)
    with pytest.raises(LandingFileError, match=case.error):
        load_entity(con, "web_visits", tmp_path)


def test_a_50_mb_field(con, tmp_path):
    case = corpus.huge_field_case()
    check_case(con, case, tmp_path)
    (raw,) = con.execute("SELECT raw_record FROM raw.rejects").fetchone()
    assert json.loads(raw)["landing_page"] == "/" + "x" * (RAW_VALUE_CHARS - 1)


def test_every_case_of_the_corpus_has_a_test():
    source = Path(__file__).read_text()
    for build in corpus.CASES:
        assert f"corpus.{build.__name__}()" in source, build.__name__


def test_landing_contract_documents_every_case():
    text = (Path(__file__).parents[2] / "docs" / "landing-contract.md").read_text()
    for case in corpus.all_cases():
        assert f"`{case.name}`" in text, case.name


# --- The CSV reader against Python's csv module ----------------------------------------------

THREE = Entity("three", "a", tuple(Column(c, Kind.TEXT, required=False) for c in "abc"))
PIECES = ["a", "é", ",", '"', "\n", "\r\n", " ", 'x"y']
CELLS = st.lists(st.sampled_from(PIECES), max_size=4).map("".join)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.lists(CELLS, min_size=3, max_size=3), max_size=6),
    terminator=st.sampled_from(["\n", "\r\n"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
)
def test_well_formed_csv_reads_like_pythons_csv_module(tmp_path, rows, terminator, quoting):
    """Any CSV a standard writer produces gives the same records, on the same first lines."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=terminator, quoting=quoting).writerows(
        [["a", "b", "c"], *rows]
    )
    path = tmp_path / "x.csv"
    path.write_bytes(buffer.getvalue().encode())
    expected, reader, previous = [], csv.reader(io.StringIO(buffer.getvalue(), newline="")), 0
    for record in reader:
        first_line, previous = previous + 1, reader.line_num
        if first_line > 1:
            expected.append((first_line, *(v.replace("\r\n", "\n") for v in record)))
    con = duckdb.connect()
    create_text_table(con, THREE)
    read_into_text_table(con, THREE, path, "x.csv", 0)
    got = con.execute(
        "SELECT _source_row, coalesce(a, ''), coalesce(b, ''), coalesce(c, ''), _parse_error "
        "FROM landing_text ORDER BY _source_row"
    ).fetchall()
    assert [g[:4] for g in got] == expected
    assert all(g[4] is None for g in got)


def test_reasons_name_the_rule(con, tmp_path):
    """Every reason in the corpus starts with a column name, 'unreadable CSV line', 'JSON line',
    a row rule or the re-delivery rule: nothing generic."""
    pattern = re.compile(
        r"^([a-z_]+: |unreadable CSV line: |JSON line |closed_at is required|superseded by)"
    )
    for case in corpus.all_cases():
        if case.name != "huge_field":
            for *_, reason in case.rejected:
                assert pattern.match(reason), reason
