"""The warehouse resource: where landing files, the build database and the published file are."""

from functools import cached_property
from pathlib import Path

import dagster as dg
import duckdb

from pipelines.settings import Settings
from pipelines.spec.loader import Definitions, load_definitions


class WarehouseResource(dg.ConfigurableResource):
    """Paths of one pipeline deployment. The build database has exactly one writer: this run."""

    landing_dir: str
    warehouse_dir: str
    definitions_dir: str

    @classmethod
    def from_settings(cls, settings: Settings) -> "WarehouseResource":
        return cls(
            landing_dir=str(settings.landing),
            warehouse_dir=str(settings.warehouse),
            definitions_dir=str(settings.definitions),
        )

    @property
    def settings(self) -> Settings:
        return Settings(
            landing=Path(self.landing_dir),
            warehouse=Path(self.warehouse_dir),
            definitions=Path(self.definitions_dir),
        )

    @cached_property
    def definitions(self) -> Definitions:
        return load_definitions(Path(self.definitions_dir))

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A read-write connection to the build database (close it before dbt runs)."""
        path = self.settings.build_db
        path.parent.mkdir(parents=True, exist_ok=True)
        return duckdb.connect(str(path))
