"""One writer of build.duckdb: the step lock holds across processes and says who it waits for."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from pipelines.ops.lock import build_db_lock, lock_path
from pipelines.settings import PROJECT_ROOT

HOLDER = textwrap.dedent(
    """
    import logging, sys, time
    from pathlib import Path
    from pipelines.ops.lock import build_db_lock
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    name, seconds = sys.argv[2], float(sys.argv[3])
    with build_db_lock(Path(sys.argv[1]), f"run {name}", logging.getLogger(name)):
        print(f"{name} in {time.time()}", flush=True)
        time.sleep(seconds)
        print(f"{name} out {time.time()}", flush=True)
    """
)


def holder(warehouse, name: str, seconds: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(warehouse), name, str(seconds)],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def times(output: str, name: str) -> tuple[float, float]:
    marks = dict(line.split(" ")[1:] for line in output.splitlines() if line.startswith(name))
    return float(marks["in"]), float(marks["out"])


def test_a_second_process_waits_for_the_first(tmp_path):
    first = holder(tmp_path, "first", 2.0)
    assert first.stdout.readline().startswith("first in")  # it holds the lock now
    second = holder(tmp_path, "second", 0.1)
    out_first = "first in 0\n" + first.communicate(timeout=60)[0]
    out_second = second.communicate(timeout=60)[0]
    assert first.returncode == second.returncode == 0
    assert "waiting for build.duckdb: in use by run first (pid" in out_second
    assert times(out_second, "second")[0] >= times(out_first, "first")[1]


def test_the_lock_is_released_when_a_holder_dies(tmp_path):
    doomed = holder(tmp_path, "doomed", 60)
    assert doomed.stdout.readline().startswith("doomed in")
    doomed.kill()
    doomed.wait()
    started = time.monotonic()
    with build_db_lock(tmp_path, "run next"):
        assert time.monotonic() - started < 5
        assert lock_path(tmp_path).read_text().startswith("run next (pid")
