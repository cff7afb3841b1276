"""What the UI shows on the publish asset: the latest month's funnel factors per team, in Markdown."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import duckdb

PREVIEW_SQL = """
WITH latest AS (
    SELECT max(period_start) AS month FROM funnel_factors
    WHERE grain = 'month' AND dimension = 'team'
)
SELECT f.funnel, f.member, f.factor, f.position, f.value, latest.month
FROM funnel_factors f JOIN latest ON f.period_start = latest.month
WHERE f.grain = 'month' AND f.dimension = 'team'
ORDER BY f.funnel, f.position, f.member
"""


def format_value(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if float(value).is_integer():
        return f"{value:,.0f}"
    if abs(value) < 1:
        return f"{value:.3g}"
    if abs(value) < 100:
        return f"{value:.2f}"
    return f"{value:,.0f}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def latest_month_preview(published_db: Path) -> str:
    """One table per funnel: a row per team, a column per factor (in funnel order)."""
    with duckdb.connect(str(published_db), read_only=True) as con:
        rows = con.execute(PREVIEW_SQL).fetchall()
    if not rows:
        return "No monthly team figures yet."
    month = rows[0][5]
    factors: dict[str, dict[int, str]] = defaultdict(dict)
    values: dict[str, dict[str, dict[str, float | None]]] = defaultdict(lambda: defaultdict(dict))
    for funnel, team, factor, position, value, _ in rows:
        factors[funnel][position] = factor
        values[funnel][team][factor] = value
    parts = [f"**Funnel factors per team, month of {month:%Y-%m}** (latest month in the data)"]
    for funnel in factors:
        names = [factors[funnel][p] for p in sorted(factors[funnel])]
        lines = [
            f"#### {_cell(funnel)}",
            "",
            "| team | " + " | ".join(_cell(n) for n in names) + " |",
            "|---|" + "---:|" * len(names),
        ]
        for team in sorted(values[funnel]):
            cells = [format_value(values[funnel][team].get(n)) for n in names]
            lines.append(f"| {_cell(team)} | " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def failures_markdown(failures: list[dict], total: int | None = None) -> str:
    """pandera's failure cases (column, check, failing value or row) as a Markdown table."""
    lines = ["| column | check | failing value / row |", "|---|---|---|"]
    for failure in failures:
        case = failure.get("failure_case")
        if isinstance(case, dict):
            case = ", ".join(f"{k}={v}" for k, v in case.items())
        column = failure.get("column") or "(table)"
        lines.append(f"| {_cell(column)} | {_cell(failure.get('check', ''))} | {_cell(case)} |")
    if total is not None and total > len(failures):
        lines.append(f"\n{len(failures)} of {total:,} failure cases shown.")
    return "\n".join(lines)
