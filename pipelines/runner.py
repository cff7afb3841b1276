"""Run the asset graph in process, exactly as Dagster would, and summarise what happened.

`kpi run` is not a second code path: it builds the same `Definitions` as `definitions.py` and
executes the implicit asset job with the in-process executor.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from pipelines.ingest.loader import FULL_RELOAD_ENV
from pipelines.ops.failures import step_failure_text
from pipelines.ops.instance import dagster_home, open_instance
from pipelines.privacy import ensure_pseudonym_key
from pipelines.recovery import reap_dead_runs, run_tags
from pipelines.settings import Settings


class RunFailed(Exception):
    pass


@dataclass
class RunSummary:
    settings: Settings
    loads: dict[str, dict[str, int]] = field(default_factory=dict)
    checks: dict[str, tuple[bool, str]] = field(default_factory=dict)
    published: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"Loaded from {self.settings.landing}"]
        header = (
            f"  {'entity':<15}{'files':>7}{'read':>6}{'rows read':>14}{'loaded':>14}"
            f"{'rejected':>10}{'re-delivered':>14}"
        )
        lines.append(header)
        for entity, m in self.loads.items():
            lines.append(
                f"  {entity:<15}{m.get('files', 0):>7}{m.get('files_read', 0):>6}"
                f"{m.get('rows_read', 0):>14,}"
                f"{m.get('rows_loaded', 0):>14,}{m.get('rows_rejected', 0):>10,}"
                f"{m.get('duplicates', 0):>14,}"
            )
        lines += [f"  warning: {w}" for w in self.warnings]
        if self.checks:
            passed = sum(1 for ok, _ in self.checks.values() if ok)
            lines.append(f"Checks: {passed} of {len(self.checks)} passed")
            lines += [
                f"  FAILED {name}: {text}" for name, (ok, text) in self.checks.items() if not ok
            ]
        if not self.published:
            lines.append(f"Not published: {self.settings.published_db} is unchanged")
            return "\n".join(lines)
        lines.append(f"Published {self.settings.published_db}")
        lines += [f"  {table:<20}{rows:>12,} rows" for table, rows in self.published.items()]
        rejected = sum(m.get("rows_rejected", 0) for m in self.loads.values())
        if rejected:
            lines.append(f"{rejected:,} rejected rows with reasons: table `rejects` in kpi.duckdb")
        return "\n".join(lines)


def dagster_instance(settings: Settings) -> dg.DagsterInstance:
    """The persistent Dagster instance under the warehouse (shared with `make ui`)."""
    home = dagster_home(settings)
    os.environ["DAGSTER_HOME"] = str(home)
    return open_instance(home)


def _dbt_config(full_refresh: bool, recompute: tuple[str, str] | None) -> dict[str, object]:
    first, last = recompute or ("", "")
    return {"full_refresh": full_refresh, "recompute_from": first, "recompute_to": last}


def run_pipeline(
    settings: Settings,
    *,
    quiet: bool = True,
    full_reload: bool = False,
    full_refresh: bool = False,
    recompute: tuple[str, str] | None = None,
    job_name: str | None = None,
    tags: dict[str, str] | None = None,
) -> RunSummary:
    """Run every asset once. By default only new or changed landing files are read and the KPI
    models recompute only the periods whose data changed. `full_reload` reads every landing file
    again (the raw assets read `KPI_FULL_RELOAD`, set for the duration of the run);
    `full_refresh` recomputes every KPI row; `recompute=(first, last)` also recomputes the periods
    holding those days (YYYY-MM-DD). `job_name` runs one of the definitions' jobs (e.g. what a
    sensor's run request names) instead of every asset, with the request's `tags`."""
    with _full_reload(full_reload):
        return _run_pipeline(
            settings,
            quiet=quiet,
            full_refresh=full_refresh,
            recompute=recompute,
            job_name=job_name,
            tags=tags,
        )


@contextlib.contextmanager
def _full_reload(enabled: bool):
    if not enabled:
        yield
        return
    before = os.environ.get(FULL_RELOAD_ENV)
    os.environ[FULL_RELOAD_ENV] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(FULL_RELOAD_ENV, None)
        else:
            os.environ[FULL_RELOAD_ENV] = before


def _run_pipeline(
    settings: Settings,
    *,
    quiet: bool,
    full_refresh: bool,
    recompute: tuple[str, str] | None,
    job_name: str | None,
    tags: dict[str, str] | None,
) -> RunSummary:
    from pipelines.definitions import build_definitions

    key_source = ensure_pseudonym_key(settings.landing)  # raises MissingPseudonymKey
    os.environ.update(settings.env())
    settings.warehouse.mkdir(parents=True, exist_ok=True)
    defs = build_definitions(settings)
    job = (
        defs.resolve_job_def(job_name) if job_name else defs.resolve_implicit_global_asset_job_def()
    )
    level = "CRITICAL" if quiet else "INFO"
    log_path = settings.warehouse / "logs" / "last_run.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    run_id = str(uuid.uuid4())
    with dagster_instance(settings) as instance, _dbt_output(log_path, quiet):
        reap_dead_runs(instance)  # a killed earlier run must not hold the build_db pool for ever
        _import_in_background(*LATER_STEPS_IMPORTS)
        result = job.execute_in_process(
            instance=instance,
            run_id=run_id,
            tags={**(tags or {}), **run_tags()},
            raise_on_error=False,
            run_config={
                "loggers": {"console": {"config": {"log_level": level}}},
                "ops": {"kpi_models": {"config": _dbt_config(full_refresh, recompute)}},
            },
        )
    summary = _summarise(settings, result)
    if key_source == "sample":
        summary.warnings.append(
            "sample data: personal values pseudonymised with the public sample key "
            "(real data needs KPI_PSEUDONYM_KEY)"
        )
    if not result.success:
        failures = [
            f"  {event.step_key}: {step_failure_text(event)}"
            for event in result.all_events
            if event.event_type == dg.DagsterEventType.STEP_FAILURE
        ]
        raise RunFailed(failure_message(summary, failures))
    return summary


def failure_message(summary: RunSummary, failures: list[str]) -> str:
    """What `kpi run` says when a step failed: whether the published file changed (a check that
    fails after publishing, such as a landing freshness check, leaves the new data published)."""
    name = summary.settings.published_db.name
    outcome = (
        f"{name} was published before the failure"
        if summary.published
        else f"{name} was left as it was"
    )
    return f"run failed; {outcome}.\n" + "\n".join(failures) + "\n\n" + str(summary)


# Libraries the validation steps import when they first run (great-expectations ~4 s, ibis's DuckDB
# backend and pandera's ibis backends ~2 s): imported in a background thread while the raw loads
# run, mostly inside DuckDB with the GIL released, instead of on the run's critical path.
LATER_STEPS_IMPORTS = (
    "great_expectations",
    "ibis.backends.duckdb",
    "pandera.backends.ibis.builtin_checks",
    "pandera.backends.ibis.container",
)


# Imported by the later steps' libraries and used by the run's own thread at the same time:
# imported first, in the calling thread. great-expectations imports sqlalchemy.orm, whose base
# module registers an inspection hook for every object as soon as it loads; Dagster's event storage
# in the run's thread then reached that hook while sqlalchemy.orm.exc was still half-imported in the
# background and failed a step with "partially initialized module 'sqlalchemy.orm.exc'".
SHARED_WITH_THE_RUN_IMPORTS = ("sqlalchemy.orm",)


def _import_in_background(*modules: str) -> None:
    """Import `modules` in a daemon thread. A failure is ignored here: the step that needs the
    module imports it again and reports the error where it belongs. What the run's thread also
    uses (SHARED_WITH_THE_RUN_IMPORTS) is imported here first, before the thread starts."""
    for module in SHARED_WITH_THE_RUN_IMPORTS:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)

    def target() -> None:
        for module in modules:
            with contextlib.suppress(Exception):
                importlib.import_module(module)

    threading.Thread(target=target, name="import-later-steps", daemon=True).start()


@contextlib.contextmanager
def _dbt_output(log_path: Path, quiet: bool):
    """dagster-dbt echoes every dbt event to stdout: keep it in a log file unless asked."""
    if not quiet:
        yield
        return
    with log_path.open("w", encoding="utf-8") as fh, contextlib.redirect_stdout(fh):
        yield


def _summarise(settings: Settings, result: dg.ExecuteInProcessResult) -> RunSummary:
    summary = RunSummary(settings)
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        if mat is None:
            continue
        path = mat.asset_key.path
        meta = {k: v.value for k, v in mat.metadata.items()}
        if path[0] == "raw":
            summary.loads[path[1]] = {k: v for k, v in meta.items() if isinstance(v, int)}
            if "warnings" in meta:
                summary.warnings += [
                    w.removeprefix("- ") for w in str(meta["warnings"]).splitlines()
                ]
        elif path == ["published", "kpi"]:
            summary.published = {
                k.removeprefix("rows/"): v for k, v in meta.items() if k.startswith("rows/")
            }
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            key = evaluation.asset_check_key
            name = f"{'/'.join(key.asset_key.path)}:{key.name}"
            summary.checks[name] = (evaluation.passed, evaluation.description or "")
    return summary
