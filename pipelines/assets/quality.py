"""The raw assets' reject check: how much of a delivery broke the landing contract, and why."""

from __future__ import annotations

import dagster as dg
import duckdb

from pipelines.ingest.loader import REJECTS_TABLE, SUPERSEDED, LoadReport

REJECTS_CHECK = "rejected_rows"
MAX_REASONS = 10


def reject_check_spec(asset_key: dg.AssetKey, warn_share: float) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        REJECTS_CHECK,
        asset=asset_key,
        description=f"Warns when more than {warn_share:.1%} of the rows delivered (every current "
        "landing file, read this run or earlier) broke the landing contract (rows in `rejects`, "
        "corrections of earlier deliveries not counted). Threshold: KPI_REJECT_WARN_SHARE.",
    )


def reject_reasons(con: duckdb.DuckDBPyConnection, entity: str) -> list[tuple[str, int]]:
    """(reason, rows) of an entity's rejects, most frequent first."""
    return con.execute(
        f"SELECT reason, count(*) FROM {REJECTS_TABLE} WHERE entity = ? "
        "GROUP BY reason ORDER BY count(*) DESC, reason",
        [entity],
    ).fetchall()


def _reasons_markdown(reasons: list[tuple[str, int]]) -> str:
    lines = ["| reason | rows |", "|---|---:|"]
    for reason, n in reasons[:MAX_REASONS]:
        lines.append(f"| {reason.replace('|', chr(92) + '|')} | {n:,} |")
    if len(reasons) > MAX_REASONS:
        rest = sum(n for _, n in reasons[MAX_REASONS:])
        lines.append(f"| … {len(reasons) - MAX_REASONS} more reasons | {rest:,} |")
    return "\n".join(lines)


def reject_check_result(
    report: LoadReport, reasons: list[tuple[str, int]], warn_share: float
) -> dg.AssetCheckResult:
    rejected = sum(n for reason, n in reasons if reason != SUPERSEDED)
    superseded = sum(n for reason, n in reasons if reason == SUPERSEDED)
    total = report.rows_total  # every current file's rows, read this time or earlier
    share = rejected / total if total else 0.0
    passed = share <= warn_share
    verdict = "at most" if passed else "above"
    metadata: dict[str, dg.RawMetadataValue] = {
        "rows_read": report.rows_read,
        "rows_delivered": total,
        "rows_rejected": rejected,
        "rows_superseded": superseded,
        "rejected_share": dg.MetadataValue.float(round(share, 6)),
        "warn_above_share": dg.MetadataValue.float(warn_share),
    }
    if reasons:
        metadata["reasons"] = dg.MetadataValue.md(_reasons_markdown(reasons))
    return dg.AssetCheckResult(
        check_name=REJECTS_CHECK,
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{report.entity}: {rejected:,} of {total:,} rows rejected "
        f"({share:.2%}), {verdict} the warning threshold of {warn_share:.1%}",
        metadata=metadata,
    )
