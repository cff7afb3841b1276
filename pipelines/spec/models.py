"""The KPI definition format: pydantic models of what a user declares in `kpi_definitions/*.yml`.

Every model forbids unknown keys, so a typo is an error with its file and line, not a silent default.
Cross-references (entities, columns, dimensions, names) are checked in `pipelines.spec.validate`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=63)]
Grain = Literal["day", "week", "month", "quarter", "year"]
ALL_GRAINS: tuple[Grain, ...] = ("day", "week", "month", "quarter", "year")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventSource(Strict):
    """One kind of event that counts towards a stage: rows of an entity, filtered, placed in time."""

    entity: str = Field(description="Landing entity the events come from, e.g. `calls`.")
    time: str | None = Field(
        default=None,
        description="Timestamp column that places an event in a period "
        "(default: the entity's event time, e.g. `started_at` for calls).",
    )
    where: str | None = Field(
        default=None,
        description="SQL filter over the entity's columns, e.g. `direction = 'outbound'`.",
    )


class _Measured(Strict):
    entity: str | None = Field(default=None, description="Shorthand for a single source.")
    time: str | None = None
    where: str | None = None
    sources: list[EventSource] | None = Field(
        default=None, description="Several kinds of events that add up (e.g. calls plus emails)."
    )

    @model_validator(mode="after")
    def _one_form(self):
        if self.sources is None and self.entity is None:
            raise ValueError("give either `entity` (with optional `time`/`where`) or `sources`")
        if self.sources is not None and (self.entity, self.time, self.where) != (None, None, None):
            raise ValueError("give either `entity`/`time`/`where` or `sources`, not both")
        if self.sources is not None and not self.sources:
            raise ValueError("`sources` needs at least one source")
        return self

    @property
    def event_sources(self) -> list[EventSource]:
        if self.sources is not None:
            return list(self.sources)
        return [EventSource(entity=self.entity, time=self.time, where=self.where)]


class Stage(_Measured):
    name: Name = Field(description="Stage name; also its count column in the funnel's table.")
    factor: Name | None = Field(
        default=None,
        description="Name of the factor this stage divided by the previous one gives "
        "(e.g. `hit_rate`); the first stage's factor is its own count and takes the stage name.",
    )
    description: str | None = None
    count_distinct: str | None = Field(
        default=None, description="Count distinct values of this column instead of rows."
    )
    linked_by: str | None = Field(
        default=None,
        description="Cohort funnels: the column this stage shares with the previous stage's "
        "entity (e.g. `visitor_id`, `meeting_id`) that links an event to the one before.",
    )
    within_days: int | None = Field(
        default=None,
        ge=0,
        description="Cohort funnels: an event counts only within this many days after the "
        "previous stage's event it is credited to (inclusive).",
    )
    subset_of_previous: bool = Field(
        default=False,
        description="True when every event of this stage is also one of the previous stage "
        "(then its factor is validated to lie between 0 and 1).",
    )


class Value(_Measured):
    name: Name = Field(description="The funnel's outcome, e.g. `total_sales`.")
    factor: Name = Field(description="Value per unit of the last stage, e.g. `avg_contract_value`.")
    description: str | None = None
    sum: str = Field(description="Numeric column summed, e.g. `amount`.")


class Funnel(Strict):
    description: str | None = None
    kind: Literal["period", "cohort"] = Field(
        default="period",
        description="`period`: each stage counts its own events in the period. `cohort`: events "
        "of the first stage in the period, followed through later stages within windows "
        "(each conversion credited once, to the closest preceding event of the stage before).",
    )
    dimensions: list[str] = Field(
        default_factory=lambda: ["all"], description="Dimensions to publish, e.g. [all, team, rep]."
    )
    grains: list[Grain] | None = Field(
        default=None, description="Grains to publish (default: the settings' grains)."
    )
    stages: list[Stage] = Field(description="Ordered stages, at least two.")
    value: Value

    @model_validator(mode="after")
    def _names(self):
        if len(self.stages) < 2:
            raise ValueError(f"a funnel needs at least two stages, found {len(self.stages)}")
        return self

    def factor_names(self) -> list[str]:
        """Factor names in order: first stage, later stages' factors, value factor, value."""
        names = [self.stages[0].name]
        names += [s.factor or f"{s.name}_rate" for s in self.stages[1:]]
        return [*names, self.value.factor, self.value.name]


class Dimension(Strict):
    column: str = Field(description="Column giving the member, e.g. `team`.")
    description: str | None = None


class Holiday(Strict):
    date: dt.date
    name: str | None = None


class Calendar(Strict):
    """Working days: the listed weekdays minus holidays."""

    working_weekdays: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"]
    )
    holidays: list[Holiday] = Field(default_factory=list)


class Target(Strict):
    """A target for a KPI, optionally for one team or rep, in force from a date on."""

    value: float = Field(gt=0, description="Target in the KPI's own unit (e.g. 70 calls per day).")
    effective_from: dt.date = Field(default=dt.date(1900, 1, 1))
    team: str | None = Field(default=None, description="Only for this team.")
    rep: str | None = Field(default=None, description="Only for this rep (rep_id).")
    grain: Grain | None = Field(
        default=None,
        description="For count and sum KPIs that are not per working day: the period the target "
        "is for (e.g. 20 meetings per month).",
    )

    @model_validator(mode="after")
    def _one_scope(self):
        if self.team is not None and self.rep is not None:
            raise ValueError("a target is for a team or for a rep, not both")
        return self


class KpiTarget(Target):
    """A target declared apart from its KPI (e.g. in a file owned by sales ops)."""

    kpi: str = Field(description="Name of the KPI the target is for.")


class Kpi(Strict):
    """An activity KPI: a count, sum, average, distinct count or ratio over an entity's events."""

    description: str | None = None
    entity: str | None = Field(default=None, description="Entity the events come from.")
    time: str | None = None
    where: str | None = None
    measure: Literal["count", "count_distinct", "sum", "average", "ratio"] = "count"
    expression: str | None = Field(
        default=None,
        description="What is summed, averaged or counted distinct: an SQL expression over the "
        "entity's columns (e.g. `duration_seconds / 60`).",
    )
    numerator: str | None = Field(default=None, description="ratio: KPI name divided...")
    denominator: str | None = Field(default=None, description="...by this KPI name.")
    per_working_day: bool = Field(
        default=False, description="Divide by the working days elapsed in the period."
    )
    dimensions: list[str] = Field(default_factory=lambda: ["all", "team", "rep"])
    higher_is_better: bool = True
    targets: list[Target] = Field(default_factory=list)

    @model_validator(mode="after")
    def _shape(self):
        if self.measure == "ratio":
            if not (self.numerator and self.denominator):
                raise ValueError("a ratio KPI needs `numerator` and `denominator` (KPI names)")
            if self.entity or self.where or self.expression:
                raise ValueError("a ratio KPI takes `numerator`/`denominator`, not `entity`")
            return self
        if self.entity is None:
            raise ValueError("`entity` is required (or use measure: ratio)")
        if self.numerator or self.denominator:
            raise ValueError("`numerator`/`denominator` only go with measure: ratio")
        if self.measure in ("sum", "average", "count_distinct") and not self.expression:
            raise ValueError(f"measure `{self.measure}` needs an `expression`")
        return self

    @property
    def is_total(self) -> bool:
        """Counts and sums grow with the period's length; rates and averages do not."""
        return self.measure in ("count", "count_distinct", "sum") and not self.per_working_day


class PointsActivity(Strict):
    name: Name
    entity: str
    time: str | None = None
    where: str | None = None
    points: float = Field(
        description="Points per event (e.g. 10 for a meeting with a new prospect)."
    )


class ActivityPoints(Strict):
    """Weighted activities, giving a points leaderboard per rep and period."""

    description: str | None = None
    grains: list[Grain] | None = None
    activities: list[PointsActivity] = Field(min_length=1)


class Outcome(Strict):
    funnel: str = "universal"
    factor: str = "total_sales"


class TopPerformers(Strict):
    """Split reps into the top share by an outcome and compare every KPI and factor."""

    outcome: Outcome = Field(default_factory=Outcome)
    top_share: float = Field(default=0.2, gt=0, lt=1)
    grains: list[Grain] = Field(default_factory=lambda: ["month", "quarter", "year"])


class Settings(Strict):
    reporting_timezone: str = Field(
        default="Europe/Oslo", description="IANA time zone in which periods are computed."
    )
    grains: list[Grain] = Field(default_factory=lambda: list(ALL_GRAINS))


class DefinitionsFile(Strict):
    """The top level of one YAML file; all keys optional, files are merged."""

    settings: Settings | None = None
    calendar: Calendar | None = None
    dimensions: dict[Name, Dimension] = Field(default_factory=dict)
    funnels: dict[Name, Funnel] = Field(default_factory=dict)
    kpis: dict[Name, Kpi] = Field(default_factory=dict)
    activity_points: dict[Name, ActivityPoints] = Field(default_factory=dict)
    top_performers: TopPerformers | None = None
    targets: list[KpiTarget] = Field(default_factory=list)


def is_name(text: str) -> bool:
    return re.fullmatch(NAME_PATTERN, text) is not None
