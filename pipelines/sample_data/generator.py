"""Write a deterministic sample sales org as landing files (see docs/landing-contract.md).

Layout under ``out``::

    reps/reps.csv
    calls/calls_<period>.csv                 one file per month (CSV)
    calls/calls_<period>_redelivery.csv      a few calls delivered again (dirty runs)
    emails/emails_<period>.jsonl             JSON lines
    web_visits/web_visits_<period>.parquet   visited_at as TIMESTAMP (UTC)
    meetings/meetings_<period>.csv
    opportunities/snapshot_<YYYY-MM-DD>.csv  quarter-end snapshots and one at the end

``<period>`` is ``YYYY-MM`` for a whole calendar month, ``YYYY-MM-DD`` for a single day and
``YYYY-MM-DD_YYYY-MM-DD`` for a partial month, so runs over different ranges never overwrite each
other's files. Data is generated and written one day at a time (files one month at a time), so
memory stays bounded at any scale.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from .activity import Raw, SimContext, concat_raws, make_context, raw_length, simulate_day
from .dirty import FINAL_SNAPSHOT, DirtInjector, ExpectedReject
from .frames import calls_frame, emails_frame, meetings_frame, reps_frame, visits_frame
from .opportunities import snapshot_days, snapshot_frame
from .roster import build_roster
from .timekeeping import end_of_day_utc
from .writers import CsvSink, JsonlSink, ParquetSink, Sink

ENTITIES = ("reps", "web_visits", "calls", "emails", "meetings", "opportunities")

VISIT_SCHEMA = pa.schema(
    [
        ("visit_id", pa.string()),
        ("visitor_id", pa.string()),
        ("visited_at", pa.timestamp("us", tz="UTC")),
        ("channel", pa.string()),
        ("landing_page", pa.string()),
        ("campaign", pa.string()),
        ("account_id", pa.string()),
    ]
)
VISIT_OPTIONAL = frozenset({"campaign", "account_id"})
FLUSH_ROWS = 250_000  # format and write an entity's rows once this many are waiting


@dataclass(frozen=True)
class SampleSummary:
    """What a generator run wrote.

    ``rows_written`` counts every data row per entity, dirty rows and re-deliveries included.
    ``expected_rejects`` lists every injected contract-breaking row (entity, file relative to
    ``out``, contract row number, reason); ``exact_redeliveries`` counts, per entity, rows that
    repeat an earlier row exactly.
    """

    out: Path
    n_reps: int
    rows_written: dict[str, int]
    expected_rejects: list[ExpectedReject]
    exact_redeliveries: dict[str, int]
    files: list[str]
    top_performers: list[str]
    start: dt.date
    end: dt.date


class _Tally:
    """Rows and files written so far."""

    def __init__(self) -> None:
        self.rows = {entity: 0 for entity in ENTITIES}
        self.files: list[str] = []

    def close(self, entity: str, sink: Sink) -> None:
        sink.close()
        if sink.created:
            self.rows[entity] += sink.rows
            self.files.append(sink.relative)


def generate_sample_org(
    out: Path,
    *,
    seed: int = 7,
    scale: float = 0.1,
    start: dt.date = dt.date(2025, 1, 1),
    days: int = 365,
    dirty: bool = True,
    include_reps: bool = True,
) -> SampleSummary:
    """Write ``days`` days of activity from ``start`` for the (seed, scale) sample org.

    Same arguments give byte-identical files. The roster depends only on (seed, scale).
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    if scale <= 0:
        raise ValueError("scale must be positive")
    out = Path(out)
    end = start + dt.timedelta(days=days - 1)
    roster = build_roster(seed, scale)
    ctx = make_context(roster, seed, scale, end)
    chunks = list(_month_chunks(start, end))
    dirt = DirtInjector(dirty, len(chunks))
    tally = _Tally()
    if include_reps:
        sink = CsvSink(out, "reps/reps.csv")
        sink.write(reps_frame(roster))
        tally.close("reps", sink)
    batches = [
        _write_chunk(ctx, out, index, chunk, dirt, tally) for index, chunk in enumerate(chunks)
    ]
    _write_snapshots(ctx, out, start, end, concat_raws(batches), dirt, tally)
    return SampleSummary(
        out=out,
        n_reps=roster.size,
        rows_written=tally.rows,
        expected_rejects=sorted(dirt.rejects),
        exact_redeliveries=dirt.redelivered,
        files=sorted(tally.files),
        top_performers=[rep for rep, top in zip(roster.rep_id, roster.is_top, strict=True) if top],
        start=start,
        end=end,
    )


def _month_chunks(start: dt.date, end: dt.date) -> Iterator[list[dt.date]]:
    """The days of the range, grouped by calendar month."""
    day, chunk = start, []
    while day <= end:
        if chunk and day.day == 1:
            yield chunk
            chunk = []
        chunk.append(day)
        day += dt.timedelta(days=1)
    yield chunk


def period_tag(first: dt.date, last: dt.date) -> str:
    """``YYYY-MM`` for a whole month, else ``YYYY-MM-DD`` or ``YYYY-MM-DD_YYYY-MM-DD``."""
    if first.day == 1 and (last + dt.timedelta(days=1)).day == 1 and first.month == last.month:
        return f"{first:%Y-%m}"
    if first == last:
        return f"{first:%Y-%m-%d}"
    return f"{first:%Y-%m-%d}_{last:%Y-%m-%d}"


def _chunk_sinks(out: Path, tag: str) -> dict[str, Sink]:
    return {
        "web_visits": ParquetSink(
            out, f"web_visits/web_visits_{tag}.parquet", VISIT_SCHEMA, VISIT_OPTIONAL
        ),
        "calls": CsvSink(out, f"calls/calls_{tag}.csv"),
        "emails": JsonlSink(out, f"emails/emails_{tag}.jsonl"),
        "meetings": CsvSink(out, f"meetings/meetings_{tag}.csv"),
    }


class _Batch:
    """Days of one entity waiting to be turned into text and written, one flush at a time."""

    def __init__(self, ctx: SimContext, entity: str, sink: Sink, dirt: DirtInjector, chunk: int):
        self.ctx, self.entity, self.sink, self.dirt, self.chunk = ctx, entity, sink, dirt, chunk
        self.parts: list[Raw] = []
        self.first_due: int | None = None  # first row from the second half of the month
        self.rows = 0

    def add(self, raw: Raw, due: bool) -> None:
        if due and self.first_due is None:
            self.first_due = self.rows
        self.parts.append(raw)
        self.rows += raw_length(raw)
        if self.rows >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.rows == 0:
            self.parts = []
            return
        raw = concat_raws(self.parts)
        frame = _FORMATTERS[self.entity](self.ctx, raw)
        first_due = self.rows if self.first_due is None else self.first_due
        year = int(raw["day"][min(first_due, self.rows - 1)]) // 10_000
        self.dirt.capture(self.entity, self.chunk, frame, first_due)
        self.sink.write(
            self.dirt.inject(self.entity, self.chunk, frame, first_due, year, self.sink)
        )
        self.parts, self.rows = [], 0
        self.first_due = 0 if self.first_due is not None else None


_FORMATTERS = {
    "web_visits": lambda ctx, raw: visits_frame(raw),
    "calls": lambda ctx, raw: calls_frame(ctx.roster, raw),
    "emails": lambda ctx, raw: emails_frame(ctx.roster, raw),
    "meetings": lambda ctx, raw: meetings_frame(ctx.roster, raw),
}


def _write_chunk(
    ctx: SimContext,
    out: Path,
    index: int,
    chunk: list[dt.date],
    dirt: DirtInjector,
    tally: _Tally,
) -> Raw:
    """Simulate and write one month (or part of one); return the opportunities it started."""
    tag = period_tag(chunk[0], chunk[-1])
    sinks = _chunk_sinks(out, tag)
    batches = {entity: _Batch(ctx, entity, sink, dirt, index) for entity, sink in sinks.items()}
    opportunities = []
    for day_index, day in enumerate(chunk):
        activity = simulate_day(ctx, day)
        opportunities.append(activity.opportunities)
        for entity, raw in activity.raws.items():
            batches[entity].add(raw, due=day_index >= len(chunk) // 2)
    for entity, sink in sinks.items():
        batches[entity].flush()
        _redeliver(out, entity, index, tag, sink, dirt, tally)
        tally.close(entity, sink)
    return concat_raws(opportunities)


def _redeliver(
    out: Path, entity: str, index: int, tag: str, sink: Sink, dirt: DirtInjector, tally: _Tally
) -> None:
    """Write the rows captured for re-delivery: appended to ``sink`` or in their own file."""
    redelivery = dirt.redelivery(entity, index)
    if redelivery is None:
        return
    rows, separate_file = redelivery
    if not separate_file:
        sink.write(rows)
        return
    extra = CsvSink(out, f"{entity}/{entity}_{tag}_redelivery.csv")
    extra.write(rows)
    tally.close(entity, extra)


def _write_snapshots(
    ctx: SimContext,
    out: Path,
    start: dt.date,
    end: dt.date,
    opportunities: Raw,
    dirt: DirtInjector,
    tally: _Tally,
) -> None:
    for day in snapshot_days(start, end):
        frame = snapshot_frame(ctx.roster, opportunities, end_of_day_utc(day))
        sink = CsvSink(out, f"opportunities/snapshot_{day:%Y-%m-%d}.csv")
        if day == end:
            frame = dirt.inject("opportunities", FINAL_SNAPSHOT, frame, 0, day.year, sink)
        sink.write(frame)
        tally.close("opportunities", sink)


__all__ = ["ExpectedReject", "SampleSummary", "generate_sample_org"]
