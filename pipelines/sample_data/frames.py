"""Text frames of the landing files, built from the simulation's numeric columns.

Ids embed the day they were created on (``C20250314-000123``) so runs over different date ranges
never reuse an id. Account, contact and visitor ids are stable codes (``AC-00042``, ``CT-000253``,
``VIS-00001234``); ``-1`` in a numeric column means "not known" and becomes an empty value.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .activity import Raw
from .columns import Frame, constant, labels, numbers, optional, padded_ids, timestamps
from .names import CAMPAIGNS, CHANNELS, LANDING_PAGES
from .roster import Roster

DIRECTIONS = ("outbound", "inbound")
OUTCOMES = ("connected", "no_answer", "voicemail", "busy", "failed")
SOURCES = ("outbound", "inbound", "referral", "other")
MEETING_STATUSES = ("scheduled", "held", "no_show", "cancelled")
OPPORTUNITY_STATUSES = ("open", "won", "lost")
CURRENCY = "NOK"
ID_DIGITS = 6
_MONTHLY_CAMPAIGN = "newsletter-{month}"


def day_ids(letter: str, raw: Raw) -> pa.Array:
    """``<letter><YYYYMMDD>-<seq>`` from the ``day`` and ``seq`` columns."""
    seq = pc.utf8_lpad(numbers(raw["seq"]), width=ID_DIGITS, padding="0")
    return pc.binary_join_element_wise(letter, numbers(raw["day"]), "-", seq, "")


def code_ids(prefix: str, codes: np.ndarray, width: int) -> pa.Array:
    """Zero-padded codes such as ``AC-00042``; empty where the code is -1."""
    return optional(padded_ids(prefix, np.maximum(codes, 0), width), codes >= 0)


def account_ids(codes: np.ndarray) -> pa.Array:
    """``AC-00042`` style account ids."""
    return code_ids("AC-", codes, 5)


def rep_ids(roster: Roster, rep: np.ndarray) -> pa.Array:
    """Rep ids for roster positions."""
    return labels(roster.rep_id, rep)


def reps_frame(roster: Roster) -> Frame:
    """The roster as delivered by HR: one row per rep."""
    team = [roster.teams[i] for i in roster.team_index]
    return {
        "rep_id": pa.array(roster.rep_id, pa.string()),
        "rep_name": pa.array(roster.rep_name, pa.string()),
        "team": pa.array([t.name for t in team], pa.string()),
        "region": pa.array([t.region for t in team], pa.string()),
        "hired_on": pa.array([d.isoformat() for d in roster.hired_on], pa.string()),
        "left_on": pa.array([d.isoformat() if d else "" for d in roster.left_on], pa.string()),
    }


def calls_frame(roster: Roster, raw: Raw) -> Frame:
    """Calls; 20 % of the timestamps in UTC (``Z``), the rest in Oslo time with offset."""
    return {
        "call_id": day_ids("C", raw),
        "rep_id": rep_ids(roster, raw["rep"]),
        "started_at": timestamps(raw["utc"], raw["as_utc"]),
        "duration_seconds": numbers(raw["duration"]),
        "direction": labels(DIRECTIONS, raw["inbound"].astype(np.int64)),
        "outcome": labels(OUTCOMES, raw["outcome"]),
        "contact_id": code_ids("CT-", raw["contact"], 6),
        "account_id": account_ids(raw["account"]),
    }


def emails_frame(roster: Roster, raw: Raw) -> Frame:
    """Emails; about half of the timestamps in UTC, ``replied_at`` empty without a reply."""
    replied = raw["replied_utc"] >= 0
    return {
        "email_id": day_ids("E", raw),
        "rep_id": rep_ids(roster, raw["rep"]),
        "sent_at": timestamps(raw["utc"], raw["as_utc"]),
        "contact_id": code_ids("CT-", raw["contact"], 6),
        "account_id": account_ids(raw["account"]),
        "replied_at": optional(timestamps(raw["replied_utc"], raw["replied_as_utc"]), replied),
    }


def _campaigns(raw: Raw) -> pa.Array:
    """Campaign names; the monthly newsletter is named after the visit's month."""
    months, month_index = np.unique(raw["day"] // 100, return_inverse=True)
    vocabulary = [*CAMPAIGNS, *(f"newsletter-{m // 100:04d}-{m % 100:02d}" for m in months)]
    monthly = raw["campaign"] == CAMPAIGNS.index(_MONTHLY_CAMPAIGN)
    return labels(vocabulary, np.where(monthly, len(CAMPAIGNS) + month_index, raw["campaign"]))


def visits_frame(raw: Raw) -> Frame:
    """Web visits; ``visited_at`` as a UTC timestamp (Parquet TIMESTAMP with time zone)."""
    visited_at = pa.array(raw["utc"].astype("datetime64[s]"))
    return {
        "visit_id": day_ids("WV", raw),
        "visitor_id": code_ids("VIS-", raw["visitor"], 8),
        "visited_at": visited_at.cast(pa.timestamp("us", tz="UTC")),
        "channel": labels(CHANNELS, raw["channel"]),
        "landing_page": labels(LANDING_PAGES, raw["page"]),
        "campaign": _campaigns(raw),
        "account_id": account_ids(raw["account"]),
    }


def meetings_frame(roster: Roster, raw: Raw) -> Frame:
    """Meetings; ``visitor_id`` only on inbound ones."""
    return {
        "meeting_id": day_ids("M", raw),
        "rep_id": rep_ids(roster, raw["rep"]),
        "account_id": account_ids(raw["account"]),
        "booked_at": timestamps(raw["booked_utc"], raw["as_utc"]),
        "scheduled_at": timestamps(raw["scheduled_utc"], raw["as_utc"]),
        "status": labels(MEETING_STATUSES, raw["status"]),
        "source": labels(SOURCES, raw["source"]),
        "visitor_id": code_ids("VIS-", raw["visitor"], 8),
    }


def opportunities_frame(roster: Roster, raw: Raw, at_utc: int) -> Frame:
    """Opportunities as they stood at ``at_utc`` (rows must already be created by then).

    Open ones carry their estimate and were last touched on their weekly/fortnightly cadence;
    closed ones carry the contract value (won) or the estimate (lost) and ``updated_at`` =
    ``closed_at``.
    """
    n = len(raw["day"])
    closed = raw["closed_utc"] <= at_utc
    status = np.where(closed, np.where(raw["won"], 1, 2), 0)
    touches = (at_utc - raw["created_utc"]) // raw["cadence_s"]
    updated = np.where(closed, raw["closed_utc"], raw["created_utc"] + touches * raw["cadence_s"])
    closed_utc = np.where(closed, raw["closed_utc"], raw["created_utc"])
    local = np.zeros(n, dtype=bool)
    return {
        "opportunity_id": day_ids("O", raw),
        "rep_id": rep_ids(roster, raw["rep"]),
        "account_id": account_ids(raw["account"]),
        "meeting_id": day_ids("M", raw),
        "source": labels(SOURCES, raw["source"]),
        "created_at": timestamps(raw["created_utc"], local, separator=" "),
        "closed_at": optional(timestamps(closed_utc, local, separator=" "), closed),
        "status": labels(OPPORTUNITY_STATUSES, status),
        "amount": numbers(np.where(closed & raw["won"], raw["amount"], raw["estimate"])),
        "currency": constant(CURRENCY, n),
        "updated_at": timestamps(updated, local, separator=" "),
    }
