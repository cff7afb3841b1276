"""One writer of build.duckdb at a time, across runs and processes: an exclusive `flock`.

Every step that opens the build database holds `<warehouse>/build.duckdb.lock` while it does. The
Dagster pool `build_db` (limit 1) already queues such steps, and is what the UI shows; the lock is
what makes it exact: Dagster's SQLite storage can hand the pool's one slot to two processes that ask
at the same moment, and DuckDB would then fail the second one on its file lock. A kernel lock has no
such race and is released by the operating system when a process dies, so it never leaks.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = "build.duckdb.lock"
LOCKED = "build.duckdb locked"
RELEASED = "build.duckdb released"


def lock_path(warehouse: Path) -> Path:
    return warehouse / LOCK_NAME


@contextlib.contextmanager
def build_db_lock(
    warehouse: Path, holder: str, log: logging.Logger | logging.LoggerAdapter | None = None
) -> Iterator[None]:
    """Hold the build database exclusively; wait (and say so) while another step has it."""
    path = lock_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "another process"
            if log:
                log.info(f"waiting for build.duckdb: in use by {other}")
            waited = time.monotonic()
            fcntl.flock(fd, fcntl.LOCK_EX)
            if log:
                log.info(f"build.duckdb free after {time.monotonic() - waited:.1f} s")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{holder} (pid {os.getpid()})".encode(), 0)
        if log:
            log.debug(LOCKED)
        started = time.monotonic()
        try:
            yield
        finally:
            if log:
                log.debug(f"{RELEASED} after {time.monotonic() - started:.1f} s")
    finally:
        os.close(fd)  # closing the descriptor releases the lock
