"""Load `funnel_factors` from any of the four implementations and check they are identical.

Identical means: the same set of rows by key (funnel, grain, period_start, dimension, member,
factor), the same position, and values equal within a relative tolerance of 1e-9 (NULL exactly
where the other has NULL).

Two scopes:
  * "all" (the default): every row of the table. The floor (floor.sql) writes every row `kpi run`
    publishes, so full vs floor and incremental vs floor_plus1 compare the whole table.
  * "pandas": the three shipped funnels by the dimensions all, team and rep
    (docs/published-tables.md, "The three shipped funnels"): what the pandas peer implements.
    Rows a side has beyond that scope are counted and reported, not compared.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

KEY = ["funnel", "grain", "period_start", "dimension", "member", "factor"]
COLUMNS = [*KEY, "position", "value"]
REL_TOL = 1e-9
ABS_TOL = 1e-12
SCOPE_FUNNELS = ("universal", "inbound", "outbound")
SCOPE_DIMENSIONS = ("all", "team", "rep")
PANDAS_SCOPE_SQL = (
    f"funnel IN ({', '.join(repr(f) for f in SCOPE_FUNNELS)}) "
    f"AND dimension IN ({', '.join(repr(d) for d in SCOPE_DIMENSIONS)})"
)
SCOPES = {"all": "true", "pandas": PANDAS_SCOPE_SQL}


def _source(con: duckdb.DuckDBPyConnection, path: Path) -> str:
    if path.suffix == ".parquet":
        return f"read_parquet('{path.as_posix()}')"
    con.execute(f"ATTACH '{path.as_posix()}' AS src (READ_ONLY)")
    return "src.funnel_factors"


def rows_outside_scope(path: Path, scope: str = "all") -> int:
    """How many `funnel_factors` rows of a result lie outside the compared scope."""
    con = duckdb.connect()
    try:
        source = _source(con, Path(path))
        return int(
            con.execute(f"SELECT count(*) FROM {source} WHERE NOT ({SCOPES[scope]})").fetchone()[0]
        )
    finally:
        con.close()


def load_factors(path: Path, scope: str = "all") -> pd.DataFrame:
    """The in-scope `funnel_factors` rows of a DuckDB file (table) or a Parquet file, by key."""
    path = Path(path)
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        source = _source(con, path)
        frame = con.execute(
            f"""SELECT funnel::VARCHAR AS funnel, grain::VARCHAR AS grain,
                CAST(period_start AS DATE) AS period_start, dimension::VARCHAR AS dimension,
                member::VARCHAR AS member, factor::VARCHAR AS factor,
                CAST(position AS BIGINT) AS position, CAST(value AS DOUBLE) AS value
            FROM {source} WHERE {SCOPES[scope]} ORDER BY {", ".join(KEY)}"""
        ).df()
    finally:
        con.close()
    frame["period_start"] = pd.to_datetime(frame["period_start"]).astype("datetime64[s]")
    return frame.reset_index(drop=True)


@dataclass(frozen=True)
class Comparison:
    left: str
    right: str
    rows_left: int
    rows_right: int
    problems: tuple[str, ...]
    outside_scope: tuple[int, int] = (0, 0)
    scope: str = "all"

    @property
    def identical(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        head = f"{self.left} ({self.rows_left} rows) vs {self.right} ({self.rows_right} rows)"
        head += " on the whole table" if self.scope == "all" else f" on the {self.scope} scope"
        if any(self.outside_scope):
            head += f" [+{self.outside_scope[0]} / +{self.outside_scope[1]} rows outside the scope]"
        if self.identical:
            return f"{head}: identical"
        return f"{head}: DIFFERENT\n  " + "\n  ".join(self.problems)


def compare_frames(
    left: pd.DataFrame, right: pd.DataFrame, names: tuple[str, str] = ("left", "right")
) -> Comparison:
    """Compare two sorted `funnel_factors` frames (as returned by `load_factors`)."""
    problems: list[str] = []
    if len(left) != len(right):
        problems.append(f"row counts differ: {len(left)} vs {len(right)}")
        merged = left.merge(right, on=KEY, how="outer", indicator=True)
        for side, label in (("left_only", names[0]), ("right_only", names[1])):
            extra = merged[merged["_merge"] == side]
            if len(extra):
                sample = extra[KEY].head(5).to_dict(orient="records")
                problems.append(f"{len(extra)} keys only in {label}, e.g. {sample}")
        return Comparison(*names, len(left), len(right), tuple(problems))
    keys_equal = np.ones(len(left), dtype=bool)
    for column in KEY:
        keys_equal &= left[column].to_numpy() == right[column].to_numpy()
    if not keys_equal.all():
        first = int(np.flatnonzero(~keys_equal)[0])
        problems.append(
            f"{int((~keys_equal).sum())} rows with different keys, first: "
            f"{left.loc[first, KEY].to_dict()} vs {right.loc[first, KEY].to_dict()}"
        )
        return Comparison(*names, len(left), len(right), tuple(problems))
    position_differs = left["position"].to_numpy() != right["position"].to_numpy()
    if position_differs.any():
        problems.append(f"{int(position_differs.sum())} rows with a different position")
    a = left["value"].to_numpy(dtype="float64")
    b = right["value"].to_numpy(dtype="float64")
    both_null = np.isnan(a) & np.isnan(b)
    close = np.isclose(a, b, rtol=REL_TOL, atol=ABS_TOL) | both_null
    if not close.all():
        bad = np.flatnonzero(~close)
        samples = [f"{left.loc[i, KEY].to_dict()}: {a[i]!r} vs {b[i]!r}" for i in bad[:5].tolist()]
        problems.append(f"{len(bad)} values differ beyond rel {REL_TOL}: " + "; ".join(samples))
    return Comparison(*names, len(left), len(right), tuple(problems))


def compare_files(
    left: Path, right: Path, names: tuple[str, str] | None = None, *, scope: str = "all"
) -> Comparison:
    """Compare two results on `scope` ("all": the whole table; "pandas": the pandas peer's)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}: one of {', '.join(SCOPES)}")
    names = names or (str(left), str(right))
    comparison = compare_frames(load_factors(left, scope), load_factors(right, scope), names)
    extra = (0, 0)
    if scope != "all":
        extra = (rows_outside_scope(left, scope), rows_outside_scope(right, scope))
    return dataclasses.replace(comparison, outside_scope=extra, scope=scope)
