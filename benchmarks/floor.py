"""Run the floor script (floor.sql) with the DuckDB Python client, in one process.

    python -m benchmarks.floor LANDING OUT.duckdb [--timezone Europe/Oslo] [--memory-limit 4GB]

Writes the table `funnel_factors` into a new DuckDB file OUT (replaced when it exists).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import duckdb

SCRIPT = Path(__file__).with_name("floor.sql")


def run_floor(
    landing: Path,
    out: Path,
    *,
    timezone: str = "Europe/Oslo",
    memory_limit: str | None = "4GB",
    threads: int | None = None,
) -> int:
    """Execute floor.sql against ``landing`` into ``out``; return the number of factor rows."""
    landing = Path(landing).resolve()
    if not landing.is_dir():
        raise FileNotFoundError(f"landing folder {landing} does not exist")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in (out, out.with_name(out.name + ".wal")):
        stale.unlink(missing_ok=True)
    con = duckdb.connect(str(out))
    try:
        con.execute("SET enable_progress_bar = false")
        if memory_limit:
            con.execute(f"SET memory_limit = '{memory_limit}'")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        con.execute("SET VARIABLE landing = ?", [landing.as_posix()])
        con.execute("SET VARIABLE tz = ?", [timezone])
        con.execute(SCRIPT.read_text(encoding="utf-8"))
        rows = con.execute("SELECT count(*) FROM funnel_factors").fetchone()[0]
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return int(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="funnel_factors by one hand-written DuckDB script")
    parser.add_argument("landing", type=Path)
    parser.add_argument("out", type=Path, help="DuckDB file to write (replaced)")
    parser.add_argument("--timezone", default="Europe/Oslo")
    parser.add_argument("--memory-limit", default="4GB")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = run_floor(
        args.landing,
        args.out,
        timezone=args.timezone,
        memory_limit=args.memory_limit,
        threads=args.threads,
    )
    elapsed = time.perf_counter() - started
    print(f"{rows} factor rows -> {args.out} in {elapsed:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
