"""Known dirt: contract-breaking rows and exact re-deliveries, injected at predictable places.

Each defect copies a good row of the target file, gives it a new id (``<day prefix>-X<nn>``, which
no generated row uses) and breaks exactly one value, so the loader must reject it for exactly one
reason. Defects and re-deliveries are spread over the range by their ``position`` (0 = first
monthly file, 1 = last); inside that file they go into the first day, from the middle of the
month on, that has rows. Opportunity defects go into the final snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from .columns import Frame, frame_length, insert_row, row_at, take_rows
from .writers import Sink

FINAL_SNAPSHOT = -1

ID_COLUMNS = {
    "reps": "rep_id",
    "web_visits": "visit_id",
    "calls": "call_id",
    "emails": "email_id",
    "meetings": "meeting_id",
    "opportunities": "opportunity_id",
}


class ExpectedReject(NamedTuple):
    """A row the loader must reject: where it is and why (row numbers as in the contract)."""

    entity: str
    file: str
    row_number: int
    reason: str


@dataclass(frozen=True)
class Defect:
    """One contract-breaking row: ``column`` set to ``value`` (``{year}`` is filled in)."""

    number: int
    entity: str
    position: float
    column: str
    value: str
    reason: str


@dataclass(frozen=True)
class Redelivery:
    """Rows delivered a second time, unchanged: in a ``_redelivery`` file or the same file."""

    entity: str
    position: float
    rows: int
    separate_file: bool


DEFECTS: tuple[Defect, ...] = (
    Defect(1, "calls", 0.25, "outcome", "hung_up", "unknown outcome 'hung_up'"),
    Defect(2, "calls", 0.45, "duration_seconds", "-42", "negative duration_seconds"),
    Defect(3, "calls", 0.65, "rep_id", "", "missing rep_id"),
    Defect(4, "calls", 0.85, "started_at", "31/02/{year} 10:00", "unparsable started_at"),
    Defect(5, "emails", 0.5, "rep_id", "", "missing rep_id"),
    Defect(6, "meetings", 0.3, "status", "rescheduled", "unknown status 'rescheduled'"),
    Defect(7, "meetings", 0.7, "scheduled_at", "31/02/{year} 14:00", "unparsable scheduled_at"),
    Defect(8, "web_visits", 0.55, "channel", "tiktok", "unknown channel 'tiktok'"),
    Defect(9, "opportunities", 1.0, "amount", "12,5k", "unparsable amount '12,5k'"),
)

REDELIVERIES: tuple[Redelivery, ...] = (
    Redelivery("calls", 0.2, 3, separate_file=True),
    Redelivery("meetings", 0.6, 2, separate_file=False),
)


def _chunk_for(position: float, n_chunks: int) -> int:
    return min(n_chunks - 1, int(position * n_chunks))


def dirty_id(template_id: str, number: int) -> str:
    """``C20250314-000123`` -> ``C20250314-X04``."""
    return f"{template_id.rsplit('-', 1)[0]}-X{number:02d}"


class DirtInjector:
    """Plans, injects and records the dirt of one generator run."""

    def __init__(self, enabled: bool, n_chunks: int) -> None:
        self.defects: dict[tuple[str, int], list[Defect]] = {}
        self.redeliveries: dict[tuple[str, int], Redelivery] = {}
        self.captured: dict[tuple[str, int], Frame] = {}
        self.rejects: list[ExpectedReject] = []
        self.redelivered: dict[str, int] = {entity: 0 for entity in ID_COLUMNS}
        if not enabled:
            return
        for defect in DEFECTS:
            chunk = (
                FINAL_SNAPSHOT
                if defect.entity == "opportunities"
                else _chunk_for(defect.position, n_chunks)
            )
            self.defects.setdefault((defect.entity, chunk), []).append(defect)
        for redelivery in REDELIVERIES:
            key = (redelivery.entity, _chunk_for(redelivery.position, n_chunks))
            self.redeliveries[key] = redelivery

    def inject(
        self, entity: str, chunk: int, frame: Frame, first_due: int, year: int, sink: Sink
    ) -> Frame:
        """Insert the pending defects of (entity, chunk) among the rows from ``first_due`` on.

        ``frame`` is the next batch for ``sink``; rows before ``first_due`` are too early in the
        month. Returns the frame to write.
        """
        defects = self.defects.get((entity, chunk))
        due = frame_length(frame) - first_due
        if not defects or due <= 0:
            return frame
        template = row_at(frame, first_due + min(2, due - 1))
        position = first_due + 1
        for defect in defects:
            position = min(position + 2, frame_length(frame))
            row = dict(template)
            row[ID_COLUMNS[entity]] = dirty_id(str(template[ID_COLUMNS[entity]]), defect.number)
            row[defect.column] = defect.value.replace("{year}", str(year))
            frame = insert_row(frame, position, row)
            row_number = sink.row_number(sink.rows + position)
            self.rejects.append(ExpectedReject(entity, sink.relative, row_number, defect.reason))
        del self.defects[(entity, chunk)]
        return frame

    def capture(self, entity: str, chunk: int, frame: Frame, first_due: int) -> None:
        """Keep a few good rows (from ``first_due`` on) to deliver again at the chunk's end."""
        key = (entity, chunk)
        spec = self.redeliveries.get(key)
        due = frame_length(frame) - first_due
        if spec is None or key in self.captured or due < spec.rows:
            return
        steps = max(1, spec.rows - 1)
        picks = sorted({first_due + round(i * (due - 1) / steps) for i in range(spec.rows)})
        self.captured[key] = take_rows(frame, picks)

    def redelivery(self, entity: str, chunk: int) -> tuple[Frame, bool] | None:
        """The captured rows for (entity, chunk) and whether they go to a separate file."""
        key = (entity, chunk)
        if key not in self.captured:
            return None
        rows = self.captured.pop(key)
        self.redelivered[entity] += frame_length(rows)
        return rows, self.redeliveries[key].separate_file
