"""Day-by-day simulation of calls, emails, web visits, meetings and the opportunities they seed.

Every day is drawn from its own random streams, seeded by (seed, scale, date, stream), so a day's
rows do not depend on the date range they are generated in. Only what depends on "now" (the end of
the range) differs: meetings after it are still ``scheduled``, replies and opportunities after it
do not exist yet.

Funnel model, per rep and working day:

* presence: employed, not absent (3 %), new hires ramp up over ~6 weeks, July and Christmas slow;
* calls (Poisson around the rep's rate) -> outcome -> connected outbound calls may book a meeting;
* emails, some answered; a few sent just after midnight (written in UTC, so the UTC date is the
  day before the Oslo date);
* referral/other meetings trickle in;
* web visits (every day) may end in a meeting request -> inbound meeting with ``visitor_id``;
* meetings are held / no-show / cancelled; held ones may become opportunities that close won or
  lost 2-120 days later (some stall and stay open).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .columns import Frame, constant, labels, numbers, optional, padded_ids, timestamps
from .names import (
    CAMPAIGN_WEIGHTS,
    CAMPAIGNS,
    CHANNEL_SHARE,
    CHANNELS,
    LANDING_PAGES,
    MEETING_REQUEST_P,
    PAGE_WEIGHTS,
)
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

STREAM_PRESENCE, STREAM_CALLS, STREAM_EMAILS, STREAM_VISITS = 10, 11, 12, 13
STREAM_REFERRALS, STREAM_MEETINGS = 14, 15

DIRECTIONS = ("outbound", "inbound")
OUTCOMES = ("connected", "no_answer", "voicemail", "busy", "failed")
CONNECTED, NO_ANSWER, VOICEMAIL = 0, 1, 2
SOURCES = ("outbound", "inbound", "referral", "other")
OUTBOUND, INBOUND, REFERRAL, OTHER = 0, 1, 2, 3
STATUSES = ("scheduled", "held", "no_show", "cancelled")
SCHEDULED, HELD, NO_SHOW, CANCELLED = 0, 1, 2, 3

ABSENCE_P = 0.03
INBOUND_CALL_P = 0.04
MISSED_CALL_P = (0.55, 0.30, 0.09, 0.06)  # no_answer, voicemail, busy, failed
REFERRAL_RATE = 0.022  # referral/other meetings per rep and working day
VISITS_PER_YEAR_AT_SCALE_1 = 5_000_000
ACCOUNTS_AT_SCALE_1 = 4_000
VISITORS_AT_SCALE_1 = 2_500_000
CONTACTS_PER_ACCOUNT = 6
OPPORTUNITY_P = (0.22, 0.36, 0.45, 0.30)  # by meeting source, for held meetings
WIN_P = (0.20, 0.28, 0.38, 0.24)  # by source; top performers add their win bonus
ID_WIDTH = 6

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
class MeetingSeeds:
    """Meetings booked on a day, before statuses and ids are drawn."""

    rep: np.ndarray
    booked_utc: np.ndarray
    scheduled_day: np.ndarray  # datetime64[D]
    slot_s: np.ndarray  # local seconds after midnight
    source: np.ndarray
    account: np.ndarray  # -1 = unknown
    visitor: pa.Array  # "" = none


@dataclass(frozen=True)
class OpportunityBatch:
    """Opportunities (as they end up by the end of the range) created from meetings."""

    opportunity_id: pa.Array
    rep: np.ndarray
    account_id: pa.Array
    meeting_id: pa.Array
    source: np.ndarray
    created_utc: np.ndarray
    closed_utc: np.ndarray  # planned close; open while it lies after the snapshot
    won: np.ndarray
    estimate: np.ndarray  # amount while open (and for lost deals)
    amount: np.ndarray  # contract value when won
    cadence_s: np.ndarray  # open opportunities are touched every cadence

    def __len__(self) -> int:
        return len(self.rep)

    def take(self, index: np.ndarray) -> OpportunityBatch:
        return OpportunityBatch(**{f.name: _take(getattr(self, f.name), index) for f in fields(self)})


@dataclass(frozen=True)
class DayActivity:
    """The delivery frames of one day plus the opportunities its meetings start."""

    frames: dict[str, Frame]
    opportunities: OpportunityBatch


def simulate_day(ctx: SimContext, day: dt.date) -> DayActivity:
    """All activity of one Oslo calendar day."""
    presence = rep_presence(ctx, day)
    calls, outbound = simulate_calls(ctx, day, presence)
    emails = simulate_emails(ctx, day, presence)
    visits, inbound = simulate_visits(ctx, day, presence)
    referrals = simulate_referrals(ctx, day, presence)
    meetings, opportunities = build_meetings(ctx, day, [outbound, inbound, referrals])
    frames = {"web_visits": visits, "calls": calls, "emails": emails, "meetings": meetings}
    return DayActivity(frames=frames, opportunities=opportunities)


# --- helpers ------------------------------------------------------------------------------------


def _take(values: np.ndarray | pa.Array, index: np.ndarray) -> np.ndarray | pa.Array:
    if isinstance(values, pa.Array):
        return values.take(pa.array(index, pa.int64()))
    return values[index]


def concat_batches(batches: Sequence[OpportunityBatch]) -> OpportunityBatch:
    """One batch holding the rows of several."""
    merged = {}
    for f in fields(OpportunityBatch):
        parts = [getattr(b, f.name) for b in batches]
        if isinstance(parts[0], pa.Array):
            merged[f.name] = pa.concat_arrays(parts)
        else:
            merged[f.name] = np.concatenate(parts)
    return OpportunityBatch(**merged)


def _concat_seeds(seeds: Sequence[MeetingSeeds]) -> MeetingSeeds:
    merged = {}
    for f in fields(MeetingSeeds):
        parts = [getattr(s, f.name) for s in seeds]
        if isinstance(parts[0], pa.Array):
            merged[f.name] = pa.concat_arrays(parts)
        else:
            merged[f.name] = np.concatenate(parts)
    return MeetingSeeds(**merged)


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


def _account_ids(account: np.ndarray) -> pa.Array:
    return optional(padded_ids("AC-", np.maximum(account, 0), 5), account >= 0)


def _rep_ids(ctx: SimContext, rep: np.ndarray) -> pa.Array:
    return labels(ctx.roster.rep_id, rep)


def _day_prefix(letter: str, day: dt.date) -> str:
    return f"{letter}{day:%Y%m%d}-"


def _sequence_ids(letter: str, day: dt.date, n: int) -> pa.Array:
    return padded_ids(_day_prefix(letter, day), np.arange(1, n + 1), ID_WIDTH)


def _workload(day: dt.date) -> float:
    """Relative sales effort on a working day (Friday and summer are slower)."""
    weekday = (1.0, 1.04, 1.04, 1.0, 0.9, 0.0, 0.0)[day.weekday()]
    if day.month == 7:
        return weekday * 0.8
    if day.month == 12 and day.day >= 20:
        return weekday * 0.6
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


def _empty_seeds() -> MeetingSeeds:
    empty = np.zeros(0, dtype=np.int64)
    return MeetingSeeds(
        rep=empty,
        booked_utc=empty,
        scheduled_day=np.zeros(0, dtype="datetime64[D]"),
        slot_s=empty,
        source=empty,
        account=empty,
        visitor=pa.array([], pa.string()),
    )


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


def simulate_calls(ctx: SimContext, day: dt.date, presence: Presence) -> tuple[Frame, MeetingSeeds]:
    """The day's calls, and the meetings booked on connected outbound calls."""
    roster, rng = ctx.roster, ctx.rng(day, STREAM_CALLS)
    counts = rng.poisson(roster.call_rate * presence.intensity)
    rep = np.repeat(np.arange(roster.size), counts)
    n = len(rep)
    utc = local_to_utc(day_start(day) + _times_of_day("calls", n, rng))
    order = np.lexsort((rep, utc))
    rep, utc = rep[order], utc[order]
    inbound = rng.random(n) < INBOUND_CALL_P
    outcome = _call_outcomes(inbound, roster.connect_p[rep], rng)
    duration = _call_durations(outcome, rng)
    account = _team_accounts(ctx, rep, rng)
    contact = account * CONTACTS_PER_ACCOUNT + rng.integers(0, CONTACTS_PER_ACCOUNT, n)
    has_account, has_contact = rng.random(n) < 0.85, rng.random(n) < 0.9
    frame: Frame = {
        "call_id": _sequence_ids("C", day, n),
        "rep_id": _rep_ids(ctx, rep),
        "started_at": timestamps(utc, rng.random(n) < 0.2),
        "duration_seconds": numbers(duration),
        "direction": labels(DIRECTIONS, inbound.astype(np.int64)),
        "outcome": labels(OUTCOMES, outcome),
        "contact_id": optional(padded_ids("CT-", contact, 6), has_contact),
        "account_id": optional(padded_ids("AC-", account, 5), has_account),
    }
    books = ~inbound & (outcome == CONNECTED) & (rng.random(n) < roster.meeting_p[rep])
    k = int(books.sum())
    seeds = MeetingSeeds(
        rep=rep[books],
        booked_utc=(utc + duration)[books],
        scheduled_day=np.busday_offset(
            np.datetime64(day), rng.integers(1, 11, k), roll="forward", busdaycal=ctx.busdays
        ),
        slot_s=_slots(k, rng),
        source=np.full(k, OUTBOUND),
        account=np.where(has_account, account, -1)[books],
        visitor=constant("", k),
    )
    return frame, seeds


# --- emails -------------------------------------------------------------------------------------


def simulate_emails(ctx: SimContext, day: dt.date, presence: Presence) -> Frame:
    """The day's outbound emails; some get a reply before the end of the range."""
    roster, rng = ctx.roster, ctx.rng(day, STREAM_EMAILS)
    rep = np.repeat(np.arange(roster.size), rng.poisson(roster.email_rate * presence.intensity))
    n = len(rep)
    local = _times_of_day("emails", n, rng)
    utc = local_to_utc(day_start(day) + local)
    order = np.lexsort((rep, utc))
    rep, utc, local = rep[order], utc[order], local[order]
    after_midnight = local < 2 * HOUR_S  # written in UTC: the UTC date is the previous day
    replied_utc = utc + (rng.exponential(16 * HOUR_S, n) + 300).astype(np.int64)
    replied = (rng.random(n) < roster.reply_p[rep]) & (replied_utc <= ctx.end_utc)
    account = _team_accounts(ctx, rep, rng)
    contact = account * CONTACTS_PER_ACCOUNT + rng.integers(0, CONTACTS_PER_ACCOUNT, n)
    has_account, has_contact = rng.random(n) < 0.8, rng.random(n) < 0.95
    return {
        "email_id": _sequence_ids("E", day, n),
        "rep_id": _rep_ids(ctx, rep),
        "sent_at": timestamps(utc, after_midnight | (rng.random(n) < 0.45)),
        "contact_id": optional(padded_ids("CT-", contact, 6), has_contact),
        "account_id": optional(padded_ids("AC-", account, 5), has_account),
        "replied_at": optional(timestamps(replied_utc, rng.random(n) < 0.45), replied),
    }


# --- web visits ---------------------------------------------------------------------------------


def _campaign_vocabulary(day: dt.date) -> list[str]:
    return [c.replace("{month}", f"{day:%Y-%m}") for c in CAMPAIGNS]


def simulate_visits(
    ctx: SimContext, day: dt.date, presence: Presence
) -> tuple[Frame, MeetingSeeds]:
    """The day's web visits, and the inbound meetings some visitors book."""
    rng = ctx.rng(day, STREAM_VISITS)
    n = int(rng.poisson(ctx.visits_per_day * _traffic(day)))
    utc = np.sort(local_to_utc(day_start(day) + _times_of_day("visits", n, rng)))
    visitor = (ctx.n_visitors * rng.random(n) ** 2.2).astype(np.int64)
    share = np.asarray(CHANNEL_SHARE)
    channel = rng.choice(len(CHANNELS), size=n, p=share / share.sum())
    page = _by_group(channel, PAGE_WEIGHTS, rng)
    campaign = _by_group(channel, CAMPAIGN_WEIGHTS, rng)
    identified = visitor % 6 == 0
    account = np.where(identified, (visitor * 7919) % ctx.n_accounts, -1)
    visitor_ids = padded_ids("VIS-", visitor, 8)
    frame: Frame = {
        "visit_id": _sequence_ids("WV", day, n),
        "visitor_id": visitor_ids,
        "visited_at": pa.array(utc.astype("datetime64[s]")).cast(pa.timestamp("us", tz="UTC")),
        "channel": labels(CHANNELS, channel),
        "landing_page": labels(LANDING_PAGES, page),
        "campaign": labels(_campaign_vocabulary(day), campaign),
        "account_id": _account_ids(account),
    }
    requests = np.flatnonzero(rng.random(n) < np.asarray(MEETING_REQUEST_P)[page])
    return frame, _inbound_seeds(ctx, day, presence, rng, requests, utc, account, visitor_ids)


def _inbound_seeds(
    ctx: SimContext,
    day: dt.date,
    presence: Presence,
    rng: np.random.Generator,
    requests: np.ndarray,
    utc: np.ndarray,
    account: np.ndarray,
    visitor_ids: pa.Array,
) -> MeetingSeeds:
    """Meeting requests from visits, routed to a rep employed that day."""
    staff = np.flatnonzero(presence.employed)
    k = len(requests)
    if k == 0 or len(staff) == 0:
        return _empty_seeds()
    rep = staff[rng.integers(0, len(staff), k)]
    crm_match = np.where(rng.random(k) < 0.5, _team_accounts(ctx, rep, rng), -1)
    return MeetingSeeds(
        rep=rep,
        booked_utc=utc[requests] + rng.integers(120, 2700, k),
        scheduled_day=np.busday_offset(
            np.datetime64(day), rng.integers(1, 8, k), roll="forward", busdaycal=ctx.busdays
        ),
        slot_s=_slots(k, rng),
        source=np.full(k, INBOUND),
        account=np.where(account[requests] >= 0, account[requests], crm_match),
        visitor=visitor_ids.take(pa.array(requests, pa.int64())),
    )


# --- referral and other meetings ----------------------------------------------------------------


def simulate_referrals(ctx: SimContext, day: dt.date, presence: Presence) -> MeetingSeeds:
    """Meetings from referrals (and a few from events: source ``other``)."""
    rng = ctx.rng(day, STREAM_REFERRALS)
    rep = np.repeat(
        np.arange(ctx.roster.size), rng.poisson(REFERRAL_RATE * (presence.intensity > 0))
    )
    k = len(rep)
    return MeetingSeeds(
        rep=rep,
        booked_utc=local_to_utc(day_start(day) + _times_of_day("calls", k, rng)),
        scheduled_day=np.busday_offset(
            np.datetime64(day), rng.integers(2, 13, k), roll="forward", busdaycal=ctx.busdays
        ),
        slot_s=_slots(k, rng),
        source=np.where(rng.random(k) < 0.2, OTHER, REFERRAL),
        account=_team_accounts(ctx, rep, rng),
        visitor=constant("", k),
    )


# --- meetings and opportunities -----------------------------------------------------------------


def _meeting_statuses(
    ctx: SimContext, seeds: MeetingSeeds, rng: np.random.Generator
) -> np.ndarray:
    """What happened (or will happen) at each meeting, ignoring whether it is in the future."""
    roster = ctx.roster
    held_p = np.clip(roster.held_p[seeds.rep] + np.where(seeds.source == INBOUND, 0.03, 0), 0, 0.97)
    u = rng.random(len(seeds.rep))
    status = np.where(u < held_p, HELD, np.where(u < held_p + (1 - held_p) * 0.45, NO_SHOW, CANCELLED))
    rep_gone = seeds.scheduled_day.astype(np.int64) >= roster.left_day[seeds.rep]
    return np.where(rep_gone, CANCELLED, status)


def build_meetings(
    ctx: SimContext, day: dt.date, parts: Sequence[MeetingSeeds]
) -> tuple[Frame, OpportunityBatch]:
    """Meetings booked on the day (ordered by booking time) and the opportunities they start."""
    seeds = _concat_seeds(parts)
    order = np.lexsort((seeds.source, seeds.rep, seeds.booked_utc))
    seeds = MeetingSeeds(**{f.name: _take(getattr(seeds, f.name), order) for f in fields(seeds)})
    rng, m = ctx.rng(day, STREAM_MEETINGS), len(seeds.rep)
    scheduled_utc = local_to_utc(seeds.scheduled_day.astype(np.int64) * DAY_S + seeds.slot_s)
    status = _meeting_statuses(ctx, seeds, rng)
    shown = np.where(scheduled_utc > ctx.end_utc, SCHEDULED, status)
    as_utc = rng.random(m) < 0.1
    meeting_id = _sequence_ids("M", day, m)
    account_id = _account_ids(seeds.account)
    frame: Frame = {
        "meeting_id": meeting_id,
        "rep_id": _rep_ids(ctx, seeds.rep),
        "account_id": account_id,
        "booked_at": timestamps(seeds.booked_utc, as_utc),
        "scheduled_at": timestamps(scheduled_utc, as_utc),
        "status": labels(STATUSES, shown),
        "source": labels(SOURCES, seeds.source),
        "visitor_id": seeds.visitor,
    }
    opportunities = _opportunities(ctx, seeds, status, meeting_id, account_id, rng)
    return frame, opportunities


def _opportunities(
    ctx: SimContext,
    seeds: MeetingSeeds,
    status: np.ndarray,
    meeting_id: pa.Array,
    account_id: pa.Array,
    rng: np.random.Generator,
) -> OpportunityBatch:
    """Opportunities from held meetings: created a few days later, closed 2-120 days after."""
    roster, m = ctx.roster, len(seeds.rep)
    rep, source = seeds.rep, seeds.source
    make = (status == HELD) & (
        rng.random(m) < np.asarray(OPPORTUNITY_P)[source] * roster.opportunity_factor[rep]
    )
    created_day = np.busday_offset(
        seeds.scheduled_day, rng.integers(0, 5, m), roll="forward", busdaycal=ctx.busdays
    )
    created_utc = local_to_utc(
        created_day.astype(np.int64) * DAY_S + seeds.slot_s + rng.integers(1800, 10800, m)
    )
    stalled = rng.random(m) < 0.08
    cycle = np.clip(np.round(rng.lognormal(np.log(30.0), 0.75, m)), 2, 120).astype(np.int64)
    cycle = np.where(stalled, rng.integers(150, 300, m), cycle)
    close_day = np.busday_offset(created_day + cycle, 0, roll="forward", busdaycal=ctx.busdays)
    closed_utc = local_to_utc(
        close_day.astype(np.int64) * DAY_S + 9 * HOUR_S + rng.integers(0, 8 * HOUR_S, m)
    )
    won = ~stalled & (rng.random(m) < np.asarray(WIN_P)[source] + roster.win_bonus[rep])
    deal_size = np.array([t.deal_size for t in roster.teams])[roster.team_index[rep]]
    base = np.clip(rng.lognormal(np.log(170_000.0), 0.5, m), 60_000, 600_000)
    estimate = (np.round(base * deal_size * roster.amount_factor[rep] / 5000) * 5000).astype(np.int64)
    amount = (np.round(estimate * rng.uniform(0.85, 1.05, m) / 1000) * 1000).astype(np.int64)
    cadence = np.where(rng.random(m) < 0.5, 7, 14) * DAY_S
    opportunity_id = pc.binary_join_element_wise("O", pc.utf8_slice_codeunits(meeting_id, 1), "")
    batch = OpportunityBatch(
        opportunity_id=opportunity_id,
        rep=rep,
        account_id=account_id,
        meeting_id=meeting_id,
        source=source,
        created_utc=created_utc,
        closed_utc=closed_utc,
        won=won,
        estimate=estimate,
        amount=amount,
        cadence_s=cadence,
    )
    return batch.take(np.flatnonzero(make & (created_utc <= ctx.end_utc)))
