"""The warehouse resource: where landing files, the build database and the published file are."""

import contextlib
from functools import cached_property
from pathlib import Path

import dagster as dg
import duckdb

from pipelines.db import duckdb_config
from pipelines.ops.lock import build_db_lock
from pipelines.settings import Settings
from pipelines.spec.loader import Definitions, load_definitions

# Dagster concurrency pool of every step that opens the build database: the instance allows one
# such step at a time (dagster.yaml, pipelines/ops/instance.py), so a second run waits for the
# first instead of failing on DuckDB's file lock. Such steps also hold `exclusive()`, which makes
# it exact across processes (pipelines/ops/lock.py).
BUILD_DB_POOL = "build_db"


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

    def exclusive(self, context) -> contextlib.AbstractContextManager[None]:
        """Hold build.duckdb for this step, waiting while another step (any run) has it."""
        op_context = getattr(context, "op_execution_context", context)
        holder = f"run {op_context.run_id[:8]} step {op_context.op_def.name}"
        return build_db_lock(self.settings.warehouse, holder, op_context.log)

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A read-write connection to the build database (close it before dbt runs)."""
        path = self.settings.build_db
        path.parent.mkdir(parents=True, exist_ok=True)
        return duckdb.connect(str(path), config=duckdb_config(self.settings.warehouse))
