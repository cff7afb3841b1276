"""Operations settings from the environment: schedule, sensor, freshness limits, failure reports.

Read when the definitions are built (`OpsConfig.from_env()`), never at import time; every variable is
optional and documented in docs/operations.md. A bad value fails loudly when the code location loads.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipelines.ingest.contract import ENTITIES

DEFAULT_SCHEDULE_TIME = "06:00"
DEFAULT_SCHEDULE_TIMEZONE = "Europe/Oslo"

# How long each landing source may deliver nothing before its freshness check warns. Activity is
# exported daily (two days of slack for a late export); opportunities as snapshots at least weekly;
# the rep roster only when it changes.
DEFAULT_FRESHNESS_LIMITS: dict[str, timedelta] = {
    "reps": timedelta(days=90),
    "web_visits": timedelta(hours=48),
    "calls": timedelta(hours=48),
    "emails": timedelta(hours=48),
    "meetings": timedelta(hours=48),
    "opportunities": timedelta(days=8),
}

# The raw assets' reject check warns when more than this share of the rows delivered was rejected.
DEFAULT_REJECT_WARN_SHARE = 0.01

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhd])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


class OpsConfigError(ValueError):
    pass


def parse_duration(text: str) -> timedelta:
    """`90m`, `36h`, `8d` → timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise OpsConfigError(f"not a duration: {text!r} (use e.g. 90m, 36h or 8d)")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def parse_freshness_limits(text: str | None) -> dict[str, timedelta]:
    """`calls=24h,opportunities=14d` on top of the defaults."""
    limits = dict(DEFAULT_FRESHNESS_LIMITS)
    for item in (text or "").split(","):
        if not item.strip():
            continue
        entity, sep, duration = item.partition("=")
        entity = entity.strip()
        if not sep or entity not in ENTITIES:
            raise OpsConfigError(
                f"KPI_FRESHNESS_LIMITS: {item.strip()!r} is not <entity>=<duration> with entity "
                f"one of {', '.join(ENTITIES)}"
            )
        limits[entity] = parse_duration(duration)
    return limits


def cron_for(time_of_day: str) -> str:
    """`06:00` → `0 6 * * *`."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", time_of_day)
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise OpsConfigError(f"KPI_SCHEDULE_TIME: {time_of_day!r} is not HH:MM (24-hour clock)")
    return f"{int(match.group(2))} {int(match.group(1))} * * *"


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise OpsConfigError(f"KPI_SCHEDULE_TIMEZONE: unknown time zone {name!r}") from exc
    return name


def _positive(name: str, value: str, cast=int):
    try:
        number = cast(value)
    except ValueError as exc:
        raise OpsConfigError(f"{name}: {value!r} is not a number") from exc
    if number < 0:
        raise OpsConfigError(f"{name}: must not be negative")
    return number


@dataclass(frozen=True)
class OpsConfig:
    schedule_cron: str = cron_for(DEFAULT_SCHEDULE_TIME)
    schedule_timezone: str = DEFAULT_SCHEDULE_TIMEZONE
    automation_running: bool = False  # default state of the schedule and the landing sensor
    sensor_interval_seconds: int = 60
    sensor_settle_seconds: int = 30  # files younger than this are still being written
    freshness_limits: Mapping[str, timedelta] = field(
        default_factory=lambda: dict(DEFAULT_FRESHNESS_LIMITS)
    )
    reject_warn_share: float = DEFAULT_REJECT_WARN_SHARE
    failure_webhook: str | None = None
    ui_url: str = "http://127.0.0.1:3000"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OpsConfig:
        env = os.environ if environ is None else environ
        automation = env.get("KPI_AUTOMATION", "stopped").strip().lower()
        if automation not in ("running", "stopped"):
            raise OpsConfigError(f"KPI_AUTOMATION: {automation!r} is not 'running' or 'stopped'")
        host = env.get("KPI_UI_HOST") or "127.0.0.1"
        port = env.get("KPI_UI_PORT") or "3000"
        share = _positive(
            "KPI_REJECT_WARN_SHARE",
            env.get("KPI_REJECT_WARN_SHARE", str(DEFAULT_REJECT_WARN_SHARE)),
            float,
        )
        return cls(
            schedule_cron=cron_for(env.get("KPI_SCHEDULE_TIME", DEFAULT_SCHEDULE_TIME)),
            schedule_timezone=_timezone(
                env.get("KPI_SCHEDULE_TIMEZONE", DEFAULT_SCHEDULE_TIMEZONE)
            ),
            automation_running=automation == "running",
            sensor_interval_seconds=_positive(
                "KPI_SENSOR_INTERVAL_SECONDS", env.get("KPI_SENSOR_INTERVAL_SECONDS", "60")
            ),
            sensor_settle_seconds=_positive(
                "KPI_SENSOR_SETTLE_SECONDS", env.get("KPI_SENSOR_SETTLE_SECONDS", "30")
            ),
            freshness_limits=parse_freshness_limits(env.get("KPI_FRESHNESS_LIMITS")),
            reject_warn_share=share,
            failure_webhook=env.get("KPI_FAILURE_WEBHOOK") or None,
            ui_url=(env.get("KPI_UI_URL") or f"http://{host}:{port}").rstrip("/"),
        )
