"""Day-by-day simulation of calls, emails, web visits, meetings and the opportunities they seed.

Every day is drawn from its own random streams, seeded by (seed, scale, date, stream), so a day's
rows do not depend on the date range they are generated in. Only what depends on "now" (the end of
the range) differs: meetings after it are still ``scheduled``, replies and opportunities after it
do not exist yet.

Funnel model, per rep and working day:

* presence: employed, not absent (2.5 %), new hires ramp up over ~6 weeks, July and Christmas
  slower;
* calls (Poisson around the rep's rate) -> outcome -> connected outbound calls may book a meeting;
* emails, some answered; a few sent just after midnight (written in UTC, so the UTC date is the
  day before the Oslo date);
* referral/other meetings trickle in;
* web visits (every day) may end in a meeting request -> inbound meeting with ``visitor_id``;
* meetings are held / no-show / cancelled; held ones may become opportunities that close won or
  lost 2-120 days later (8 % stall and stay open).

The simulation produces numeric column arrays (``Raw``); ``frames.py`` turns them into text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from .names import CAMPAIGN_WEIGHTS, CHANNEL_SHARE, CHANNELS, MEETING_REQUEST_P, PAGE_WEIGHTS
from .roster import Roster, scale_key, seed_key
from .timekeeping import (
    DAY_S,
    HOUR_S,
    day_start,
    end_of_day_utc,
    epoch_day,
    is_working_day,
    local_to_utc,
    norwegian_holidays,
    working_day_calendar,
)

Raw = dict[str, np.ndarray]

STREAM_PRESENCE, STREAM_CALLS, STREAM_EMAILS, STREAM_VISITS = 10, 11, 12, 13
STREAM_REFERRALS, STREAM_MEETINGS = 14, 15

CONNECTED, NO_ANSWER, VOICEMAIL = 0, 1, 2  # indexes into frames.OUTCOMES
OUTBOUND, INBOUND, REFERRAL, OTHER = 0, 1, 2, 3  # indexes into frames.SOURCES
SCHEDULED, HELD, NO_SHOW, CANCELLED = 0, 1, 2, 3  # indexes into frames.MEETING_STATUSES

ABSENCE_P = 0.025
INBOUND_CALL_P = 0.04
MISSED_CALL_P = (0.55, 0.30, 0.09, 0.06)  # no_answer, voicemail, busy, failed
REFERRAL_RATE = 0.03  # referral/other meetings per rep and working day
VISITS_PER_YEAR_AT_SCALE_1 = 5_200_000
ACCOUNTS_AT_SCALE_1 = 4_000
VISITORS_AT_SCALE_1 = 2_500_000
CONTACTS_PER_ACCOUNT = 6
OPPORTUNITY_P = (0.22, 0.36, 0.45, 0.30)  # by meeting source, for held meetings
WIN_P = (0.20, 0.28, 0.38, 0.24)  # by source; top performers add their win bonus
NEVER = np.iinfo(np.int64).max // 4  # close time of opportunities that stay open

# Time-of-day intensity as (from hour, to hour, weight), Oslo wall clock.
_CALL_HOURS = ((7.5, 8, 0.3), (8, 11.5, 1), (11.5, 12.5, 0.45), (12.5, 16, 1), (16, 16.5, 0.6),
               (16.5, 18, 0.2), (18, 20, 0.04))  # fmt: skip
_EMAIL_HOURS = ((0, 1.5, 0.05), (7, 8, 0.5), (8, 16, 1), (16, 17.5, 0.6), (17.5, 19, 0.25),
                (19, 23.5, 0.12))  # fmt: skip
_VISIT_HOURS = ((0, 6, 0.08), (6, 8, 0.4), (8, 12, 1.2), (12, 16, 1.1), (16, 20, 0.7),
                (20, 24, 0.45))  # fmt: skip


@dataclass(frozen=True)
class SimContext:
    """Everything a day's simulation needs besides the date."""

    roster: Roster
    seed: int
    scale_key: int
    end_utc: int  # the last instant of the simulated range ("now")
    busdays: np.busdaycalendar
    n_accounts: int
    n_visitors: int
    visits_per_day: float

    def rng(self, day: dt.date, stream: int) -> np.random.Generator:
        return np.random.default_rng(
            np.random.SeedSequence([self.seed, self.scale_key, day.toordinal(), stream])
        )


def make_context(roster: Roster, seed: int, scale: float, end: dt.date) -> SimContext:
    """The simulation context for a run ending on ``end`` (inclusive)."""
    return SimContext(
        roster=roster,
        seed=seed_key(seed),
        scale_key=scale_key(scale),
        end_utc=end_of_day_utc(end),
        busdays=working_day_calendar(1990, end.year + 3),
        n_accounts=max(300, round(ACCOUNTS_AT_SCALE_1 * scale)),
        n_visitors=max(5_000, round(VISITORS_AT_SCALE_1 * scale)),
        visits_per_day=VISITS_PER_YEAR_AT_SCALE_1 * scale / 365.0,
    )


@dataclass(frozen=True)
class Presence:
    """Who works on a day and how intensely (0 = not working)."""

    employed: np.ndarray
    intensity: np.ndarray


@dataclass(frozen=True)
class DayActivity:
    """One day's rows per entity (numeric) plus the opportunities its meetings start."""

    raws: dict[str, Raw]
    opportunities: Raw


def simulate_day(ctx: SimContext, day: dt.date) -> DayActivity:
    """All activity of one Oslo calendar day."""
    presence = rep_presence(ctx, day)
    calls, outbound = simulate_calls(ctx, day, presence)
    emails = simulate_emails(ctx, day, presence)
    visits, inbound = simulate_visits(ctx, day, presence)
    referrals = simulate_referrals(ctx, day, presence)
    meetings, opportunities = build_meetings(ctx, day, [outbound, inbound, referrals])
    raws = {"web_visits": visits, "calls": calls, "emails": emails, "meetings": meetings}
    return DayActivity(raws=raws, opportunities=opportunities)


# --- helpers ------------------------------------------------------------------------------------


def raw_length(raw: Raw) -> int:
    """Rows in a raw table."""
    return len(next(iter(raw.values())))


def take_raw(raw: Raw, index: np.ndarray) -> Raw:
    """The given rows of a raw table."""
    return {name: values[index] for name, values in raw.items()}


def concat_raws(raws: Sequence[Raw]) -> Raw:
    """The rows of several raw tables with the same columns."""
    return {name: np.concatenate([r[name] for r in raws]) for name in raws[0]}


def _day_columns(day: dt.date, n: int) -> Raw:
    """``day`` (YYYYMMDD) and ``seq`` (1..n): the parts of the rows' ids."""
    return {
        "day": np.full(n, day.year * 10_000 + day.month * 100 + day.day, dtype=np.int64),
        "seq": np.arange(1, n + 1, dtype=np.int64),
    }


def _hours_cdf(spans: Sequence[tuple[float, float, float]]) -> np.ndarray:
    """Cumulative distribution over the 96 quarter-hours of a day."""
    weights = np.zeros(96)
    for start, stop, weight in spans:
        weights[round(start * 4) : round(stop * 4)] = weight
    cdf = np.cumsum(weights) / weights.sum()
    cdf[-1] = 1.0
    return cdf


@cache
def _cdfs() -> dict[str, np.ndarray]:
    return {
        "calls": _hours_cdf(_CALL_HOURS),
        "emails": _hours_cdf(_EMAIL_HOURS),
        "visits": _hours_cdf(_VISIT_HOURS),
    }


def _times_of_day(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Local seconds after midnight following the kind's daily rhythm."""
    quarter = np.searchsorted(_cdfs()[kind], rng.random(n), side="right")
    return quarter * 900 + rng.integers(0, 900, n)


def _by_group(
    groups: np.ndarray, weights: Sequence[Sequence[float]], rng: np.random.Generator
) -> np.ndarray:
    """A category per row, drawn from the weight row of the row's group."""
    table = np.asarray(weights, dtype=float)
    cdf = np.cumsum(table, axis=1) / table.sum(axis=1, keepdims=True)
    cdf[:, -1] = 1.0
    return (rng.random(len(groups))[:, None] >= cdf[groups]).sum(axis=1)


def _slots(n: int, rng: np.random.Generator) -> np.ndarray:
    """Meeting start times: on the half hour between 08:30 and 15:30."""
    return 8 * HOUR_S + 1800 * rng.integers(1, 16, n)


def _team_accounts(ctx: SimContext, rep: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An account from each rep's team territory."""
    n_teams = len(ctx.roster.teams)
    per_team = ctx.n_accounts // n_teams
    return ctx.roster.team_index[rep] + n_teams * rng.integers(0, per_team, len(rep))


def _contacts(account: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return account * CONTACTS_PER_ACCOUNT + rng.integers(0, CONTACTS_PER_ACCOUNT, len(account))


def _workload(day: dt.date) -> float:
    """Relative sales effort on a working day (Friday and summer are slower)."""
    weekday = (1.0, 1.04, 1.04, 1.0, 0.9, 0.0, 0.0)[day.weekday()]
    if day.month == 7:
        return weekday * 0.9
    if day.month == 12 and day.day >= 20:
        return weekday * 0.75
    return weekday


def _traffic(day: dt.date) -> float:
    """Relative web traffic (weekends, holidays and summer are quieter)."""
    factor = (1.18, 1.18, 1.18, 1.15, 1.05, 0.58, 0.68)[day.weekday()]
    if day in norwegian_holidays(day.year):
        factor *= 0.6
    if day.month == 7:
        factor *= 0.8
    elif day.month == 12 and day.day >= 20:
        factor *= 0.7
    return factor


def _scheduled_local(
    ctx: SimContext, day: dt.date, working_days: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Meeting times (local): ``working_days`` working days after ``day``, at a half-hour slot."""
    meeting_day = np.busday_offset(
        np.datetime64(day), working_days, roll="forward", busdaycal=ctx.busdays
    )
    return meeting_day.astype(np.int64) * DAY_S + _slots(len(working_days), rng)


def _meeting_seeds(
    rep: np.ndarray,
    booked_utc: np.ndarray,
    scheduled_local: np.ndarray,
    source: np.ndarray | int,
    account: np.ndarray,
    visitor: np.ndarray | None = None,
) -> Raw:
    """Meetings booked on a day, before statuses and ids are drawn."""
    n = len(rep)
    return {
        "rep": rep,
        "booked_utc": booked_utc,
        "scheduled_local": scheduled_local,
        "scheduled_utc": local_to_utc(scheduled_local),
        "source": np.broadcast_to(np.asarray(source, dtype=np.int64), (n,)).copy(),
        "account": account,
        "visitor": np.full(n, -1, dtype=np.int64) if visitor is None else visitor,
    }


# --- reps ---------------------------------------------------------------------------------------


def rep_presence(ctx: SimContext, day: dt.date) -> Presence:
    """Employment, absence and ramp-up of every rep on a day."""
    roster, today = ctx.roster, epoch_day(day)
    employed = (roster.hired_day <= today) & (today < roster.left_day)
    absent = ctx.rng(day, STREAM_PRESENCE).random(roster.size) < ABSENCE_P
    working = employed & ~absent & is_working_day(day)
    ramp = np.clip(0.55 + (today - roster.hired_day) / 60.0, 0.55, 1.0)
    return Presence(employed=employed, intensity=np.where(working, ramp * _workload(day), 0.0))


# --- calls --------------------------------------------------------------------------------------


def _call_outcomes(
    inbound: np.ndarray, connect_p: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    n = len(inbound)
    connected = rng.random(n) < np.where(inbound, 0.85, connect_p)
    missed = 1 + np.searchsorted(np.cumsum(MISSED_CALL_P)[:-1], rng.random(n), side="right")
    missed = np.where(inbound, np.where(missed == NO_ANSWER, NO_ANSWER, VOICEMAIL), missed)
    return np.where(connected, CONNECTED, missed)


def _call_durations(outcome: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(outcome)
    talk = np.clip(rng.lognormal(np.log(170.0), 0.8, n), 20, 3600).astype(np.int64)
    message = rng.integers(12, 50, n)
    return np.where(outcome == CONNECTED, talk, np.where(outcome == VOICEMAIL, message, 0))


def simulate_calls(ctx: SimContext, day: dt.date, presence: Presence) -> tuple[Raw, Raw]:
    """The day's calls, and the meetings booked on connected outbound calls."""
    roster, rng = ctx.roster, ctx.rng(day, STREAM_CALLS)
    rep = np.repeat(np.arange(roster.size), rng.poisson(roster.call_rate * presence.intensity))
    n = len(rep)
    utc = local_to_utc(day_start(day) + _times_of_day("calls", n, rng))
    order = np.lexsort((rep, utc))
    rep, utc = rep[order], utc[order]
    inbound = rng.random(n) < INBOUND_CALL_P
    outcome = _call_outcomes(inbound, roster.connect_p[rep], rng)
    duration = _call_durations(outcome, rng)
    account = _team_accounts(ctx, rep, rng)
    calls = {
        **_day_columns(day, n),
        "rep": rep,
        "utc": utc,
        "as_utc": rng.random(n) < 0.2,
        "duration": duration,
        "inbound": inbound,
        "outcome": outcome,
        "contact": np.where(rng.random(n) < 0.9, _contacts(account, rng), -1),
        "account": np.where(rng.random(n) < 0.85, account, -1),
    }
    books = ~inbound & (outcome == CONNECTED) & (rng.random(n) < roster.meeting_p[rep])
    seeds = _meeting_seeds(
        rep=rep[books],
        booked_utc=(utc + duration)[books],
        scheduled_local=_scheduled_local(ctx, day, rng.integers(1, 11, int(books.sum())), rng),
        source=OUTBOUND,
        account=calls["account"][books],
    )
    return calls, seeds


# --- emails -------------------------------------------------------------------------------------


def simulate_emails(ctx: SimContext, day: dt.date, presence: Presence) -> Raw:
    """The day's outbound emails; some get a reply before the end of the range."""
    roster, rng = ctx.roster, ctx.rng(day, STREAM_EMAILS)
    rep = np.repeat(np.arange(roster.size), rng.poisson(roster.email_rate * presence.intensity))
    n = len(rep)
    local = _times_of_day("emails", n, rng)
    order = np.lexsort((rep, local))
    rep, local = rep[order], local[order]
    utc = local_to_utc(day_start(day) + local)
    after_midnight = local < 2 * HOUR_S  # written in UTC: the UTC date is the previous day
    replied_utc = utc + (rng.exponential(16 * HOUR_S, n) + 300).astype(np.int64)
    replied = (rng.random(n) < roster.reply_p[rep]) & (replied_utc <= ctx.end_utc)
    account = _team_accounts(ctx, rep, rng)
    return {
        **_day_columns(day, n),
        "rep": rep,
        "utc": utc,
        "as_utc": after_midnight | (rng.random(n) < 0.45),
        "replied_utc": np.where(replied, replied_utc, -1),
        "replied_as_utc": rng.random(n) < 0.45,
        "contact": np.where(rng.random(n) < 0.95, _contacts(account, rng), -1),
        "account": np.where(rng.random(n) < 0.8, account, -1),
    }


# --- web visits ---------------------------------------------------------------------------------


def simulate_visits(ctx: SimContext, day: dt.date, presence: Presence) -> tuple[Raw, Raw]:
    """The day's web visits, and the inbound meetings some visitors book."""
    rng = ctx.rng(day, STREAM_VISITS)
    n = int(rng.poisson(ctx.visits_per_day * _traffic(day)))
    utc = np.sort(local_to_utc(day_start(day) + _times_of_day("visits", n, rng)))
    visitor = (ctx.n_visitors * rng.random(n) ** 2.2).astype(np.int64)
    share = np.asarray(CHANNEL_SHARE)
    channel = rng.choice(len(CHANNELS), size=n, p=share / share.sum())
    page = _by_group(channel, PAGE_WEIGHTS, rng)
    identified = visitor % 6 == 0
    visits = {
        **_day_columns(day, n),
        "utc": utc,
        "visitor": visitor,
        "channel": channel,
        "page": page,
        "campaign": _by_group(channel, CAMPAIGN_WEIGHTS, rng),
        "account": np.where(identified, (visitor * 7919) % ctx.n_accounts, -1),
    }
    requests = np.flatnonzero(rng.random(n) < np.asarray(MEETING_REQUEST_P)[page])
    return visits, _inbound_seeds(ctx, day, presence, rng, take_raw(visits, requests))


def _inbound_seeds(
    ctx: SimContext, day: dt.date, presence: Presence, rng: np.random.Generator, visits: Raw
) -> Raw:
    """Meeting requests from visits, routed to a rep employed that day."""
    staff = np.flatnonzero(presence.employed)
    k = raw_length(visits) if len(staff) else 0
    rep = staff[rng.integers(0, len(staff), k)] if k else np.zeros(0, dtype=np.int64)
    crm_match = np.where(rng.random(k) < 0.5, _team_accounts(ctx, rep, rng), -1)
    return _meeting_seeds(
        rep=rep,
        booked_utc=visits["utc"][:k] + rng.integers(120, 2700, k),
        scheduled_local=_scheduled_local(ctx, day, rng.integers(1, 8, k), rng),
        source=INBOUND,
        account=np.where(visits["account"][:k] >= 0, visits["account"][:k], crm_match),
        visitor=visits["visitor"][:k],
    )


# --- referral and other meetings ----------------------------------------------------------------


def simulate_referrals(ctx: SimContext, day: dt.date, presence: Presence) -> Raw:
    """Meetings from referrals (and a few from events: source ``other``)."""
    rng = ctx.rng(day, STREAM_REFERRALS)
    working = presence.intensity > 0
    rep = np.repeat(np.arange(ctx.roster.size), rng.poisson(REFERRAL_RATE * working))
    k = len(rep)
    return _meeting_seeds(
        rep=rep,
        booked_utc=local_to_utc(day_start(day) + _times_of_day("calls", k, rng)),
        scheduled_local=_scheduled_local(ctx, day, rng.integers(2, 13, k), rng),
        source=np.where(rng.random(k) < 0.2, OTHER, REFERRAL),
        account=_team_accounts(ctx, rep, rng),
    )


# --- meetings and opportunities -----------------------------------------------------------------


def _meeting_outcomes(ctx: SimContext, seeds: Raw, rng: np.random.Generator) -> np.ndarray:
    """What happens at each meeting, whether or not it lies in the future."""
    roster, rep = ctx.roster, seeds["rep"]
    inbound_bonus = np.where(seeds["source"] == INBOUND, 0.03, 0.0)
    held_p = np.clip(roster.held_p[rep] + inbound_bonus, 0.0, 0.97)
    u = rng.random(len(rep))
    no_show = u < held_p + (1 - held_p) * 0.45
    status = np.where(u < held_p, HELD, np.where(no_show, NO_SHOW, CANCELLED))
    local_day = seeds["scheduled_local"] // DAY_S
    return np.where(local_day >= roster.left_day[rep], CANCELLED, status)  # the rep has left


def build_meetings(ctx: SimContext, day: dt.date, parts: Sequence[Raw]) -> tuple[Raw, Raw]:
    """Meetings booked on the day (ordered by booking time) and the opportunities they start."""
    seeds = concat_raws(parts)
    order = np.lexsort((seeds["source"], seeds["rep"], seeds["booked_utc"]))
    seeds = take_raw(seeds, order)
    rng, m = ctx.rng(day, STREAM_MEETINGS), raw_length(seeds)
    outcome = _meeting_outcomes(ctx, seeds, rng)
    meetings = {
        **_day_columns(day, m),
        **seeds,
        "status": np.where(seeds["scheduled_utc"] > ctx.end_utc, SCHEDULED, outcome),
        "as_utc": rng.random(m) < 0.1,
    }
    return meetings, _opportunities(ctx, meetings, outcome == HELD, rng)


def _opportunities(
    ctx: SimContext, meetings: Raw, held: np.ndarray, rng: np.random.Generator
) -> Raw:
    """Opportunities from held meetings: created a few days later, closed 2-120 days after."""
    roster, m = ctx.roster, raw_length(meetings)
    rep, source = meetings["rep"], meetings["source"]
    make = held & (
        rng.random(m) < np.asarray(OPPORTUNITY_P)[source] * roster.opportunity_factor[rep]
    )
    scheduled_day = (meetings["scheduled_local"] // DAY_S).astype("datetime64[D]")
    created_day = np.busday_offset(
        scheduled_day, rng.integers(0, 5, m), roll="forward", busdaycal=ctx.busdays
    )
    created_utc = local_to_utc(
        created_day.astype(np.int64) * DAY_S
        + meetings["scheduled_local"] % DAY_S
        + rng.integers(1800, 10800, m)
    )
    stalled = rng.random(m) < 0.08  # never closes: stays open in every snapshot
    cycle = np.clip(np.round(rng.lognormal(np.log(30.0), 0.75, m)), 2, 120).astype(np.int64)
    close_day = np.busday_offset(created_day + cycle, 0, roll="forward", busdaycal=ctx.busdays)
    closed_utc = local_to_utc(
        close_day.astype(np.int64) * DAY_S + 9 * HOUR_S + rng.integers(0, 8 * HOUR_S, m)
    )
    closed_utc = np.where(stalled, NEVER, closed_utc)
    won = ~stalled & (rng.random(m) < np.asarray(WIN_P)[source] + roster.win_bonus[rep])
    deal_size = np.array([t.deal_size for t in roster.teams])[roster.team_index[rep]]
    base = np.clip(rng.lognormal(np.log(170_000.0), 0.5, m), 60_000, 600_000)
    estimate = np.round(base * deal_size * roster.amount_factor[rep] / 5000) * 5000
    amount = np.round(estimate * rng.uniform(0.85, 1.05, m) / 1000) * 1000
    opportunities = {
        "day": meetings["day"],
        "seq": meetings["seq"],
        "rep": rep,
        "account": meetings["account"],
        "source": source,
        "created_utc": created_utc,
        "closed_utc": closed_utc,
        "won": won,
        "estimate": estimate.astype(np.int64),
        "amount": amount.astype(np.int64),
        "cadence_s": np.where(rng.random(m) < 0.5, 7, 14) * DAY_S,
    }
    return take_raw(opportunities, np.flatnonzero(make & (created_utc <= ctx.end_utc)))
