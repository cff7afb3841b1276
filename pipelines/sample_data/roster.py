"""The rep roster: who sells, in which team, since when, and how well.

The roster depends only on (seed, scale), never on the simulated date range, so separate runs for
different periods describe the same people. Dates are anchored on ``ROSTER_YEAR``: most reps were
hired before it, a few join during it and one or two leave during it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from .names import FIRST_NAMES, LAST_NAMES, TEAMS, Team
from .timekeeping import epoch_day, is_working_day

ROSTER_YEAR = 2025
TOP_SHARE = 0.2
NO_LEAVING = np.iinfo(np.int64).max // 4
STREAM_ROSTER = 1


@dataclass(frozen=True)
class Roster:
    """Reps as parallel arrays (index = position in the roster)."""

    rep_id: tuple[str, ...]
    rep_name: tuple[str, ...]
    teams: tuple[Team, ...]
    team_index: np.ndarray
    hired_on: tuple[dt.date, ...]
    left_on: tuple[dt.date | None, ...]
    hired_day: np.ndarray  # epoch days
    left_day: np.ndarray  # epoch days, NO_LEAVING when still employed
    is_top: np.ndarray
    call_rate: np.ndarray  # calls per full working day
    email_rate: np.ndarray
    connect_p: np.ndarray  # share of outbound calls that connect
    meeting_p: np.ndarray  # share of connected outbound calls that book a meeting
    held_p: np.ndarray  # share of meetings that are held
    reply_p: np.ndarray
    opportunity_factor: np.ndarray
    win_bonus: np.ndarray
    amount_factor: np.ndarray

    @property
    def size(self) -> int:
        return len(self.rep_id)


def rep_count(scale: float) -> int:
    """Number of reps for a scale: 100 at scale 1, never fewer than 5."""
    return max(5, round(100 * scale))


def team_count(n_reps: int) -> int:
    """3 to 6 teams, growing with the org."""
    if n_reps <= 15:
        return 3
    if n_reps <= 30:
        return 4
    if n_reps <= 60:
        return 5
    return 6


def scale_key(scale: float) -> int:
    """An integer identifying a scale, for seeding."""
    return round(scale * 1_000_000)


def seed_key(seed: int) -> int:
    """A non-negative integer for numpy's SeedSequence."""
    return seed % (1 << 63)


def build_roster(seed: int, scale: float) -> Roster:
    """The deterministic roster for (seed, scale)."""
    rng = np.random.default_rng(
        np.random.SeedSequence([seed_key(seed), scale_key(scale), STREAM_ROSTER])
    )
    n = rep_count(scale)
    teams = TEAMS[: team_count(n)]
    names = _names(n, rng)
    team_index = rng.permutation(np.arange(n) % len(teams))
    is_top = np.zeros(n, dtype=bool)
    is_top[rng.choice(n, size=max(1, round(TOP_SHARE * n)), replace=False)] = True
    hired_on, left_on = _employment(is_top, rng)
    width = max(3, len(str(n)))
    return Roster(
        rep_id=tuple(f"R{i + 1:0{width}d}" for i in range(n)),
        rep_name=names,
        teams=teams,
        team_index=team_index,
        hired_on=hired_on,
        left_on=left_on,
        hired_day=np.array([epoch_day(d) for d in hired_on], dtype=np.int64),
        left_day=np.array(
            [NO_LEAVING if d is None else epoch_day(d) for d in left_on], dtype=np.int64
        ),
        is_top=is_top,
        **_performance(is_top, rng),
    )


def _names(n: int, rng: np.random.Generator) -> tuple[str, ...]:
    combos = len(FIRST_NAMES) * len(LAST_NAMES)
    picks = rng.choice(combos, size=n, replace=n > combos)
    return tuple(
        f"{FIRST_NAMES[p // len(LAST_NAMES)]} {LAST_NAMES[p % len(LAST_NAMES)]}" for p in picks
    )


def _first_working_day(year: int, month: int) -> dt.date:
    day = dt.date(year, month, 1)
    while not is_working_day(day):
        day += dt.timedelta(days=1)
    return day


def _employment(
    is_top: np.ndarray, rng: np.random.Generator
) -> tuple[tuple[dt.date, ...], tuple[dt.date | None, ...]]:
    """Hire dates (first working day of a month) and, for one or two reps, a leaving date."""
    n = len(is_top)
    n_new = max(2, round(0.08 * n))
    n_leavers = max(1, round(0.02 * n))
    others = rng.permutation(np.flatnonzero(~is_top))
    new_hires = set(others[:n_new].tolist())
    leavers = set(others[n_new : n_new + n_leavers].tolist())
    hired: list[dt.date] = []
    left: list[dt.date | None] = []
    for i in range(n):
        if i in new_hires:
            hired.append(_first_working_day(ROSTER_YEAR, int(rng.integers(2, 10))))
        else:
            year = int(rng.integers(ROSTER_YEAR - 9, ROSTER_YEAR))
            hired.append(_first_working_day(year, int(rng.integers(1, 13))))
        left.append(_leaving_day(rng) if i in leavers else None)
    return tuple(hired), tuple(left)


def _leaving_day(rng: np.random.Generator) -> dt.date:
    day = dt.date(ROSTER_YEAR, 4, 1) + dt.timedelta(days=int(rng.integers(0, 200)))
    while not is_working_day(day):
        day += dt.timedelta(days=1)
    return day


def _performance(is_top: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-rep rates: top performers call more, connect more, convert and win more."""

    def draw(top: float, other: float, spread: float, low: float, high: float) -> np.ndarray:
        centre = np.where(is_top, top, other)
        return np.clip(centre + rng.normal(0.0, spread, len(is_top)), low, high)

    return {
        "call_rate": draw(81.0, 66.0, 2.5, 58.0, 88.0),
        "email_rate": draw(16.0, 13.5, 1.8, 6.0, 22.0),
        "connect_p": draw(0.17, 0.125, 0.012, 0.08, 0.22),
        "meeting_p": draw(0.095, 0.065, 0.008, 0.03, 0.13),
        "held_p": draw(0.86, 0.79, 0.025, 0.65, 0.93),
        "reply_p": draw(0.11, 0.08, 0.01, 0.03, 0.16),
        "opportunity_factor": draw(1.2, 1.0, 0.06, 0.8, 1.4),
        "win_bonus": draw(0.09, 0.0, 0.025, -0.08, 0.16),
        "amount_factor": draw(1.15, 1.0, 0.06, 0.8, 1.35),
    }
