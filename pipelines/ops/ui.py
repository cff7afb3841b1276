"""`make ui`: the Dagster UI (webserver + daemon, `dg dev`) on this project's definitions.

The launcher sets the KPI_* paths, the persistent instance (`<warehouse>/dagster_home`) and PATH,
then replaces itself with `dg dev`, so its PID is the one to stop. SIGTERM or SIGINT to that PID
stops the webserver, the daemon and the code servers in a few seconds.

Why the signal reset: a background job of a non-interactive bash starts with SIGINT ignored, and
Dagster installs its SIGINT handler on SIGTERM too, so such a `dg dev` would ignore SIGTERM. The
launcher restores the default dispositions before `exec`, whoever started it (`set -m` in a script
avoids the problem as well, but this launcher does not rely on it).

`python -m pipelines.ops.ui stop` (`make ui-stop`) sends that SIGTERM for you: the launcher records
its PID in `<instance>/ui.pid`.

Environment: KPI_LANDING, KPI_WAREHOUSE, KPI_DEFINITIONS (pipelines/settings.py), DAGSTER_HOME,
KPI_UI_HOST (default 127.0.0.1), KPI_UI_PORT (default 3000).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from pipelines.ops.instance import dagster_home, open_instance
from pipelines.settings import PROJECT_ROOT, Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000


def ui_address(environ: dict[str, str] | None = None) -> tuple[str, int]:
    environ = os.environ if environ is None else environ
    host = environ.get("KPI_UI_HOST") or DEFAULT_HOST
    port = int(environ.get("KPI_UI_PORT") or DEFAULT_PORT)
    return host, port


def ui_environment(settings: Settings, home: Path) -> dict[str, str]:
    """The environment `dg dev` and every process it starts (code servers, run workers) see."""
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    return {
        **os.environ,
        **settings.env(),
        "DAGSTER_HOME": str(home),
        "PATH": bin_dir if not path else f"{bin_dir}{os.pathsep}{path}",
        "VIRTUAL_ENV": sys.prefix,  # the project's venv: keeps dg from warning about a mismatch
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def ui_command(host: str, port: int) -> list[str]:
    dg_executable = Path(sys.executable).parent / "dg"
    return [
        str(dg_executable), "dev", "--host", host, "--port", str(port),
        "--target-path", str(PROJECT_ROOT),
    ]  # fmt: skip


def pid_file(home: Path) -> Path:
    return home / "ui.pid"


def _alive(pid: int) -> bool:
    """Running and not a zombie (a stopped child stays in the table until its parent reaps it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _is_dg_dev(pid: int) -> bool:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(a.endswith(b"/dg") or a == b"dg" for a in args) and b"dev" in args


def stop(home: Path, timeout: float = 60.0) -> str:
    """SIGTERM the UI recorded in `home`, wait until it is gone; a message for the user."""
    path = pid_file(home)
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return f"no UI recorded in {path}"
    if not _alive(pid) or not _is_dg_dev(pid):
        path.unlink(missing_ok=True)
        return f"the UI recorded in {path} (pid {pid}) is not running"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the UI (pid {pid}) did not stop within {timeout:.0f} s")
        time.sleep(0.2)
    path.unlink(missing_ok=True)
    return f"stopped the UI (pid {pid})"


def start(settings: Settings) -> None:  # pragma: no cover - replaced by `dg dev`; tests/e2e
    settings.warehouse.mkdir(parents=True, exist_ok=True)
    home = dagster_home(settings)
    open_instance(home).dispose()  # config and storage ready before `dg dev` starts
    host, port = ui_address()
    command = ui_command(host, port)
    print(
        f"Dagster UI on http://{host}:{port} (pid {os.getpid()}; stop with Ctrl-C, `make ui-stop` "
        f"or `kill {os.getpid()}`)\n  landing   {settings.landing}\n"
        f"  warehouse {settings.warehouse}\n  instance  {home}",
        flush=True,
    )
    # Default dispositions, so `dg dev` turns SIGINT and SIGTERM into a clean shutdown even when
    # we were started with SIGINT ignored (a background job of a non-interactive shell).
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    pid_file(home).write_text(f"{os.getpid()}\n")
    os.chdir(PROJECT_ROOT)
    os.execve(command[0], command, ui_environment(settings, home))


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - tests/e2e
    args = sys.argv[1:] if argv is None else argv
    settings = Settings.from_env()
    if args == ["stop"]:
        print(stop(dagster_home(settings)))
    elif args in ([], ["start"]):
        start(settings)
    else:
        sys.exit("usage: python -m pipelines.ops.ui [start|stop]")


if __name__ == "__main__":  # pragma: no cover
    main()
