"""Calendar and clock helpers: Norwegian public holidays, working days and Europe/Oslo offsets.

Instants are int64 seconds since the Unix epoch (UTC). "Local" values are the same kind of number
shifted to Oslo wall-clock time. The UTC offset follows the EU summer-time rule (last Sunday of
March to last Sunday of October, switching at 01:00 UTC), so whole arrays convert vectorised.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import numpy as np

DAY_S = 86_400
HOUR_S = 3_600
EPOCH = dt.date(1970, 1, 1)

_MOVABLE_HOLIDAYS = (-3, -2, 0, 1, 39, 49, 50)  # Easter-relative: Maundy Thu … Whit Monday
_FIXED_HOLIDAYS = ((1, 1), (5, 1), (5, 17), (12, 25), (12, 26))


def easter_sunday(year: int) -> dt.date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    g = (b - (b + 8) // 25 + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday_shift = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * weekday_shift) // 451
    month, day = divmod(h + weekday_shift - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


@cache
def norwegian_holidays(year: int) -> frozenset[dt.date]:
    """Norwegian public holidays (helligdager and 1/17 May) of one year."""
    easter = easter_sunday(year)
    movable = [easter + dt.timedelta(days=k) for k in _MOVABLE_HOLIDAYS]
    fixed = [dt.date(year, month, day) for month, day in _FIXED_HOLIDAYS]
    return frozenset(movable + fixed)


def is_working_day(day: dt.date) -> bool:
    """Monday to Friday and not a Norwegian public holiday."""
    return day.weekday() < 5 and day not in norwegian_holidays(day.year)


def working_day_calendar(first_year: int, last_year: int) -> np.busdaycalendar:
    """A numpy business-day calendar (Mon-Fri minus Norwegian holidays) for whole years."""
    holidays = sorted(
        day for year in range(first_year, last_year + 1) for day in norwegian_holidays(year)
    )
    return np.busdaycalendar(weekmask="1111100", holidays=np.array(holidays, dtype="datetime64[D]"))


def epoch_day(day: dt.date) -> int:
    """Days since 1970-01-01."""
    return (day - EPOCH).days


def day_start(day: dt.date) -> int:
    """Seconds since the epoch of midnight of ``day`` (as a local wall-clock number)."""
    return epoch_day(day) * DAY_S


def _last_sunday(year: int, month: int) -> dt.date:
    last = dt.date(year, month, 31)  # only used for March and October
    return last - dt.timedelta(days=(last.weekday() + 1) % 7)


@cache
def _dst_transitions() -> np.ndarray:
    """UTC instants at which Oslo switches clocks: [start, end, start, end, …] from 1980."""
    instants = [
        day_start(_last_sunday(year, month)) + HOUR_S
        for year in range(1980, 2200)
        for month in (3, 10)
    ]
    return np.array(instants, dtype=np.int64)


def oslo_offset(utc: np.ndarray) -> np.ndarray:
    """UTC offset in seconds (3600 or 7200) of Europe/Oslo at the given instants."""
    index = np.searchsorted(_dst_transitions(), utc, side="right")
    return np.where(index % 2 == 1, 2 * HOUR_S, HOUR_S).astype(np.int64)


def local_to_utc(local: np.ndarray) -> np.ndarray:
    """Instants for Oslo wall-clock times (non-existent/ambiguous hours resolve arbitrarily)."""
    local = np.asarray(local, dtype=np.int64)
    return local - oslo_offset(local - HOUR_S)


def end_of_day_utc(day: dt.date) -> int:
    """The instant of 23:59:59 Oslo time on ``day``."""
    return int(local_to_utc(np.array([day_start(day) + DAY_S - 1]))[0])
