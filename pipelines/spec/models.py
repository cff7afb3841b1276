"""The KPI definition format: pydantic models of what a user declares in `kpi_definitions/*.yml`.

Every model forbids unknown keys, so a typo is an error with its file and line, not a silent default.
Cross-references (entities, columns, dimensions, names) are checked in `pipelines.spec.validate`.
"""

from __future__ import annotations

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


class Settings(Strict):
    reporting_timezone: str = Field(
        default="Europe/Oslo", description="IANA time zone in which periods are computed."
    )
    grains: list[Grain] = Field(default_factory=lambda: list(ALL_GRAINS))


class DefinitionsFile(Strict):
    """The top level of one YAML file; all keys optional, files are merged."""

    settings: Settings | None = None
    dimensions: dict[Name, Dimension] = Field(default_factory=dict)
    funnels: dict[Name, Funnel] = Field(default_factory=dict)


def is_name(text: str) -> bool:
    return re.fullmatch(NAME_PATTERN, text) is not None
