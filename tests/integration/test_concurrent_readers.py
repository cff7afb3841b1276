"""Analysts are never blocked and never see a mix: reader processes query kpi.duckdb in a loop while
a full `kpi run` builds, validates and publishes a new version (docs/reliability.md)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.sample_data import generate_sample_org
from tests.integration.kpi_reader import observe

pytestmark = [pytest.mark.slow]

KPI = Path(sys.executable).parent / "kpi"
REPO = Path(__file__).resolve().parents[2]
READERS = 4  # three open a new connection per query, one holds its connection throughout
EXTRA_CALLS = "call_id,rep_id,started_at,duration_seconds,direction,outcome\n" + "".join(
    f"EXTRA-{i},EXTRA-REP,2025-01-15T10:0{i}:00Z,60,outbound,connected\n" for i in range(5)
)


def kpi_run(landing: Path, warehouse: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(KPI), "run", "--landing", str(landing), "--warehouse", str(warehouse)],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip


def version(path: Path) -> tuple:
    with duckdb.connect(str(path), read_only=True) as con:
        return tuple(observe(con))


def start_reader(published: Path, out: Path, stop: Path, hold: bool) -> subprocess.Popen:
    args = [
        sys.executable,
        "-m",
        "tests.integration.kpi_reader",
        str(published),
        str(out),
        str(stop),
    ]
    return subprocess.Popen([*args, *(["--hold"] if hold else [])], cwd=REPO)


def wait_for(paths: list[Path], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        assert time.monotonic() < deadline, f"readers did not start: {paths}"
        time.sleep(0.05)


def test_readers_see_the_old_or_the_new_version_never_a_mix_and_never_fail(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse"
    generate_sample_org(landing, seed=5, scale=0.05, start=date(2025, 1, 1), days=30)
    first = kpi_run(landing, warehouse)
    assert first.returncode == 0, first.stdout + first.stderr
    published = warehouse / "kpi.duckdb"
    old = version(published)

    # A re-delivery with five more calls: the next publish has different funnel_factors.
    (landing / "calls" / "extra.csv").write_text(EXTRA_CALLS)
    stop = tmp_path / "stop"
    outs = [tmp_path / f"reader{i}.json" for i in range(READERS)]
    readers = [start_reader(published, out, stop, hold=(i == 0)) for i, out in enumerate(outs)]
    try:
        wait_for([Path(str(out) + ".ready") for out in outs])
        time.sleep(1)
        second = kpi_run(landing, warehouse)
        time.sleep(2)  # let every reader query the new file a few times
    finally:
        stop.touch()
        for reader in readers:
            reader.wait(timeout=60)
    assert second.returncode == 0, second.stdout + second.stderr
    new = version(published)
    assert new[0] != old[0] and new[2] != old[2], "the second publish must differ"

    results = [json.loads(out.read_text()) for out in outs]
    assert [r["errors"] for r in results] == [[]] * READERS
    for i, result in enumerate(results):
        seen = [tuple(o) for o in result["observations"]]
        assert seen, f"reader {i} made no observation"
        assert set(seen) <= {old, new}, f"reader {i} saw a version that was never published"
        if i == 0:
            # A connection opened before the swap keeps its consistent view of the old file.
            assert set(seen) == {old}
        else:
            # New connections see the old version until the swap and the new one after it.
            first_new = seen.index(new)
            assert set(seen[:first_new]) == {old} and set(seen[first_new:]) == {new}
    # The swap leaves nothing beside the published file.
    beside = [p.name for p in warehouse.iterdir() if p.is_file() and "kpi" in p.name]
    assert beside == ["kpi.duckdb"]
    total = sum(len(r["observations"]) for r in results)
    print(f"{READERS} readers, {total} reads, 0 errors, versions {old[0]} -> {new[0]}")
