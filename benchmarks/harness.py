"""The benchmark of issue 6: `kpi run` against the DuckDB floor and the pandas peer.

    python -m benchmarks.harness --scale 0.1 --runs 3        (what `make bench SCALE=0.1` runs)

For one scale factor it
  1. generates the sample org once into benchmarks/out/sf<scale>/landing (cached), and the day
     after its last day once into benchmarks/out/sf<scale>/new_day (cached);
  2. measures, each as a separate whole process (wall, CPU = user + sys, peak RSS):
       full         `kpi run` on an empty warehouse,
       incremental  `kpi run` on a copy of a fully loaded warehouse after one new day arrived in
                    the same landing folder (its files are hard-linked in for the run and taken
                    out again afterwards, so the cached year stays as generated),
       floor        benchmarks/floor.sql via the DuckDB Python client (benchmarks/floor.py),
       floor_plus1  the floor on the year + 1 day (what the incremental run must reproduce),
       pandas       tests/reference/pandas_funnels.py;
     in interleaved rounds (floor, full, incremental, floor_plus1, pandas, then the next round),
     so that on a machine whose speed drifts each ratio pairs runs taken minutes apart;
  3. checks that all of them wrote the same `funnel_factors`: the whole table for full vs floor and
     incremental vs floor_plus1, the three shipped funnels by all/team/rep with the pandas peer;
  4. stores the raw runs in benchmarks/out/sf<scale>/results.json, merges the summary into
     benchmarks/results.json and regenerates the tables of benchmarks/results.md and
     benchmarks/scaling.png (benchmarks/report.py).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import report
from benchmarks.compare import compare_files
from benchmarks.machine import describe_machine
from benchmarks.measure import Measurement, measure

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
OUT = BENCH_DIR / "out"
RESULTS_JSON = BENCH_DIR / "results.json"
KINDS = ("full", "incremental", "floor", "floor_plus1", "pandas")
COMPLETE = ".complete"


def scale_dir(scale: float) -> Path:
    return OUT / f"sf{scale:g}"


CODE_PATHS = ("pipelines", "kpi_definitions", "kpi_models/models", "kpi_models/macros",
              "kpi_models/dbt_project.yml", "kpi_models/profiles.yml")  # fmt: skip


def code_fingerprint(root: Path = ROOT) -> str:
    """A short hash of the code and definitions a `kpi run` executes (others edit them while the
    benchmark runs: runs measured on different code are told apart by this)."""
    digest = hashlib.sha256()
    for name in CODE_PATHS:
        base = root / name
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts:
                continue
            try:
                content = path.read_bytes()
            except OSError:  # removed while we looked
                continue
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(content)
    return digest.hexdigest()[:12]


def _log(message: str) -> None:
    stamp = dt.datetime.now().strftime("%H:%M:%S")
    print(f"[bench {stamp}] {message}", file=sys.stderr, flush=True)


# --- landing folders -----------------------------------------------------------------------------


def ensure_landing(scale: float, seed: int) -> tuple[Path, dict]:
    """The year of sample data for (scale, seed); generated only when missing or incomplete."""
    from pipelines.sample_data import generate_sample_org

    folder = scale_dir(scale)
    landing = folder / "landing"
    info_path = folder / "generation.json"
    _remove_added_day(landing)
    if (landing / COMPLETE).exists() and info_path.exists():
        info = json.loads(info_path.read_text())
        if info["seed"] == seed and info["scale"] == scale:
            return landing, info
    shutil.rmtree(landing, ignore_errors=True)
    shutil.rmtree(folder / "new_day", ignore_errors=True)
    _log(f"generating the sample org at SF {scale:g} (seed {seed}) into {landing}")
    started = time.perf_counter()
    summary = generate_sample_org(landing, seed=seed, scale=scale)
    info = {
        "seed": seed,
        "scale": scale,
        "start": summary.start.isoformat(),
        "end": summary.end.isoformat(),
        "reps": summary.n_reps,
        "rows_written": summary.rows_written,
        "files": len(summary.files),
        "bytes": _folder_bytes(landing),
        "seconds": round(time.perf_counter() - started, 1),
    }
    info_path.write_text(json.dumps(info, indent=2))
    (landing / COMPLETE).touch()
    return landing, info


def ensure_new_day(scale: float, seed: int, info: dict) -> tuple[Path, dict]:
    """The files of the day after the landing's last day, generated once:
    `generate_sample_org(seed=, scale=, start=<last day + 1>, days=1, include_reps=False)`."""
    from pipelines.sample_data import generate_sample_org

    day_dir = scale_dir(scale) / "new_day"
    info_path = scale_dir(scale) / "generation_new_day.json"
    if (day_dir / COMPLETE).exists() and info_path.exists():
        return day_dir, json.loads(info_path.read_text())
    shutil.rmtree(day_dir, ignore_errors=True)
    new_day = dt.date.fromisoformat(info["end"]) + dt.timedelta(days=1)
    _log(f"generating one more day ({new_day}) for the incremental run")
    summary = generate_sample_org(
        day_dir, seed=seed, scale=scale, start=new_day, days=1, include_reps=False
    )
    day_info = {
        "day": new_day.isoformat(),
        "rows_written": summary.rows_written,
        "files": sorted(summary.files),
    }
    info_path.write_text(json.dumps(day_info, indent=2))
    (day_dir / COMPLETE).touch()
    return day_dir, day_info


ADDED = ".bench-added-files"  # in the landing folder while the new day is linked in


@contextlib.contextmanager
def added_day(landing: Path, day_dir: Path):
    """Hard-link the new day's files into `landing` for the duration of the block."""
    _remove_added_day(landing)
    files = sorted(p.relative_to(day_dir) for p in day_dir.rglob("*") if p.is_file())
    files = [f for f in files if f.name != COMPLETE]
    (landing / ADDED).write_text("\n".join(f.as_posix() for f in files) + "\n")
    try:
        for relative in files:
            target = landing / relative
            if target.exists():
                raise RuntimeError(f"the new day would overwrite {target}")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(day_dir / relative, target)
        yield landing
    finally:
        _remove_added_day(landing)


def _remove_added_day(landing: Path) -> None:
    record = landing / ADDED
    if not record.exists():
        return
    for line in record.read_text().splitlines():
        if line.strip():
            (landing / line.strip()).unlink(missing_ok=True)
    record.unlink()


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


# --- the measured commands -----------------------------------------------------------------------


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


# `kpi run` pseudonymises personal values with a key from the environment (docs/reliability.md);
# the benchmark's landing folders hold generated data only, so a fixed, public key is fine.
BENCH_PSEUDONYM_KEY = "funnel-kpi benchmark key: not a secret"


# Settings of the caller a benchmark may vary on purpose (e.g. DuckDB's memory limit at SF 10).
PASSED_SETTINGS = ("KPI_DUCKDB_MEMORY_LIMIT",)


def _env() -> dict[str, str]:
    """The environment of every measured command: no DAGSTER_HOME or KPI_* settings of the caller
    (each run gets its own warehouse) except PASSED_SETTINGS, no telemetry."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "DAGSTER_HOME" and (not k.startswith("KPI_") or k in PASSED_SETTINGS)
    }
    env.update(
        {
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
            "KPI_PSEUDONYM_KEY": BENCH_PSEUDONYM_KEY,
        }
    )
    return env


def _kpi_run(landing: Path, warehouse: Path) -> list[str]:
    return [_bin("kpi"), "run", "--landing", str(landing), "--warehouse", str(warehouse)]


class Bench:
    def __init__(self, scale: float, seed: int, memory_cap_gib: float, timeout_s: float):
        self.scale, self.seed = scale, seed
        self.memory_cap_gib, self.timeout_s = memory_cap_gib, timeout_s
        self.dir = scale_dir(scale)
        self.logs = self.dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.measurements: dict[str, list[Measurement]] = {}
        self.code: dict[str, list[str]] = {}  # code fingerprint at the start of each run
        self.outputs: dict[str, Path] = {}
        self.failed: set[str] = set()

    def _measure(self, kind: str, index: int, command: list[str]) -> Measurement:
        self.code.setdefault(kind, []).append(code_fingerprint())
        m = measure(
            command,
            env=_env(),
            cwd=ROOT,
            memory_cap_gib=self.memory_cap_gib,
            timeout_s=self.timeout_s,
            log=self.logs / f"{kind}-{index}.log",
        )
        status = "ok" if m.ok else ("KILLED (memory cap)" if m.killed_for_memory else "FAILED")
        _log(
            f"{kind} run {index}: {status} wall {m.wall_s:.1f} s, cpu {m.cpu_s:.1f} s, "
            f"max RSS {m.max_rss_kib / 1024:.0f} MiB, tree RSS {m.tree_rss_kib / 1024:.0f} MiB "
            f"at {m.tree_peak_at_s:.0f} s, largest {m.tree_peak_largest} (load {m.load_before})"
        )
        self.measurements.setdefault(kind, []).append(m)
        return m

    def _once(self, kind: str, index: int, prepare, command: list[str], output: Path) -> None:
        """Run `kind` for the index-th time, unless an earlier run of it failed."""
        if kind in self.failed:
            return
        prepare()
        m = self._measure(kind, index, command)
        if not m.ok:
            _log(f"{kind}: no more runs after a failed one (see {self.logs}/{kind}-{index}.log)")
            self.failed.add(kind)
            self.outputs.pop(kind, None)
            return
        self.outputs[kind] = output

    def full(self, index: int, landing: Path) -> Path:
        warehouse = self.previous_outputs()["full"].parent
        self._once(
            "full",
            index,
            lambda: shutil.rmtree(warehouse, ignore_errors=True),
            _kpi_run(landing, warehouse),
            warehouse / "kpi.duckdb",
        )
        return warehouse

    def incremental(self, index: int, landing: Path, base_warehouse: Path) -> None:
        warehouse = self.previous_outputs()["incremental"].parent

        def prepare() -> None:
            shutil.rmtree(warehouse, ignore_errors=True)
            shutil.copytree(base_warehouse, warehouse, symlinks=True)

        self._once(
            "incremental", index, prepare, _kpi_run(landing, warehouse), warehouse / "kpi.duckdb"
        )

    def floor(self, kind: str, index: int, landing: Path) -> None:
        out = self.previous_outputs()[kind]
        command = [sys.executable, "-m", "benchmarks.floor", str(landing), str(out)]
        self._once(kind, index, lambda: None, command, out)

    def pandas(self, index: int, landing: Path) -> None:
        out = self.previous_outputs()["pandas"]
        command = [sys.executable, "-m", "tests.reference.pandas_funnels", str(landing), str(out)]
        self._once("pandas", index, lambda: None, command, out)

    def previous_outputs(self) -> dict[str, Path]:
        return {
            "full": self.dir / "warehouse_full" / "kpi.duckdb",
            "incremental": self.dir / "warehouse_incremental" / "kpi.duckdb",
            "floor": self.dir / "floor.duckdb",
            "floor_plus1": self.dir / "floor_plus1.duckdb",
            "pandas": self.dir / "pandas.parquet",
        }

    def equivalence(self) -> list[dict]:
        # The floor writes every row `kpi run` publishes: compared on the whole table. The pandas
        # peer computes the three shipped funnels by all/team/rep only: compared on that scope.
        pairs = [
            ("full", "floor", "all"),
            ("pandas", "floor", "pandas"),
            ("full", "pandas", "pandas"),
            ("incremental", "floor_plus1", "all"),
        ]
        # Kinds not measured in this harness run are compared through their last output on
        # disk (the landing folders are cached and deterministic).
        outputs = {
            kind: path
            for kind, path in self.previous_outputs().items()
            if kind not in self.measurements and path.exists()
        }
        # A floor output written by an older floor.sql (e.g. one computing fewer funnels) is not
        # compared: re-run the floor instead.
        script = Path(__file__).with_name("floor.sql").stat().st_mtime
        for kind in ("floor", "floor_plus1"):
            if kind in outputs and outputs[kind].stat().st_mtime < script:
                _log(f"{kind}: {outputs[kind]} predates floor.sql, not compared (re-run the floor)")
                del outputs[kind]
        outputs.update(self.outputs)
        checks = []
        for left, right, scope in pairs:
            if left in outputs and right in outputs:
                c = compare_files(outputs[left], outputs[right], (left, right), scope=scope)
                _log(str(c))
                checks.append(
                    {
                        "left": left,
                        "right": right,
                        "identical": c.identical,
                        "rows": [c.rows_left, c.rows_right],
                        "scope": scope,
                        "outside_scope": list(c.outside_scope),
                        "problems": list(c.problems),
                    }
                )
        return checks


def summarise(runs: Sequence[Measurement]) -> dict:
    ok = [m for m in runs if m.ok]
    if not ok:
        failed = runs[0] if runs else None
        return {
            "runs": len(runs),
            "ok_runs": 0,
            "killed_for_memory": bool(failed and failed.killed_for_memory),
            "wall_s_at_failure": failed.wall_s if failed else None,
            "tree_rss_kib_at_failure": failed.tree_rss_kib if failed else None,
        }
    return {
        "runs": len(runs),
        "ok_runs": len(ok),
        "wall_s": statistics.median(m.wall_s for m in ok),
        "cpu_s": statistics.median(m.cpu_s for m in ok),
        "max_rss_kib": statistics.median(m.max_rss_kib for m in ok),
        "tree_rss_kib": statistics.median(m.tree_rss_kib for m in ok),
        "wall_s_all": [m.wall_s for m in ok],
        "load_before": [m.load_before for m in runs],
    }


def run_benchmark(
    scale: float,
    *,
    seed: int = 7,
    runs: int = 3,
    kinds: Sequence[str] = KINDS,
    memory_cap_gib: float = 12.0,
    timeout_s: float = 3600.0,
) -> dict:
    landing, info = ensure_landing(scale, seed)
    bench = Bench(scale, seed, memory_cap_gib, timeout_s)
    started = dt.datetime.now(dt.UTC)
    plus1_info = None
    # Interleaved rounds (floor, full, one-day, floor + 1 day, pandas; then again): the machine's
    # speed drifts by tens of percent within minutes, so each ratio pairs runs from the same minutes.
    for index in range(1, runs + 1):
        if "floor" in kinds:
            bench.floor("floor", index, landing)
        if "full" in kinds or "incremental" in kinds:
            base = bench.full(index, landing)
            if "incremental" in kinds and "full" in bench.outputs:
                day_dir, plus1_info = ensure_new_day(scale, seed, info)
                with added_day(landing, day_dir):
                    bench.incremental(index, landing, base)
                    if "floor_plus1" in kinds:
                        bench.floor("floor_plus1", index, landing)
        if "pandas" in kinds:
            bench.pandas(index, landing)
    equivalence = bench.equivalence()
    result = {
        "scale": scale,
        "seed": seed,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "landing": info,
        "new_day": plus1_info,
        "memory_cap_gib": memory_cap_gib,
        "summary": {
            kind: {**summarise(ms), "code": sorted(set(bench.code[kind]))}
            for kind, ms in bench.measurements.items()
        },
        "equivalence": equivalence,
        "runs": {
            kind: [{**m.as_dict(), "code": c} for m, c in zip(ms, bench.code[kind], strict=True)]
            for kind, ms in bench.measurements.items()
        },
    }
    (bench.dir / "results.json").write_text(json.dumps(result, indent=2))
    return result


def merge_results(result: dict, path: Path = RESULTS_JSON) -> dict:
    """Merge one harness run into the committed summary: per scale, the latest result of each kind
    (a run with `--only` keeps what earlier runs measured for the other kinds)."""
    data = json.loads(path.read_text()) if path.exists() else {"scales": {}}
    data["machine"] = describe_machine()
    # Sessions run on different machines: each summary names the CPU it was measured on.
    cpu_model = data["machine"]["cpu_model"]
    entry = data["scales"].setdefault(f"{result['scale']:g}", {})
    for key in ("scale", "seed", "landing", "memory_cap_gib"):
        entry[key] = result[key]
    if result["new_day"] is not None:
        entry["new_day"] = result["new_day"]
    for kind, summary in result["summary"].items():
        previous = entry.setdefault("summary", {}).get(kind)
        if previous and previous.get("ok_runs"):
            # Keep what an earlier run of this kind measured (on older code, typically).
            entry.setdefault("history", []).append({"kind": kind, **previous})
        entry["summary"][kind] = {
            **summary,
            "measured_at": result["finished_at"],
            "cpu_model": cpu_model,
        }
    checks = {(c["left"], c["right"]): c for c in entry.get("equivalence", [])}
    checks.update({(c["left"], c["right"]): c for c in result["equivalence"]})
    entry["equivalence"] = list(checks.values())
    data["scales"] = dict(sorted(data["scales"].items(), key=lambda kv: float(kv[0])))
    path.write_text(json.dumps(data, indent=2) + "\n")
    return data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--only", default=",".join(KINDS), help=f"comma-separated subset of {','.join(KINDS)}"
    )
    parser.add_argument("--memory-cap-gib", type=float, default=12.0)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per run")
    parser.add_argument(
        "--no-report",
        action="store_true",
        help="a trial run: keep results in benchmarks/out/ only (not results.json/results.md)",
    )
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    result = run_benchmark(
        args.scale,
        seed=args.seed,
        runs=args.runs,
        kinds=kinds,
        memory_cap_gib=args.memory_cap_gib,
        timeout_s=args.timeout,
    )
    if not args.no_report:
        report.write_report(merge_results(result))
    failed = [c for c in result["equivalence"] if not c["identical"]]
    for c in failed:
        _log(f"NOT IDENTICAL: {c['left']} vs {c['right']}: {c['problems']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
