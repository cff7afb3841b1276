"""CRM snapshots of opportunities: each opportunity as it stood at the end of a snapshot day.

Snapshots are taken at each quarter end inside the range and on its last day. An opportunity is
open until its close date has passed; while open it keeps its estimated amount and is touched
every week or two (``updated_at`` grows), and when it closes ``updated_at`` becomes ``closed_at``.
So the same id appears in several snapshots and the latest ``updated_at`` is the current version.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .activity import SOURCES, OpportunityBatch
from .columns import Frame, constant, labels, numbers, optional, timestamps
from .roster import Roster

OPPORTUNITY_STATUSES = ("open", "won", "lost")
CURRENCY = "NOK"


def snapshot_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """Quarter ends strictly inside [start, end), then ``end`` itself."""
    days = []
    for year in range(start.year, end.year + 1):
        for month, day in ((3, 31), (6, 30), (9, 30), (12, 31)):
            quarter_end = dt.date(year, month, day)
            if start <= quarter_end < end:
                days.append(quarter_end)
    return [*days, end]


def snapshot_frame(batch: OpportunityBatch, roster: Roster, at_utc: int) -> Frame:
    """Every opportunity created by ``at_utc``, as it was at that instant."""
    visible = np.flatnonzero(batch.created_utc <= at_utc)
    opp = batch.take(visible)
    order = pc.sort_indices(
        pa.table({"created": opp.created_utc, "id": opp.opportunity_id}),
        sort_keys=[("created", "ascending"), ("id", "ascending")],
    ).to_numpy()
    opp = opp.take(order)
    n = len(opp)
    closed = opp.closed_utc <= at_utc
    status = np.where(closed, np.where(opp.won, 1, 2), 0)
    touches = (at_utc - opp.created_utc) // opp.cadence_s
    updated = np.where(closed, opp.closed_utc, opp.created_utc + touches * opp.cadence_s)
    amount = np.where(closed & opp.won, opp.amount, opp.estimate)
    in_local_time = np.zeros(n, dtype=bool)
    return {
        "opportunity_id": opp.opportunity_id,
        "rep_id": labels(roster.rep_id, opp.rep),
        "account_id": opp.account_id,
        "meeting_id": opp.meeting_id,
        "source": labels(SOURCES, opp.source),
        "created_at": timestamps(opp.created_utc, in_local_time, separator=" "),
        "closed_at": optional(timestamps(opp.closed_utc, in_local_time, separator=" "), closed),
        "status": labels(OPPORTUNITY_STATUSES, status),
        "amount": numbers(amount),
        "currency": constant(CURRENCY, n),
        "updated_at": timestamps(updated, in_local_time, separator=" "),
    }
