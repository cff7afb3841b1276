"""The plain-CSV fast path (DuckDB's parallel reader) gives exactly the exact line reader's rows.

`read_into_text_table` reads a CSV file with DuckDB's `read_csv` when `plain_csv_commas` says every
line is one record without quotes, and falls back to the exact reader when that read fails. Either
way the text table must hold what the exact reader alone gives: same values, same line numbers,
same parse errors.
"""

from __future__ import annotations

import random
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.db import lit
from pipelines.ingest.contract import Column, Entity, Kind
from pipelines.ingest.readers import (
    TEXT_TABLE,
    _create_file_table,
    _read_csv,
    create_text_table,
    plain_csv_commas,
    read_into_text_table,
)

THREE = Entity("three", "a", (Column("a", Kind.ID), Column("b", Kind.TEXT), Column("c", Kind.TEXT)))


def text_rows(con, table: str) -> list[tuple]:
    return con.execute(f"SELECT * FROM {table} ORDER BY _source_row, _parse_error").fetchall()


def both_readers(path: Path) -> tuple[list[tuple], list[tuple]]:
    """(rows through read_into_text_table, rows through the exact reader alone)."""
    con = duckdb.connect()
    create_text_table(con, THREE)
    read_into_text_table(con, THREE, path, "x.csv", 0)
    fast = text_rows(con, TEXT_TABLE)
    _create_file_table(con, THREE, "exact")
    _read_csv(con, THREE, path, lit("x.csv"), 0, "exact")
    exact = text_rows(con, "exact")
    con.close()
    return fast, exact


@pytest.mark.parametrize(
    ("content", "plain"),
    [
        (b"a,b,c\n1,2,3\n4,,6\n", True),
        (b"c,a,b\n3,1,2\n6,4,\n", True),  # other column order, an empty last field
        (b"a,b,c\n1,2,3\n4,5,6", True),  # no newline at the end
        (b"a,b,c\n 1 ,\t2, 3 \n", True),  # whitespace is kept for the checks to trim
        (b"a,b,c\nNULL,null,\\N\n", True),  # text that DuckDB could read as NULL stays text
        (b"a,b,c\n1,2,3\n\n4,5,6\n", False),  # a blank line: DuckDB would skip it silently
        (b"a,b,c\n1,2,3\n4,5,6\n\n", False),
        (b"a,b,c\r\n1,2,3\r\n", False),
        (b'a,b,c\n1,"2,5",3\n', False),
        (b"\xef\xbb\xbfa,b,c\n1,2,3\n", False),
        (b"a,b,c\n1,\x002,3\n", False),
        # plain, but DuckDB's read fails: the exact reader takes over and keeps its rejects
        (b"a,b,c\n1,2,3\n4,5\n6,7,8,9\n", True),
        (b"a,b,c\n1,2,3\n   \n4,5,6\n", True),
        (b"a,b,c\n1,\xf8,3\n4,5,6\n", True),
        (
            b"a,b,c\n1,2,3,\n4,5,6\n",
            True,
        ),  # DuckDB takes trailing empty fields: the comma count not
        (b"a,b,c\n,,,,\n", True),
    ],
)
def test_same_rows_as_the_exact_reader(tmp_path, content, plain):
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    assert (plain_csv_commas(path) is not None) is plain
    fast, exact = both_readers(path)
    assert fast == exact
    assert fast  # every case has rows


_BYTES = st.sampled_from([b"a", b"1", b" ", b"\t", b",", b"\n", b"\r", b'"', b"\xc3\xb8", b"\xf8"])


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.lists(_BYTES, max_size=60))
def test_any_bytes_give_the_exact_readers_rows(tmp_path, body):
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b,c\n" + b"".join(body))
    fast, exact = both_readers(path)
    assert fast == exact


def test_a_file_read_in_parallel_keeps_its_line_numbers(tmp_path):
    """Large enough for DuckDB to split the file between threads: every row keeps its line."""
    rng = random.Random(6)
    path = tmp_path / "x.csv"
    lines = [f"id{n},{rng.randrange(10**9)},{'x' * rng.randrange(40)}" for n in range(400_000)]
    path.write_text("a,b,c\n" + "\n".join(lines) + "\n")
    con = duckdb.connect()
    con.execute("SET threads = 4")
    create_text_table(con, THREE)
    read_into_text_table(con, THREE, path, "x.csv", 0)
    mismatched = con.execute(
        f"SELECT count(*) FROM {TEXT_TABLE} WHERE a <> 'id' || (_source_row - 2)"
    ).fetchone()[0]
    total = con.execute(f"SELECT count(*), max(_source_row) FROM {TEXT_TABLE}").fetchone()
    assert (mismatched, total) == (0, (400_000, 400_001))
