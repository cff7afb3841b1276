"""CRM snapshots of opportunities: each opportunity as it stood at the end of a snapshot day.

Snapshots are taken at each quarter end inside the range and on its last day. An opportunity is
open until its close date has passed; while open it keeps its estimated amount and is touched
every week or two (``updated_at`` grows), and when it closes ``updated_at`` becomes ``closed_at``.
So the same id appears in several snapshots and the latest ``updated_at`` is the current version.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from .activity import Raw, take_raw
from .columns import Frame
from .frames import opportunities_frame
from .roster import Roster


def snapshot_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """Quarter ends strictly inside [start, end), then ``end`` itself."""
    days = []
    for year in range(start.year, end.year + 1):
        for month, day in ((3, 31), (6, 30), (9, 30), (12, 31)):
            quarter_end = dt.date(year, month, day)
            if start <= quarter_end < end:
                days.append(quarter_end)
    return [*days, end]


def snapshot_frame(roster: Roster, opportunities: Raw, at_utc: int) -> Frame:
    """Every opportunity created by ``at_utc``, oldest first, as it was at that instant."""
    visible = take_raw(opportunities, np.flatnonzero(opportunities["created_utc"] <= at_utc))
    order = np.lexsort((visible["seq"], visible["day"], visible["created_utc"]))
    return opportunities_frame(roster, take_raw(visible, order), at_utc)
