"""Recovering from a `kpi run` process that died without ending its run (SIGKILL, OOM killer, power).

Such a run stays STARTED in the Dagster instance forever and keeps the `build_db` pool slot it held,
so every later run would wait for it without end (Dagster frees slots only of runs that ended). Each
`kpi run` tags its run with its host and process (pid and start time); the next `kpi run` marks
runs of this host whose process is gone as failed and frees their slots before it starts.
Runs launched by the UI's run workers carry no tag and are left to Dagster's run monitoring.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import dagster as dg

PROCESS_TAG = "kpi/process"
LIVE_STATUSES = [
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.CANCELING,
]


def process_token(pid: int) -> str | None:
    """`<host>/<pid>:<start time>` of a live process (start time from /proc, so a reused pid does
    not count as the same process); None when no process has that pid."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        started = stat.rsplit(")", 1)[1].split()[19]  # field 22 of stat: start time in ticks
    except (OSError, IndexError):
        started = "?"
    return f"{socket.gethostname()}/{pid}:{started}"


def run_tags() -> dict[str, str]:
    """Tags of a `kpi run` run: which process runs it."""
    return {PROCESS_TAG: process_token(os.getpid()) or ""}


def reap_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail the unfinished runs of dead `kpi run` processes on this host and free their pool slots.

    Returns the run ids it reaped.
    """
    host = socket.gethostname() + "/"
    reaped = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=LIVE_STATUSES)):
        run = record.dagster_run
        token = run.tags.get(PROCESS_TAG, "")
        if not token.startswith(host):
            continue
        pid = int(token.removeprefix(host).split(":", 1)[0])
        if process_token(pid) == token:
            continue  # still running
        instance.report_run_failed(
            run, f"the kpi run process ({token}) died before the run ended; freed by a later run"
        )
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        reaped.append(run.run_id)
    return reaped
