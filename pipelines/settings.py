"""Where things are: landing files, the warehouse folder, the KPI definitions, the dbt project.

Read from the environment only when asked (`Settings.from_env()`), never at import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DEFINITIONS = PROJECT_ROOT / "kpi_definitions"
DEFAULT_DBT_PROJECT = PROJECT_ROOT / "kpi_models"

BUILD_DB_NAME = "build.duckdb"
PUBLISHED_DB_NAME = "kpi.duckdb"


@dataclass(frozen=True)
class Settings:
    landing: Path
    warehouse: Path
    definitions: Path = DEFAULT_DEFINITIONS

    @classmethod
    def from_env(cls) -> Settings:
        warehouse = Path(os.environ.get("KPI_WAREHOUSE", PROJECT_ROOT / "warehouse"))
        return cls(
            landing=Path(os.environ.get("KPI_LANDING", warehouse / "landing")).resolve(),
            warehouse=warehouse.resolve(),
            definitions=Path(os.environ.get("KPI_DEFINITIONS", DEFAULT_DEFINITIONS)).resolve(),
        )

    @property
    def build_db(self) -> Path:
        """The database the pipeline writes: one writer process at a time, never read by analysts."""
        return self.warehouse / BUILD_DB_NAME

    @property
    def published_db(self) -> Path:
        """What analysts open: replaced atomically after validation."""
        return self.warehouse / PUBLISHED_DB_NAME

    @property
    def uses_shipped_definitions(self) -> bool:
        return self.definitions.resolve() == DEFAULT_DEFINITIONS.resolve()

    @property
    def dbt_project(self) -> Path:
        """The shipped dbt project, or a staged copy compiled from custom definitions."""
        if self.uses_shipped_definitions:
            return DEFAULT_DBT_PROJECT
        return self.warehouse / "dbt_project"

    def env(self) -> dict[str, str]:
        """Environment for processes that must agree with these settings (dbt, the Dagster UI)."""
        return {
            "KPI_LANDING": str(self.landing),
            "KPI_WAREHOUSE": str(self.warehouse),
            "KPI_DEFINITIONS": str(self.definitions),
        }
