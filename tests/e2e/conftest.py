"""The Dagster UI as a real set of processes (`python -m pipelines.ops.ui`, i.e. `make ui`)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from pipelines.sample_data import generate_sample_org
from pipelines.settings import PROJECT_ROOT, Settings

# A tiny org: five reps, two weeks, dirty rows included. Loads and builds in well under a minute.
SAMPLE = {"seed": 5, "scale": 0.05, "start": date(2025, 3, 3), "days": 14}
START_TIMEOUT = 240
STOP_TIMEOUT = 60

WORKSPACE_QUERY = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def group_members(pgid: int) -> list[int]:
    """Live processes in a process group (zombies excluded)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


@dataclass
class Ui:
    process: subprocess.Popen
    url: str
    settings: Settings
    home: Path
    log: Path

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = json.load(response)
        assert "errors" not in payload, payload
        return payload["data"]

    def wait_until_loaded(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.process.poll() is None, f"UI exited early:\n{self.log.read_text()}"
            try:
                data = self.graphql(WORKSPACE_QUERY)["workspaceOrError"]
                entries = data.get("locationEntries") or []
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    errors = [
                        e["locationOrLoadError"]
                        for e in entries
                        if e["locationOrLoadError"]["__typename"] == "PythonError"
                    ]
                    assert not errors, errors
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert time.monotonic() < deadline, (
                f"UI not up in {START_TIMEOUT} s:\n{self.log_tail()}"
            )
            time.sleep(1)

    def stop(self) -> float:
        """SIGTERM the launcher's PID (now `dg dev`); seconds until every process is gone."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=STOP_TIMEOUT)
        while group_members(self.process.pid):
            if time.monotonic() - started > STOP_TIMEOUT:
                break
            time.sleep(0.2)
        return time.monotonic() - started

    def kill_leftovers(self) -> None:
        if group_members(self.process.pid):
            os.killpg(self.process.pid, signal.SIGKILL)

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _ignore_sigint() -> None:
    # What a background job of a non-interactive bash gets: the case that used to hang on SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start_ui(root: Path, env: dict[str, str] | None = None) -> Ui:
    settings = Settings(landing=root / "landing", warehouse=root / "warehouse")
    home = root / "warehouse" / "dagster_home"
    port = free_port()
    log = root / "ui.log"
    process_env = {
        **os.environ,
        **settings.env(),
        "DAGSTER_HOME": str(home),
        "KPI_UI_PORT": str(port),
        **(env or {}),
    }
    process_env.pop("KPI_UI_HOST", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.ops.ui"],
            cwd=PROJECT_ROOT, env=process_env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_ignore_sigint,
        )  # fmt: skip
    return Ui(process, f"http://127.0.0.1:{port}", settings, home, log)


@pytest.fixture(scope="module")
def sample_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ui")
    generate_sample_org(root / "landing", **SAMPLE)
    return root


@pytest.fixture(scope="module")
def ui(sample_root):
    server = start_ui(sample_root)
    try:
        server.wait_until_loaded()
        yield server
    finally:
        server.stop()
        server.kill_leftovers()
