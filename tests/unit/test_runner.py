"""pipelines/runner.py, the process around `kpi run`.

It imports the validation libraries in a background thread while the loads run. What the run's own
thread uses at the same time must be imported before that thread starts: sqlalchemy.orm,
half-imported by great-expectations in the background, once failed a freshness check step with
"partially initialized module 'sqlalchemy.orm.exc'" (Dagster's event storage reached its hooks).
And a failed run says whether it published before failing."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from pipelines import runner

assert "sqlalchemy.orm" not in sys.modules, "imported too early for this probe"
runner._import_in_background("great_expectations")
# The background thread has only just started: the shared module is already whole (looked up
# without an import statement, which would wait for the background thread's import).
orm = sys.modules.get("sqlalchemy.orm")
orm_exc = sys.modules.get("sqlalchemy.orm.exc")
assert orm is not None and orm_exc is not None, "sqlalchemy.orm not imported yet"
assert not getattr(orm.__spec__, "_initializing", False), "sqlalchemy.orm half-imported"
assert hasattr(orm_exc, "UnmappedClassError")
print("ok")
"""


def test_shared_modules_are_whole_before_the_background_import_starts() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_great_expectations_still_imports_sqlalchemy_orm() -> None:
    """The guard above is needed while the background import pulls in sqlalchemy.orm."""
    probe = "import great_expectations, sys; print('sqlalchemy.orm' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def test_a_failed_run_says_whether_it_published(tmp_path) -> None:
    from pipelines.runner import RunSummary, failure_message
    from pipelines.settings import Settings

    settings = Settings(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")
    failures = ["  landing__web_visits_freshness: AttributeError: boom"]
    after = failure_message(RunSummary(settings, published={"funnel_factors": 3}), failures)
    before = failure_message(RunSummary(settings), failures)
    assert after.startswith("run failed; kpi.duckdb was published before the failure.\n")
    assert before.startswith("run failed; kpi.duckdb was left as it was.\n")
    assert "landing__web_visits_freshness: AttributeError: boom" in after
    assert "Not published" in before and "Published" in after
