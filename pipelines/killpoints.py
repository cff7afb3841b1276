"""Named points where the crash-safety test kills the pipeline (tests/integration/test_crash_safety.py).

With `KPI_TEST_KILL_AT=<name>` in the environment, the process that reaches `kill_point("<name>")`
sends itself SIGKILL: no cleanup, no `finally`, exactly like the OOM killer or a pulled plug. Without
the variable (always, outside that test) a kill point is one dictionary lookup. docs/reliability.md
lists the points.
"""

from __future__ import annotations

import os
import signal

ENV = "KPI_TEST_KILL_AT"

POINTS = (
    "ingest:read",  # an entity's new/changed files are in the temporary text table, nothing written
    "ingest:in-transaction",  # raw.<entity>, rejects, delivered rows, manifest half updated
    "ingest:committed",  # the first entity is loaded, the others are not
    "dbt:start",  # just before the dbt subprocess starts
    "dbt:running",  # dbt has built its first model and is still running
    "validation",  # a pandera check is reading the build database
    "publish:before-replace",  # the new file is complete and synced, not yet swapped in
    "publish:after-replace",  # swapped in; the directory is not yet synced or cleaned
)


def kill_point(name: str) -> None:
    """SIGKILL this process here when KPI_TEST_KILL_AT names this point."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
