"""Run-failure reports: one JSON document per failed run, to a webhook or a log file.

Destination: `KPI_FAILURE_WEBHOOK` (an HTTP(S) URL that accepts a JSON POST, e.g. a Slack or Teams
incoming webhook: the `text` field is the human summary) when set, else the JSON-lines file
`<warehouse>/logs/run_failures.log`. A webhook that cannot be reached does not lose the report: it is
written to the log file with the delivery error.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

FAILURE_LOG = Path("logs") / "run_failures.log"
WEBHOOK_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class FailedStep:
    step: str
    error: str


@dataclass(frozen=True)
class FailureReport:
    run_id: str
    job: str
    status: str
    failed_at: str  # ISO 8601, UTC
    message: str
    run_url: str
    failed_steps: list[FailedStep] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        steps = "".join(f"\n• {s.step}: {s.error}" for s in self.failed_steps)
        return f"funnel-kpi run {self.run_id[:8]} ({self.job}) failed: {self.message}{steps}\n{self.run_url}"

    def as_json(self) -> dict:
        return {"text": self.text, **asdict(self)}


def failure_log_path(warehouse: Path) -> Path:
    return warehouse / FAILURE_LOG


def append_to_log(report: FailureReport, path: Path, *, delivery_error: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    record = report.as_json()
    if delivery_error:
        record["delivery_error"] = delivery_error
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def post_to_webhook(report: FailureReport, url: str) -> None:
    body = json.dumps(report.as_json(), ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
        if not 200 <= response.status < 300:  # pragma: no cover - urlopen raises for most codes
            raise urllib.error.HTTPError(url, response.status, "webhook refused", None, None)


def deliver(report: FailureReport, *, log_path: Path, webhook: str | None) -> str:
    """Send the report; returns where it went. Never raises for an unreachable webhook."""
    if webhook:
        try:
            post_to_webhook(report, webhook)
            return f"webhook {webhook}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            append_to_log(report, log_path, delivery_error=f"webhook {webhook}: {exc}")
            return f"{log_path} (webhook failed: {exc})"
    append_to_log(report, log_path)
    return str(log_path)


def step_failure_text(event, default: str = "failed") -> str:
    """The one line that says why a Dagster step failed: a `dg.Failure`'s description, else the
    innermost error message (Dagster wraps user errors in "Error occurred while …")."""
    data = event.step_failure_data
    if data is None:
        return default
    if data.user_failure_data and data.user_failure_data.description:
        return data.user_failure_data.description
    error = data.error
    while error is not None and error.cause is not None and "Error occurred while" in error.message:
        error = error.cause
    return (error.message.strip() if error else default).splitlines()[0]
