"""Where does a full `kpi run` spend its time? Evidence for benchmarks/results.md.

    python -m benchmarks.profile --scale 1

Writes benchmarks/out/sf<scale>/profile/profile.md (and .json) with
  * the whole run under cProfile, as a process (wall, CPU, RSS), and its top functions;
  * Dagster step timings of that run (ingestion per entity, dbt, each pandera check, publish) and
    the start-up / tear-down around them;
  * dbt's own timings (run_results.json of that run's target folder) per model and test;
  * every SQL statement the loader runs, per entity, timed, with DuckDB's operator profile
    (EXPLAIN ANALYZE as JSON) of the heaviest ones;
  * DuckDB's operator profile of the heaviest dbt models, re-run on the finished build database.
Nothing in pipelines/ is changed: the loader is driven through a timing proxy of its connection.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile  # noqa: F401  (documents that the run is profiled with cProfile)
import io
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import duckdb

from benchmarks.harness import ROOT, _bin, _env, ensure_landing, scale_dir
from benchmarks.measure import measure

TOP_FUNCTIONS = 35
HEAVY_STATEMENTS = 4
HEAVY_MODELS = 4


# --- the run under cProfile ----------------------------------------------------------------------


def profiled_run(landing: Path, folder: Path) -> tuple[dict, Path, Path]:
    warehouse = folder / "warehouse"
    shutil.rmtree(warehouse, ignore_errors=True)
    prof = folder / "kpi_run.prof"
    command = [sys.executable, "-m", "cProfile", "-o", str(prof), _bin("kpi"), "run",
               "--landing", str(landing), "--warehouse", str(warehouse)]  # fmt: skip
    m = measure(command, env=_env(), cwd=ROOT, log=folder / "kpi_run.log")
    if not m.ok:
        raise RuntimeError(f"profiled run failed:\n{m.stderr_tail}")
    return m.as_dict(), warehouse, prof


def top_functions(prof: Path) -> tuple[str, str]:
    def render(sort: str) -> str:
        buf = io.StringIO()
        stats = pstats.Stats(str(prof), stream=buf)
        stats.sort_stats(sort).print_stats(TOP_FUNCTIONS)
        text = buf.getvalue()
        return text[text.find("   ncalls") :] if "   ncalls" in text else text

    return render("cumulative"), render("tottime")


def function_totals(prof: Path, names: dict[str, tuple[str, str]]) -> dict[str, dict]:
    """Cumulative time and calls of chosen functions: label -> (file suffix, function name)."""
    stats = pstats.Stats(str(prof)).stats  # type: ignore[attr-defined]
    out = {}
    for label, (suffix, function) in names.items():
        total, calls = 0.0, 0
        for (filename, _, name), (_, ncalls, _, cumtime, _) in stats.items():
            if name == function and filename.endswith(suffix):
                total += cumtime
                calls += ncalls
        out[label] = {"cumulative_s": round(total, 2), "calls": calls}
    return out


FUNCTIONS = {
    "build_definitions (project check, manifest, Definitions)": (
        "pipelines/definitions.py",
        "build_definitions",
    ),
    "prepare_dbt_project": ("pipelines/compiler/prepare.py", "prepare_dbt_project"),
    "load_definitions (YAML)": ("pipelines/spec/loader.py", "load_definitions"),
    "load_entity (all entities)": ("pipelines/ingest/loader.py", "load_entity"),
    "read_into_text_table": ("pipelines/ingest/readers.py", "read_into_text_table"),
    "validate_tables (pandera checks)": ("pipelines/validation/kpi_tables.py", "validate_tables"),
    "validate_build (again before publish)": (
        "pipelines/validation/kpi_tables.py",
        "validate_build",
    ),
    "publish (copy into kpi.duckdb)": ("pipelines/publish.py", "publish"),
    "file_checksums (sha256 of landing)": ("pipelines/publish.py", "file_checksums"),
    "execute_in_process (the whole Dagster run)": (
        "dagster/_core/definitions/job_definition.py",
        "execute_in_process",
    ),
}


# --- Dagster step timings ------------------------------------------------------------------------


def dagster_steps(warehouse: Path) -> dict:
    import dagster as dg

    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(warehouse / "dagster_home")
    try:
        with dg.DagsterInstance.get() as instance:
            run = instance.get_runs(limit=1)[0]
            run_stats = instance.get_run_stats(run.run_id)
            steps = sorted(
                instance.get_run_step_stats(run.run_id), key=lambda s: s.start_time or 0.0
            )
            dbt_events = _dbt_event_times(instance, run.run_id)
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous
    start = run_stats.start_time
    return {
        "run_id": run.run_id,
        "run_s": round(run_stats.end_time - start, 2),
        "launched_at": start,
        "steps": [
            {
                "step": s.step_key,
                "starts_at_s": round(s.start_time - start, 2),
                "seconds": round(s.end_time - s.start_time, 2),
            }
            for s in steps
            if s.start_time and s.end_time
        ],
        "dbt_step_events": dbt_events,
    }


def _dbt_event_times(instance, run_id: str) -> dict:
    """First and last dbt materialization inside the dbt step: start-up vs work vs wind-down."""
    start = end = first = last = None
    n = 0
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key != "kpi_models":
            continue
        if event.event_type_value == "STEP_START":
            start = record.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            end = record.timestamp
        elif event.event_type_value in ("ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION"):
            n += 1
            first = record.timestamp if first is None else first
            last = record.timestamp
    if None in (start, end, first, last):
        return {}
    return {
        "events": n,
        "until_first_event_s": round(first - start, 2),
        "first_to_last_event_s": round(last - first, 2),
        "after_last_event_s": round(end - last, 2),
    }


# --- dbt's own timings ---------------------------------------------------------------------------


def dbt_timings(warehouse: Path) -> dict:
    """dbt's run_results.json of the warehouse's last build (`<warehouse>/dbt_target`)."""
    target = warehouse / "dbt_target"
    if not (target / "run_results.json").is_file():
        return {}
    results = json.loads((target / "run_results.json").read_text())
    nodes = []
    for node in results["results"]:
        timing = {t["name"]: t for t in node.get("timing", [])}
        nodes.append(
            {
                "node": node["unique_id"],
                "seconds": round(node["execution_time"], 3),
                "status": node["status"],
                "has_execute": "execute" in timing,
            }
        )
    nodes.sort(key=lambda n: -n["seconds"])
    by_kind: dict[str, float] = {}
    for n in nodes:
        kind = n["node"].split(".")[0]
        by_kind[kind] = round(by_kind.get(kind, 0.0) + n["seconds"], 2)
    return {
        "target": str(target),
        "elapsed_s": round(results["elapsed_time"], 2),
        "nodes": len(nodes),
        "sum_by_kind_s": by_kind,
        "top": nodes[:25],
    }


# --- DuckDB operator profiles --------------------------------------------------------------------


def _operators(profile: dict) -> list[tuple[float, str, int]]:
    """(seconds, operator, rows) of every operator in a DuckDB JSON profile, slowest first."""
    found: list[tuple[float, str, int]] = []

    def walk(node: dict) -> None:
        name = node.get("operator_name") or node.get("name") or node.get("operator_type") or ""
        timing = node.get("operator_timing", node.get("timing"))
        rows = node.get("operator_cardinality", node.get("intermediate_rows", 0)) or 0
        extra = node.get("extra_info") or {}
        detail = extra.get("Function") or extra.get("Aggregates") or extra.get("Join Type") or ""
        if isinstance(detail, list):
            detail = ", ".join(map(str, detail))
        label = f"{name.strip()} [{str(detail)[:60]}]" if detail else name.strip()
        if name and timing is not None:
            found.append((float(timing), label, int(rows)))
        for child in node.get("children", []):
            walk(child)

    roots = profile.get("operator") or [profile]
    for root in roots if isinstance(roots, list) else [roots]:
        walk(root)
    found.sort(reverse=True)
    return found


class TimedConnection:
    """Delegates to a DuckDB connection; times every statement and keeps a JSON operator profile."""

    def __init__(self, con: duckdb.DuckDBPyConnection, folder: Path, entity: str) -> None:
        self._con, self._folder, self._entity = con, folder, entity
        self.statements: list[dict] = []
        con.execute("SET enable_profiling = 'json'")
        con.execute("SET profiling_mode = 'standard'")

    def execute(self, sql: str, params=None):
        index = len(self.statements)
        profile = self._folder / f"{self._entity}-{index:03d}.json"
        self._con.execute(f"SET profiling_output = '{profile.as_posix()}'")
        started = time.perf_counter()
        result = self._con.execute(sql) if params is None else self._con.execute(sql, params)
        seconds = time.perf_counter() - started
        self.statements.append(
            {
                "index": index,
                "seconds": round(seconds, 3),
                "sql": _one_line(sql),
                "profile": profile,
            }
        )
        return result

    def __getattr__(self, name: str):
        return getattr(self._con, name)


def _one_line(sql: str, limit: int = 150) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def loader_statements(landing: Path, folder: Path) -> dict:
    from pipelines.ingest.contract import ENTITIES
    from pipelines.ingest.loader import load_entity

    profiles = folder / "duckdb_profiles"
    shutil.rmtree(profiles, ignore_errors=True)
    profiles.mkdir(parents=True)
    out = {}
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        con = duckdb.connect(str(Path(tmp) / "build.duckdb"))
        con.execute("SET enable_progress_bar = false")
        for entity in ENTITIES:
            timed = TimedConnection(con, profiles, entity)
            started = time.perf_counter()
            load_entity(timed, entity, landing)  # type: ignore[arg-type]
            total = time.perf_counter() - started
            con.execute("SET enable_profiling = 'no_output'")
            con.execute("PRAGMA disable_profiling")
            heavy = sorted(timed.statements, key=lambda s: -s["seconds"])
            for statement in heavy[:HEAVY_STATEMENTS]:
                path = statement["profile"]
                ops = _operators(json.loads(path.read_text())) if path.exists() else []
                statement["operators"] = [
                    {"seconds": round(t, 3), "operator": name, "rows": rows}
                    for t, name, rows in ops[:6]
                ]
            for statement in timed.statements:
                statement["profile"] = str(statement["profile"].relative_to(folder))
            out[entity] = {
                "seconds": round(total, 2),
                "statements": len(timed.statements),
                "heaviest": heavy[:HEAVY_STATEMENTS],
            }
        con.close()
    return out


def dbt_model_profiles(warehouse: Path, dbt: dict) -> list[dict]:
    if not dbt:
        return []
    compiled = ROOT / dbt["target"] / "compiled" / "funnel_kpi" / "models"
    models = [n for n in dbt["top"] if n["node"].startswith("model.")][:HEAVY_MODELS]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "build.duckdb"  # same catalog name as the original
        shutil.copy(warehouse / "build.duckdb", copy)
        con = duckdb.connect(str(copy))
        con.execute("SET enable_progress_bar = false")
        for node in models:
            name = node["node"].split(".")[-1]
            files = list(compiled.rglob(f"{name}.sql"))
            if not files:
                continue
            sql = files[0].read_text()
            profile = Path(tmp) / f"{name}.json"
            con.execute("SET enable_profiling = 'json'")
            con.execute(f"SET profiling_output = '{profile.as_posix()}'")
            started = time.perf_counter()
            con.execute(f"CREATE OR REPLACE TEMP TABLE _profiled AS {sql}")
            seconds = time.perf_counter() - started
            con.execute("PRAGMA disable_profiling")
            ops = _operators(json.loads(profile.read_text())) if profile.exists() else []
            out.append(
                {
                    "model": name,
                    "dbt_seconds": node["seconds"],
                    "rerun_seconds": round(seconds, 3),
                    "operators": [
                        {"seconds": round(t, 3), "operator": n, "rows": r} for t, n, r in ops[:6]
                    ],
                }
            )
        con.close()
    return out


# --- start-up ------------------------------------------------------------------------------------


def startup_costs() -> dict:
    """Wall time of importing the CLI's stack and of building the Definitions, as processes."""
    snippets = {
        "python -c pass": "pass",
        "import dagster": "import dagster",
        "import dagster_dbt": "import dagster_dbt",
        "import pipelines.definitions": "import pipelines.definitions",
        "build_definitions(settings)": (
            "from pipelines.definitions import build_definitions\n"
            "from pipelines.settings import Settings\n"
            "build_definitions(Settings.from_env())"
        ),
        "dbt --version (dbt start-up)": None,
    }
    out = {}
    for label, code in snippets.items():
        command = (
            [_bin("dbt"), "--version"] if code is None else [sys.executable, "-c", code]
        )  # fmt: skip
        m = measure(command, env=_env(), cwd=ROOT)
        out[label] = {"wall_s": m.wall_s, "cpu_s": round(m.cpu_s, 2), "ok": m.ok}
    return out


# --- report --------------------------------------------------------------------------------------


def render(result: dict) -> str:
    lines = [f"# Profile of a full `kpi run` at SF {result['scale']:g}", ""]
    run = result["run"]
    lines += [
        f"Under cProfile: wall {run['wall_s']:.1f} s, CPU {run['cpu_s']:.1f} s, "
        f"peak RSS (tree) {run['tree_rss_kib'] / 1024:.0f} MiB, load at start {run['load_before']}.",
        "",
        "## Dagster steps",
        "",
    ]
    steps = result["dagster"]
    lines += [
        f"Process wall {run['wall_s']:.1f} s; Dagster run {steps['run_s']:.1f} s "
        f"(so {run['wall_s'] - steps['run_s']:.1f} s of start-up and tear-down outside it).",
        "",
        "| step | starts at s | seconds |",
        "|---|---:|---:|",
    ]
    lines += [f"| {s['step']} | {s['starts_at_s']} | {s['seconds']} |" for s in steps["steps"]]
    ev = steps.get("dbt_step_events") or {}
    if ev:
        lines += [
            "",
            f"dbt step: {ev['until_first_event_s']} s until the first dbt result reached Dagster, "
            f"{ev['first_to_last_event_s']} s between first and last of {ev['events']} events, "
            f"{ev['after_last_event_s']} s after the last one.",
        ]
    dbt = result["dbt"]
    if dbt:
        lines += [
            "",
            "## dbt (run_results.json)",
            "",
            f"dbt elapsed {dbt['elapsed_s']} s for {dbt['nodes']} nodes; summed node time by "
            f"kind: {dbt['sum_by_kind_s']}.",
            "",
            "| node | seconds |",
            "|---|---:|",
        ]
        lines += [f"| {n['node']} | {n['seconds']} |" for n in dbt["top"][:15]]
    lines += ["", "## Loader statements (per entity, heaviest first)", ""]
    for entity, info in result["loader"].items():
        lines.append(f"- **{entity}**: {info['seconds']} s in {info['statements']} statements")
        for s in info["heaviest"]:
            ops = ", ".join(
                f"{o['operator']} {o['seconds']} s ({o['rows']:,} rows)"
                for o in s.get("operators", [])[:4]
            )
            lines.append(f"  - {s['seconds']} s: `{s['sql'][:110]}`" + (f" — {ops}" if ops else ""))
    if result["models"]:
        lines += ["", "## Heaviest dbt models, re-run with DuckDB's profiler", ""]
        for m in result["models"]:
            ops = ", ".join(
                f"{o['operator']} {o['seconds']} s ({o['rows']:,} rows)" for o in m["operators"][:4]
            )
            lines.append(
                f"- {m['model']}: {m['dbt_seconds']} s in dbt, {m['rerun_seconds']} s alone — {ops}"
            )
    lines += ["", "## Python functions (cProfile, cumulative)", ""]
    lines += ["| function | cumulative s | calls |", "|---|---:|---:|"]
    lines += [
        f"| {label} | {v['cumulative_s']} | {v['calls']} |"
        for label, v in result["functions"].items()
    ]
    lines += [
        "",
        "## Start-up (separate processes)",
        "",
        "| what | wall s | CPU s |",
        "|---|---:|---:|",
    ]
    lines += [f"| {k} | {v['wall_s']} | {v['cpu_s']} |" for k, v in result["startup"].items()]
    lines += ["", "## Top functions by cumulative time", "", "```", result["top_cumulative"], "```"]
    lines += ["", "## Top functions by own time", "", "```", result["top_tottime"], "```", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    landing, _ = ensure_landing(args.scale, args.seed)
    folder = scale_dir(args.scale) / "profile"
    folder.mkdir(parents=True, exist_ok=True)
    print("profiled kpi run …", file=sys.stderr, flush=True)
    run, warehouse, prof = profiled_run(landing, folder)
    dagster = dagster_steps(warehouse)
    dbt = dbt_timings(warehouse)
    cumulative, tottime = top_functions(prof)
    print("loader statements …", file=sys.stderr, flush=True)
    loader = loader_statements(landing, folder)
    print("dbt models …", file=sys.stderr, flush=True)
    models = dbt_model_profiles(warehouse, dbt)
    print("start-up …", file=sys.stderr, flush=True)
    startup = startup_costs()
    result = {
        "scale": args.scale,
        "run": run,
        "dagster": dagster,
        "dbt": dbt,
        "loader": loader,
        "models": models,
        "functions": function_totals(prof, FUNCTIONS),
        "startup": startup,
        "top_cumulative": cumulative,
        "top_tottime": tottime,
    }
    with contextlib.suppress(OSError):
        (folder / "profile.json").write_text(json.dumps(result, indent=2, default=str))
    (folder / "profile.md").write_text(render(result))
    print(f"wrote {folder / 'profile.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
