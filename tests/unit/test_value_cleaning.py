"""The contract check cleans every delivered value: surrounding whitespace (space, tab, LF, CR) is
removed and an empty value becomes NULL. The SQL takes shortcuts for speed (it trims only values
whose first or last character can be whitespace); these tests hold it to Python's own `strip`."""

from __future__ import annotations

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.ingest.checks import WHITESPACE_CODES, _cleaned

STRIPPED = "".join(map(chr, WHITESPACE_CODES))


def cleaned_by_python(value: str | None) -> str | None:
    if value is None:
        return None
    return value.strip(STRIPPED) or None


CON = duckdb.connect()


def cleaned_by_sql(values: list[str | None]) -> list[str | None]:
    rows = CON.execute(
        f"SELECT {_cleaned('v')} FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS t(v, i) ORDER BY i",
        [values],
    ).fetchall()
    return [r[0] for r in rows]


EDGE_CASES = [
    None, "", " ", "\t", "\r\n", "a", " a", "a ", "\ta\n", "a\r", "\x01", "a\x01", "\x01a",
    "\x01 a \x01", " \x01", "\x01 ", "\x0b", "a\x0b", "ø", " ø ", "øø\t", "a b", "  a  b  ",
    "\x00", "a\x00", "\x1f", "a\x1f ",
]  # fmt: skip


def test_edge_cases_match_python_strip():
    assert cleaned_by_sql(EDGE_CASES) == [cleaned_by_python(v) for v in EDGE_CASES]


_CHARS = st.sampled_from(["a", "1", " ", "\t", "\n", "\r", "\x01", "\x0b", "\x1f", "ø", "€", "😀"])


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.lists(_CHARS, max_size=8).map("".join)), max_size=30)
)
def test_any_values_match_python_strip(values):
    assert cleaned_by_sql(values) == [cleaned_by_python(v) for v in values]
