"""dbt inside the pipeline process (pipelines/assets/dbt_runner.py), on a tiny dbt project.

What dagster-dbt's subprocess gave us must hold in process too: a materialisation per model and a
check result per test, a failing build failing the step with dbt's error, the build database
written in the step's working folder and released afterwards (the next step opens it read-only;
the next run, on another warehouse, writes its own file), and an interrupted dbt stopping.
"""

import os
import textwrap
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_dbt import DagsterDbtTranslatorSettings, DbtProject, dbt_assets
from dagster_dbt.errors import DagsterDbtCliRuntimeError

from pipelines.assets.dbt import KpiDbtTranslator
from pipelines.assets.dbt_runner import InProcessDbtResource, _interrupt, _Invocation, _invoke

PROFILE = """
tiny:
  target: build
  outputs:
    build:
      type: duckdb
      path: build.duckdb
      threads: 2
"""


def tiny_project(folder: Path, model_sql: str = "select 1 as x union all select 2") -> Path:
    project = folder / "project"
    (project / "models" / "marts").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        "name: tiny\nversion: '1.0'\nconfig-version: 2\nprofile: tiny\n"
        "models:\n  tiny:\n    marts:\n      +schema: marts\n      +materialized: table\n"
    )
    (project / "profiles.yml").write_text(PROFILE)
    (project / "models" / "marts" / "numbers.sql").write_text(model_sql)
    (project / "models" / "marts" / "doubled.sql").write_text(
        "select x * 2 as y from {{ ref('numbers') }}"
    )
    (project / "models" / "marts" / "_marts.yml").write_text(
        textwrap.dedent(
            """
            models:
              - name: numbers
                columns:
                  - name: x
                    data_tests: [not_null, unique]
            """
        )
    )
    return project


def parse(project: Path) -> Path:
    from dbt.cli.main import dbtRunner

    args = ["parse", "--quiet", "--project-dir", str(project), "--profiles-dir", str(project)]
    assert dbtRunner().invoke(args).success
    return project / "target" / "manifest.json"


def tiny_assets(project: Path, workdir: Path):
    manifest = parse(project)

    @dbt_assets(
        manifest=manifest,
        project=DbtProject(project_dir=project, profiles_dir=project),
        dagster_dbt_translator=KpiDbtTranslator(
            settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
        ),
    )
    def tiny(context: dg.AssetExecutionContext, dbt: InProcessDbtResource):
        yield from dbt.cli(
            ["build"], context=context, target_path=workdir / "dbt_target", workdir=workdir
        )

    return tiny


def materialize(project: Path, workdir: Path, **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [tiny_assets(project, workdir)],
        resources={
            "dbt": InProcessDbtResource(project_dir=str(project), profiles_dir=str(project))
        },
        **kwargs,
    )


def test_models_and_tests_become_materialisations_and_checks(tmp_path):
    project, workdir = tiny_project(tmp_path), tmp_path / "warehouse"
    cwd = os.getcwd()
    result = materialize(project, workdir)
    assert result.success
    keys = {m.asset_key for m in result.get_asset_materialization_events()}
    assert keys == {dg.AssetKey(["marts", "numbers"]), dg.AssetKey(["marts", "doubled"])}
    checks = {
        e.event_specific_data.asset_check_key.name: e.event_specific_data.passed
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    }
    assert checks == {"not_null_numbers_x": True, "unique_numbers_x": True}
    assert os.getcwd() == cwd  # the step's working folder was the warehouse only during dbt
    # Written in the warehouse folder, and released: this process opens it read-only at once.
    with duckdb.connect(str(workdir / "build.duckdb"), read_only=True) as con:
        assert con.execute("select sum(y) from main_marts.doubled").fetchone() == (6,)
    assert (workdir / "dbt_target" / "dbt.log").exists()


def test_a_second_warehouse_gets_its_own_build_database(tmp_path):
    project = tiny_project(tmp_path)
    first, second = tmp_path / "first", tmp_path / "second"
    assert materialize(project, first).success
    (project / "models" / "marts" / "numbers.sql").write_text("select 10 as x")
    assert materialize(project, second).success
    for workdir, expected in ((first, 6), (second, 20)):
        with duckdb.connect(str(workdir / "build.duckdb"), read_only=True) as con:
            assert con.execute("select sum(y) from main_marts.doubled").fetchone() == (expected,)


def test_a_failing_model_fails_the_step_with_dbts_error(tmp_path):
    project = tiny_project(tmp_path, "select error('the source is broken') as x")
    workdir = tmp_path / "warehouse"
    result = materialize(project, workdir, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    text = str(failure.step_failure_data.error)
    assert "the source is broken" in text
    assert DagsterDbtCliRuntimeError.__name__ in text
    # Nothing holds the file: it opens read-only in this process.
    duckdb.connect(str(workdir / "build.duckdb"), read_only=True).close()


def test_a_failing_test_fails_the_step_after_reporting_the_check(tmp_path):
    project = tiny_project(tmp_path, "select 1 as x union all select 1")
    result = materialize(project, tmp_path / "warehouse", raise_on_error=False)
    assert not result.success
    checks = {
        e.event_specific_data.asset_check_key.name: e.event_specific_data.passed
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    }
    assert checks["unique_numbers_x"] is False


def test_an_interrupted_dbt_stops(tmp_path):
    # A model that would run for minutes: interrupted as Ctrl-C would, dbt cancels the query.
    project = tiny_project(tmp_path, "select count(*) as x from range(1000000000000)")
    parse(project)
    workdir = tmp_path / "warehouse"
    workdir.mkdir()
    invocation = _Invocation()
    args = ["run", "--project-dir", str(project), "--profiles-dir", str(project),
            "--target-path", str(workdir / "t"), "--log-path", str(workdir / "t"), "--quiet"]  # fmt: skip
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        worker = threading.Thread(target=_invoke, args=(args, invocation), daemon=True)
        worker.start()
        deadline = time.monotonic() + 60
        while not (workdir / "build.duckdb").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # the model's query is running
        started = time.monotonic()
        _interrupt(worker)
        worker.join(timeout=30)
        assert not worker.is_alive(), "dbt went on after the interrupt"
        assert time.monotonic() - started < 30
    finally:
        os.chdir(cwd)
    kinds = []
    while not invocation.events.empty():
        kinds.append(invocation.events.get())
    finished = kinds[-1]
    assert finished[0] == "finished" and not finished[1].success


@pytest.fixture(autouse=True)
def _quiet_dbt(monkeypatch):
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
