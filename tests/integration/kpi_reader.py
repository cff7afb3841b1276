"""An analyst in a loop: `python -m tests.integration.kpi_reader <kpi.duckdb> <out.json> <stop file>`.

Opens the published file read-only (a new connection per query, or one connection held for the
whole loop with `--hold`), reads which publish it is and a checksum of `funnel_factors`, and writes
every observation and every error to `<out.json>` when `<stop file>` appears. Only duckdb is
imported, so it starts in a fraction of a second.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

QUERY = """
SELECT
    (SELECT run_id FROM published_runs ORDER BY published_at DESC LIMIT 1),
    (SELECT count(*) FROM funnel_factors),
    (SELECT sum(hash(funnel, grain, period_start, dimension, member, factor, position, value))
        FROM funnel_factors)::VARCHAR,
    (SELECT json_extract(row_counts, '$.funnel_factors')::BIGINT FROM published_runs
        ORDER BY published_at DESC LIMIT 1)
"""


def observe(con: duckdb.DuckDBPyConnection) -> list:
    run_id, rows, checksum, recorded_rows = con.execute(QUERY).fetchall()[0]
    # The file's own record of the publish must agree with what is in it.
    consistent = rows == recorded_rows
    return [run_id, rows, checksum, consistent]


def main(path: str, out: str, stop: str, hold: bool) -> None:
    observations, errors = [], []
    held = duckdb.connect(path, read_only=True) if hold else None
    Path(out + ".ready").touch()
    while not Path(stop).exists():
        try:
            if held is not None:
                observations.append(observe(held))
            else:
                with duckdb.connect(path, read_only=True) as con:
                    observations.append(observe(con))
        except Exception as exc:  # every failure is a finding: record it, keep reading
            errors.append(f"{type(exc).__name__}: {exc}")
        time.sleep(0.2)
    Path(out).write_text(json.dumps({"observations": observations, "errors": errors}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], hold="--hold" in sys.argv[4:])
