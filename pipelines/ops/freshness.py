"""Is a landing source still delivering? The newest file's modification time against a limit.

File times say when a delivery arrived, which is what a late export changes; event times inside the
files are backfilled history for the sample org and would say nothing about delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipelines.ingest.loader import landing_files


@dataclass(frozen=True)
class Freshness:
    entity: str
    limit: timedelta
    files: int
    newest_file: str | None
    newest_at: datetime | None
    checked_at: datetime

    @property
    def age(self) -> timedelta | None:
        return None if self.newest_at is None else self.checked_at - self.newest_at

    @property
    def fresh(self) -> bool:
        return self.age is not None and self.age <= self.limit

    def description(self) -> str:
        limit = _human(self.limit)
        if self.newest_at is None:
            return f"{self.entity}: no files delivered (limit {limit})"
        verdict = "within" if self.fresh else "older than"
        return (
            f"{self.entity}: last delivery {_human(self.age)} ago ({self.newest_file}), "
            f"{verdict} the limit of {limit}"
        )


def landing_freshness(
    landing: Path, entity: str, limit: timedelta, now: datetime | None = None
) -> Freshness:
    now = now or datetime.now(UTC)
    newest: tuple[float, str] | None = None
    files = landing_files(landing, entity)
    for relative, path in files:
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            continue
        if newest is None or mtime > newest[0]:
            newest = (mtime, relative)
    return Freshness(
        entity=entity,
        limit=limit,
        files=len(files),
        newest_file=newest[1] if newest else None,
        newest_at=datetime.fromtimestamp(newest[0], UTC) if newest else None,
        checked_at=now,
    )


def _human(delta: timedelta | None) -> str:
    if delta is None:
        return "never"
    seconds = max(delta.total_seconds(), 0)
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
