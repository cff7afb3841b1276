"""`kpi`: the command line. A thin typer layer over the library; every command is documented in
README.md and docs/."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from pipelines.settings import DEFAULT_DBT_PROJECT, DEFAULT_DEFINITIONS, Settings

app = typer.Typer(
    help="funnel-kpi: landing files → DuckDB → YAML-declared funnels (dbt) → validated kpi.duckdb.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DefinitionsOpt = Annotated[
    Path, typer.Option("--definitions", help="Folder of KPI definition YAML files.")
]


def _fail(message: str, code: int = 1) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _day_range(text: str) -> tuple[str, str]:
    import datetime as dt

    first, _, last = text.partition(":")
    try:
        start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last or first)
    except ValueError:
        _fail(f"--recompute {text!r}: expected FIRST:LAST or DAY as YYYY-MM-DD", 2)
    if end < start:
        _fail(f"--recompute {text!r}: the range ends before it starts", 2)
    return start.isoformat(), end.isoformat()


@app.command()
def run(
    landing: Annotated[Path, typer.Option(help="Landing folder: one sub-folder per entity.")],
    warehouse: Annotated[Path, typer.Option(help="Warehouse folder; kpi.duckdb is written here.")],
    definitions: DefinitionsOpt = DEFAULT_DEFINITIONS,
    quiet: Annotated[bool, typer.Option(help="Print only the summary.")] = True,
    full_refresh: Annotated[
        bool, typer.Option(help="Recompute every KPI row, not only the periods that changed.")
    ] = False,
    recompute: Annotated[
        str | None,
        typer.Option(
            help="Backfill: also recompute the periods holding these days, FIRST:LAST or DAY "
            "(YYYY-MM-DD), in one dbt invocation."
        ),
    ] = None,
    full_reload: Annotated[
        bool,
        typer.Option(
            "--full-reload",
            help="Read every landing file again, not only new or changed ones (the file manifest "
            "is rebuilt).",
        ),
    ] = False,
) -> None:
    """Materialise every asset in process (load, dbt build, validate, publish) and summarise.

    Only new or changed landing files are read, and the KPI models recompute only the periods
    whose data changed (docs/operations.md, "Incremental runs")."""
    from pipelines.privacy import MissingPseudonymKey, ensure_pseudonym_key

    settings = Settings(
        landing=landing.resolve(), warehouse=warehouse.resolve(), definitions=definitions.resolve()
    )
    if not settings.landing.is_dir():
        _fail(f"landing folder {settings.landing} does not exist", 2)
    try:
        ensure_pseudonym_key(settings.landing)  # before anything is written
    except MissingPseudonymKey as exc:
        _fail(str(exc), 2)
    from pipelines.runner import RunFailed, run_pipeline

    days = _day_range(recompute) if recompute else None
    try:
        summary = run_pipeline(
            settings,
            quiet=quiet,
            full_reload=full_reload,
            full_refresh=full_refresh,
            recompute=days,
        )
    except RunFailed as exc:
        _fail(str(exc), 1)
    except Exception as exc:
        from pipelines.compiler.prepare import ProjectOutOfDate
        from pipelines.spec.loader import DefinitionError

        if isinstance(exc, DefinitionError | ProjectOutOfDate):
            _fail(str(exc), 2)
        raise
    typer.echo(summary)


@app.command()
def compile(
    definitions: DefinitionsOpt = DEFAULT_DEFINITIONS,
    project: Annotated[Path, typer.Option(help="dbt project to write into.")] = DEFAULT_DBT_PROJECT,
    check: Annotated[
        bool, typer.Option("--check", help="Only check the generated files are up to date.")
    ] = False,
) -> None:
    """Compile KPI definitions into dbt models under <project>/models/kpis/."""
    from pipelines.compiler.project import check_project_files, write_project_files

    defs = _load(definitions)
    if check:
        drift = check_project_files(defs, project)
        if drift:
            _fail("generated dbt files are out of date (run `kpi compile`):\n  "
                  + "\n  ".join(str(d) for d in drift))  # fmt: skip
        typer.echo(f"generated dbt files in {project} match {definitions}")
        return
    changed = write_project_files(defs, project)
    for rel in changed:
        typer.echo(f"wrote {project / rel}")
    typer.echo(f"{len(changed)} file(s) changed" if changed else "up to date")


@app.command()
def check(definitions: DefinitionsOpt = DEFAULT_DEFINITIONS) -> None:
    """Validate KPI definitions without touching data: one message per mistake, with file:line:col."""
    defs = _load(definitions)
    typer.echo(
        f"{definitions}: {len(defs.funnels)} funnel(s), {len(defs.dimensions)} dimension(s): ok"
    )


@app.command()
def schema(
    out: Annotated[
        Path | None, typer.Option(help="File to write (default: print to stdout).")
    ] = None,
) -> None:
    """Print or write the JSON Schema of the definition format (for editor autocompletion)."""
    import json

    from pipelines.spec.schema import definitions_json_schema

    text = json.dumps(definitions_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")


@app.command("sample-data")
def sample_data(
    out: Annotated[Path, typer.Option(help="Landing folder to write into.")],
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 7,
    scale: Annotated[float, typer.Option(help="1.0 ≈ 100 reps for a year.")] = 0.1,
) -> None:
    """Generate a deterministic, believable Nordic B2B sales org as landing files."""
    from pipelines.privacy import mark_sample_landing
    from pipelines.sample_data import generate_sample_org

    summary = generate_sample_org(out, seed=seed, scale=scale)
    mark_sample_landing(out)  # generated data: `kpi run` may use the public sample key
    rows = ", ".join(f"{k} {v:,}" for k, v in summary.rows_written.items())
    typer.echo(f"sample org in {out}: {summary.n_reps} reps; {rows}")


@app.command()
def prepare(definitions: DefinitionsOpt = DEFAULT_DEFINITIONS) -> None:
    """Check generated models and build the dbt manifest (run by `make setup`)."""
    from pipelines.compiler.prepare import ProjectOutOfDate, prepare_dbt_project

    settings = Settings.from_env()
    settings = Settings(settings.landing, settings.warehouse, definitions.resolve())
    try:
        project = prepare_dbt_project(settings, _load(definitions))
    except ProjectOutOfDate as exc:
        _fail(str(exc), 2)
    typer.echo(f"dbt project ready: {project}")


def _load(definitions: Path):
    from pipelines.spec.loader import DefinitionError, load_definitions

    try:
        return load_definitions(definitions)
    except DefinitionError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        n = len(exc.problems)
        _fail(f"{n} problem{'s' if n != 1 else ''} in {definitions}", 2)


def main() -> None:  # pragma: no cover - console entry point
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    try:
        app()
    except SystemExit as exc:  # how click ends a command, with its exit code
        _exit_without_teardown(exc.code)
    _exit_without_teardown(0)


def _exit_without_teardown(code: int | str | None) -> None:
    """Exit as the interpreter would, minus freeing every object one by one.

    A `kpi run` process holds Dagster's, dbt's and great-expectations' modules and objects by the
    million; the interpreter's teardown (clearing each module, then the heap) took ~2 s after the
    last line was printed. Everything with an effect still happens: other threads are waited for,
    `atexit` handlers run (logging flushes, dbt-duckdb closes its connections), the standard
    streams are flushed. Then the process ends with the same code `sys.exit` would give it."""
    import atexit
    import threading

    if isinstance(code, str):  # sys.exit("message"): printed, exit code 1
        print(code, file=sys.stderr)
        code = 1
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 1  # as the interpreter does when stdout is gone (a closed pipe)
    os._exit(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
