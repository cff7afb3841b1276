"""dbt inside this process: `dbtRunner` on a worker thread, its results as dagster-dbt's events.

dagster-dbt's `DbtCliResource` starts dbt as a subprocess and reads its JSON log from stdout. That
subprocess is a whole Python start-up, the import of dbt-core and its adapter, and the load of the
project, ~6 s of every run at any scale, while this process has already imported dbt (dagster-dbt
does). Here dbt runs in the process itself, through dbt's documented programmatic entry point
(`dbt.cli.main.dbtRunner`), and its events reach Dagster through the same conversion dagster-dbt
applies to the subprocess's log lines (`DbtCoreCliEventMessage.to_default_asset_events`), so
the asset materialisations, check results and their metadata are the ones dagster-dbt would emit.

- dbt runs on a worker thread; its events go through a queue to the step's own thread, which turns
  them into Dagster events (a Dagster context is not shared across threads).
- The working directory is the warehouse folder for the length of the invocation: the profile
  names the build database relative to it (`path: build.duckdb`), which keeps dbt's partial
  parsing valid for every warehouse. The in-process executor runs one step at a time.
- dbt-duckdb keeps its DuckDB database open in a class attribute for the life of the process;
  it is closed after every invocation, so the next step (or the next run, on another warehouse)
  opens the file afresh.
- A killed process takes dbt with it: no dbt is ever left writing the build database.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import queue
import shutil
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator
from dagster_dbt.asset_utils import get_updated_cli_invocation_params_for_context
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage
from dagster_dbt.errors import DagsterDbtCliRuntimeError

PARTIAL_PARSE = "partial_parse.msgpack"
# dbt events dagster-dbt turns into Dagster events (DbtCoreCliEventMessage.is_result_event).
RESULT_EVENTS = frozenset({"LogSeedResult", "LogModelResult", "LogSnapshotResult", "LogTestResult"})
# Levels of the dbt events echoed to stdout, as dbt's console shows them by default.
ECHOED_LEVELS = frozenset({"info", "warn", "error"})
# dagster-dbt's env var for the indirect selection of tests (subsets chosen in the UI).
INDIRECT_SELECTION_ENV = "DBT_INDIRECT_SELECTION"
# How long an interrupted dbt gets to cancel its queries and stop (dagster-dbt waits as long).
TERMINATION_TIMEOUT_S = 25.0


@dataclass
class _Finished:
    success: bool
    exception: BaseException | None


@dataclass
class _Invocation:
    """What the worker thread hands to the step's thread: dbt events, then `_Finished`."""

    events: queue.Queue = field(default_factory=queue.Queue)
    errors: list[str] = field(default_factory=list)

    def callback(self, msg: Any) -> None:
        """dbt's event callback (any of dbt's threads): keep only what the step uses."""
        info = msg.info
        name, level = info.name, info.level
        if name in RESULT_EVENTS or name == "JinjaLogInfo" or level == "error":
            from dbt_common.events.functions import msg_to_dict

            self.events.put(("event", msg_to_dict(msg)))
        elif level in ECHOED_LEVELS:
            self.events.put(("text", info.msg))


def dbt_args(
    command: Sequence[str],
    *,
    project_dir: Path,
    profiles_dir: Path,
    target_path: Path,
    selection: Sequence[str] = (),
    indirect_selection: str | None = None,
) -> list[str]:
    """The arguments of one dbt invocation: the command, where things are, no console output
    (the events are echoed by the step), the selection of the assets being materialised."""
    args = [
        *command,
        "--project-dir", str(project_dir),
        "--profiles-dir", str(profiles_dir),
        "--target-path", str(target_path),
        "--log-path", str(target_path),
        "--quiet",
        *selection,
    ]  # fmt: skip
    if indirect_selection:
        args += ["--indirect-selection", indirect_selection]
    return args


def release_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open for the process (class attribute `_ENV`).

    dbt-duckdb reuses that database for the next invocation when the credentials compare equal,
    and `path: build.duckdb` is equal for every warehouse: left open, the next run on another
    warehouse would write into this one's file, and this process could not open the file
    read-only (DuckDB refuses a second configuration of an open database)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        environment = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
    if environment is not None:
        environment.close()


def seed_partial_parse(project_dir: Path, target_path: Path) -> None:
    """Start a new target folder from the project's partial-parse file (`kpi prepare` wrote it),
    as dagster-dbt does: dbt then reads the parsed project instead of parsing it again."""
    source = project_dir / "target" / PARTIAL_PARSE
    destination = target_path / PARTIAL_PARSE
    if source.exists() and not destination.exists():
        target_path.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, destination)


class InProcessDbtResource(dg.ConfigurableResource):
    """Runs dbt commands in this process and yields dagster-dbt's events for them."""

    project_dir: str
    profiles_dir: str

    def cli(
        self,
        command: Sequence[str],
        *,
        context: dg.AssetExecutionContext,
        target_path: Path,
        workdir: Path,
    ) -> Iterator[Any]:
        """Run `dbt <command>` for the assets `context` materialises; yield an Output per model
        and an AssetCheckResult per test, as `DbtCliResource.cli(...).stream()` does. Raises
        `DagsterDbtCliRuntimeError` after the last event when dbt failed."""
        params = get_updated_cli_invocation_params_for_context(
            context=context, manifest={}, dagster_dbt_translator=DagsterDbtTranslator()
        )
        project = params.dbt_project
        project_dir = Path(project.project_dir) if project else Path(self.project_dir)
        seed_partial_parse(project_dir, target_path)
        args = dbt_args(
            command,
            project_dir=project_dir,
            profiles_dir=Path(self.profiles_dir),
            target_path=target_path,
            selection=params.selection_args,
            indirect_selection=params.indirect_selection or os.environ.get(INDIRECT_SELECTION_ENV),
        )
        context.log.info(f"dbt (in process) {' '.join(args)}")
        invocation = _Invocation()
        before = os.getcwd()
        workdir.mkdir(parents=True, exist_ok=True)
        os.chdir(workdir)
        worker = threading.Thread(target=_invoke, args=(args, invocation), name="dbt", daemon=True)
        worker.start()
        try:
            finished = yield from _events(invocation, params, context, target_path)
        except (
            BaseException
        ):  # interrupted (Dagster's termination, Ctrl-C): stop dbt as Ctrl-C would
            _interrupt(worker)
            raise
        finally:
            worker.join(timeout=TERMINATION_TIMEOUT_S)
            os.chdir(before)
        if not finished.success:
            raise DagsterDbtCliRuntimeError(
                description=_failure_text(args, target_path, invocation, finished)
            )


def _invoke(args: list[str], invocation: _Invocation) -> None:
    """The worker thread: one dbt invocation, then `_Finished`; dbt's DuckDB released."""
    from dbt.cli.main import dbtRunner

    try:
        result = dbtRunner(callbacks=[invocation.callback]).invoke(args)
        finished = _Finished(result.success, result.exception)
    except BaseException as exc:  # dbt reports its own errors in the result; anything else here
        finished = _Finished(False, exc)
    finally:
        with contextlib.suppress(Exception):
            release_duckdb()
    invocation.events.put(("finished", finished))


def _interrupt(worker: threading.Thread) -> None:
    """Stop dbt as Ctrl-C stops the dbt command: its running queries are cancelled (DuckDB's
    interrupt, through the adapter dbt registered) and KeyboardInterrupt is raised in dbt's
    thread, where dbt's own handler stops scheduling nodes once that thread next runs."""
    if worker.ident is None or not worker.is_alive():
        return
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(worker.ident), ctypes.py_object(KeyboardInterrupt)
    )
    with contextlib.suppress(Exception):
        from dbt.adapters.factory import get_adapter_by_type

        get_adapter_by_type("duckdb").cancel_open_connections()


def _events(invocation: _Invocation, params: Any, context: Any, target_path: Path):
    """The step's thread: dbt's events as Dagster events, until dbt has finished."""
    column_metadata: dict[str, dict[str, Any]] = {}
    while True:
        try:  # a timeout, so that a signal (Dagster's termination) is handled promptly
            kind, payload = invocation.events.get(timeout=1.0)
        except queue.Empty:
            continue
        if kind == "finished":
            return payload
        if kind == "text":
            sys.stdout.write(f"{payload}\n")
            continue
        raw = payload
        info = raw["info"]
        if info["level"] == "error":
            invocation.errors.append(info["msg"])
        unique_id = raw.get("data", {}).get("node_info", {}).get("unique_id")
        if info["name"] == "JinjaLogInfo" and unique_id:  # dagster-dbt's column metadata, if any
            with contextlib.suppress(ValueError):
                logged = json.loads(info["msg"])
                if isinstance(logged, dict):
                    column_metadata[unique_id] = logged
                    continue
        sys.stdout.write(f"{info['msg']}\n")
        event = DbtCoreCliEventMessage(
            raw_event=raw, event_history_metadata=dict(column_metadata.get(unique_id, {}))
        )
        yield from event.to_default_asset_events(
            manifest=params.manifest,
            dagster_dbt_translator=params.dagster_dbt_translator,
            context=context,
            target_path=target_path,
            project=params.dbt_project,
        )


def _failure_text(
    args: Sequence[str], target_path: Path, invocation: _Invocation, finished: _Finished
) -> str:
    lines = [f"dbt {' '.join(args)} failed (see {target_path / 'dbt.log'})"]
    if finished.exception is not None:
        lines.append(f"{type(finished.exception).__name__}: {finished.exception}")
    if invocation.errors:
        lines += ["", "Errors from dbt:", *invocation.errors]
    return "\n".join(lines)
