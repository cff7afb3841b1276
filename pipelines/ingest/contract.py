"""The landing contract as data: entities, their columns, and the rule each value follows.

`docs/landing-contract.md` is the prose version of this module; the loader and the KPI compiler both
read their column knowledge from here, so there is one place to change when the contract changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """How a column's text is checked and what type it is stored as."""

    ID = "id"
    TEXT = "text"
    TIMESTAMP = "timestamp"
    DATE = "date"
    NUMBER = "number"
    CHOICE = "choice"
    CURRENCY = "currency"
    BOOLEAN = "boolean"  # derived in the dbt marts, never delivered

    @property
    def sql_type(self) -> str:
        return _SQL_TYPES[self]


_SQL_TYPES = {
    Kind.ID: "VARCHAR",
    Kind.TEXT: "VARCHAR",
    Kind.TIMESTAMP: "TIMESTAMPTZ",
    Kind.DATE: "DATE",
    Kind.NUMBER: "DOUBLE",
    Kind.CHOICE: "VARCHAR",
    Kind.CURRENCY: "VARCHAR",
    Kind.BOOLEAN: "BOOLEAN",
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = True
    choices: tuple[str, ...] = ()
    personal: bool = False  # identifies a person: pseudonymised before it leaves staging


@dataclass(frozen=True)
class Entity:
    name: str
    id_column: str
    columns: tuple[Column, ...]
    # opportunities are snapshots of a changing record: the latest version wins instead of the
    # later delivery being treated as a correction.
    version_column: str | None = None
    # The event time that places a row in a period (None for reference data such as reps).
    event_time: str | None = None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _id(name: str, required: bool = True, personal: bool = False) -> Column:
    return Column(name, Kind.ID, required, personal=personal)


def _choice(name: str, *choices: str) -> Column:
    return Column(name, Kind.CHOICE, True, choices)


SOURCES = ("inbound", "outbound", "referral", "other")

ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        Entity(
            "reps",
            "rep_id",
            (
                _id("rep_id"),
                Column("rep_name", Kind.TEXT),
                Column("team", Kind.TEXT),
                Column("region", Kind.TEXT),
                Column("hired_on", Kind.DATE),
                Column("left_on", Kind.DATE, required=False),
            ),
        ),
        Entity(
            "web_visits",
            "visit_id",
            (
                _id("visit_id"),
                _id("visitor_id", personal=True),
                Column("visited_at", Kind.TIMESTAMP),
                _choice(
                    "channel", "organic", "paid", "social", "email", "referral", "direct", "other"
                ),
                Column("landing_page", Kind.TEXT),
                Column("campaign", Kind.TEXT, required=False),
                _id("account_id", required=False),
            ),
            event_time="visited_at",
        ),
        Entity(
            "calls",
            "call_id",
            (
                _id("call_id"),
                _id("rep_id"),
                Column("started_at", Kind.TIMESTAMP),
                Column("duration_seconds", Kind.NUMBER),
                _choice("direction", "outbound", "inbound"),
                _choice("outcome", "connected", "no_answer", "voicemail", "busy", "failed"),
                _id("contact_id", required=False, personal=True),
                _id("account_id", required=False),
            ),
            event_time="started_at",
        ),
        Entity(
            "emails",
            "email_id",
            (
                _id("email_id"),
                _id("rep_id"),
                Column("sent_at", Kind.TIMESTAMP),
                _id("contact_id", required=False, personal=True),
                _id("account_id", required=False),
                Column("replied_at", Kind.TIMESTAMP, required=False),
            ),
            event_time="sent_at",
        ),
        Entity(
            "meetings",
            "meeting_id",
            (
                _id("meeting_id"),
                _id("rep_id"),
                _id("account_id", required=False),
                Column("booked_at", Kind.TIMESTAMP),
                Column("scheduled_at", Kind.TIMESTAMP),
                _choice("status", "scheduled", "held", "no_show", "cancelled"),
                _choice("source", *SOURCES),
                _id("visitor_id", required=False, personal=True),
            ),
            event_time="scheduled_at",
        ),
        Entity(
            "opportunities",
            "opportunity_id",
            (
                _id("opportunity_id"),
                _id("rep_id"),
                _id("account_id", required=False),
                _id("meeting_id", required=False),
                _choice("source", *SOURCES),
                Column("created_at", Kind.TIMESTAMP),
                Column("closed_at", Kind.TIMESTAMP, required=False),
                _choice("status", "open", "won", "lost"),
                Column("amount", Kind.NUMBER),
                Column("currency", Kind.CURRENCY),
                Column("updated_at", Kind.TIMESTAMP),
            ),
            version_column="updated_at",
            event_time="closed_at",
        ),
    )
}

# Row-level rules that involve more than one column: (entity, SQL condition that must hold, reason).
ROW_RULES: dict[str, tuple[tuple[str, str], ...]] = {
    "opportunities": (
        (
            "status not in ('won', 'lost') or closed_at is not null",
            "closed_at is required when won or lost",
        ),
    ),
}

LANDING_SUFFIXES = (".csv", ".parquet", ".jsonl")
