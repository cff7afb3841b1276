"""Measure one command as a whole process: wall time, CPU time (user + sys) and peak memory.

CPU time and the peak RSS of the largest single process come from the kernel's accounting of the
child and every descendant it waited for (`/usr/bin/time -v` when present, else `os.wait4`). Since
`kpi run` starts dbt as a subprocess, the harness also samples the summed RSS of the whole process
tree (every 0.1 s from /proc) and can stop a command whose tree grows beyond a memory cap, so a
run that would exhaust the machine is recorded as such instead of taking the machine down.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

GNU_TIME = "/usr/bin/time"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
SAMPLE_SECONDS = 0.1


@dataclass(frozen=True)
class Measurement:
    command: list[str]
    returncode: int
    wall_s: float
    user_s: float
    sys_s: float
    max_rss_kib: int  # largest single process (kernel accounting)
    tree_rss_kib: int  # summed RSS of the process tree, sampled
    method: str  # "gnu-time" or "wait4"
    killed_for_memory: bool = False
    load_before: float = 0.0  # 1-minute load average when the command started
    stderr_tail: str = ""
    tree_peak_at_s: float = 0.0  # when the sampled tree RSS peaked (seconds after the start)
    tree_peak_largest: str = ""  # the largest process of the tree at that moment

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.killed_for_memory

    def as_dict(self) -> dict:
        return {**asdict(self), "cpu_s": self.cpu_s, "ok": self.ok}


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields start after the last ')'.
        fields = stat[stat.rfind(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def tree_rss_kib(root: int) -> int:
    """Summed resident memory of `root` and all its descendants, in KiB."""
    return sum(rss for _, rss in tree_processes(root))


def tree_processes(root: int) -> list[tuple[str, int]]:
    """(short command line, resident KiB) of `root` and each of its descendants."""
    children = _children_map()
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, ()))
        try:
            with open(f"/proc/{pid}/statm", "rb") as fh:
                rss = int(fh.read().split()[1]) * PAGE_SIZE // 1024
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                args = fh.read().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        name = " ".join(Path(a.decode(errors="replace")).name for a in args[:3] if a)
        out.append((name, rss))
    return out


class _TreeSampler(threading.Thread):
    def __init__(self, pid: int, cap_kib: int | None) -> None:
        super().__init__(daemon=True)
        self.pid, self.cap_kib = pid, cap_kib
        self.peak_kib = 0
        self.peak_at_s = 0.0  # seconds after the start when the tree's RSS peaked
        self.peak_largest = ""  # the tree's largest process at that moment, and its RSS
        self.killed = False
        self._stop_event = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while not self._stop_event.is_set():
            processes = tree_processes(self.pid)
            rss = sum(kib for _, kib in processes)
            if rss > self.peak_kib:
                self.peak_kib, self.peak_at_s = rss, round(time.monotonic() - started, 1)
                name, kib = max(processes, key=lambda p: p[1])
                self.peak_largest = f"{name} ({kib // 1024} MiB)"
            if self.cap_kib and rss > self.cap_kib and not self.killed:
                self.killed = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
            self._stop_event.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _parse_gnu_time(text: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for line in text.splitlines():
        key, _, value = line.strip().rpartition(": ")
        if key == "User time (seconds)":
            values["user_s"] = float(value)
        elif key == "System time (seconds)":
            values["sys_s"] = float(value)
        elif key == "Maximum resident set size (kbytes)":
            values["max_rss_kib"] = float(value)
        elif key.startswith("Elapsed (wall clock) time"):
            parts = [float(p) for p in value.split(":")]
            seconds = 0.0
            for p in parts:
                seconds = seconds * 60 + p
            values["wall_s"] = seconds
    return values


def measure(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    memory_cap_gib: float | None = None,
    timeout_s: float | None = None,
    log: Path | None = None,
) -> Measurement:
    """Run `command` to completion and measure it (output goes to `log`, or is discarded)."""
    use_gnu_time = Path(GNU_TIME).exists() and os.access(GNU_TIME, os.X_OK)
    time_file = Path(tempfile.mkstemp(prefix="bench-time-")[1]) if use_gnu_time else None
    argv = [GNU_TIME, "-v", "-o", str(time_file), *command] if time_file else list(command)
    cap_kib = int(memory_cap_gib * 1024 * 1024) if memory_cap_gib else None
    own_log = log is None
    log = Path(tempfile.mkstemp(prefix="bench-log-")[1]) if log is None else log
    load_before = os.getloadavg()[0]
    with log.open("wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            argv,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: the memory cap can kill the whole tree
        )
        sampler = _TreeSampler(process.pid, cap_kib)
        sampler.start()
        deadline = started + timeout_s if timeout_s else None
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if deadline and time.perf_counter() > deadline:
                os.killpg(process.pid, signal.SIGKILL)
                deadline = None
            time.sleep(0.02)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop()
    values = {"user_s": usage.ru_utime, "sys_s": usage.ru_stime, "max_rss_kib": usage.ru_maxrss}
    method = "wait4"
    if time_file:
        parsed = _parse_gnu_time(time_file.read_text(encoding="utf-8", errors="replace"))
        time_file.unlink(missing_ok=True)
        if {"user_s", "sys_s", "max_rss_kib"} <= parsed.keys():
            # GNU time reports its child (the command); wall time stays ours (finer grained).
            values.update({k: parsed[k] for k in ("user_s", "sys_s", "max_rss_kib")})
            method = "gnu-time"
    stderr_tail = _tail(log) if process.returncode != 0 or sampler.killed else ""
    if own_log:
        log.unlink(missing_ok=True)
    return Measurement(
        command=list(command),
        returncode=process.returncode,
        wall_s=round(wall, 3),
        user_s=round(values["user_s"], 3),
        sys_s=round(values["sys_s"], 3),
        max_rss_kib=int(values["max_rss_kib"]),
        tree_rss_kib=sampler.peak_kib,
        tree_peak_at_s=sampler.peak_at_s,
        tree_peak_largest=sampler.peak_largest,
        method=method,
        killed_for_memory=sampler.killed,
        load_before=round(load_before, 2),
        stderr_tail=stderr_tail,
    )


def _tail(path: Path, limit: int = 4000) -> str:
    data = path.read_bytes()[-limit:]
    return data.decode("utf-8", "replace")
