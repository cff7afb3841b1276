"""The benchmark's committed summary (benchmarks/results.json) and its report name the machine of
every measurement: sessions run on different machines, so a median without its CPU is ambiguous."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import harness
from benchmarks.report import generated_markdown


def _result(wall_s: float, finished_at: str) -> dict:
    summary = {
        "runs": 1,
        "ok_runs": 1,
        "wall_s": wall_s,
        "cpu_s": wall_s * 1.5,
        "max_rss_kib": 1024,
        "tree_rss_kib": 2048,
        "wall_s_all": [wall_s],
        "load_before": [0.5],
        "code": ["abc1234def"],
    }
    return {
        "scale": 1.0,
        "seed": 7,
        "landing": {"rows_written": {"calls": 10, "web_visits": 20}, "bytes": 2**20},
        "new_day": None,
        "memory_cap_gib": 12.0,
        "finished_at": finished_at,
        "summary": {"full": summary},
        "equivalence": [],
    }


def _machine(cpu_model: str):
    return lambda: {"cpu_model": cpu_model, "logical_cpus": 2, "memory_gib": 1.0, "os": "x"}


def test_each_measurement_names_its_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "results.json"
    monkeypatch.setattr(harness, "describe_machine", _machine("CPU one"))
    harness.merge_results(_result(10.0, "2026-01-01T00:00:00+00:00"), path)
    monkeypatch.setattr(harness, "describe_machine", _machine("CPU two"))
    data = harness.merge_results(_result(20.0, "2026-01-02T00:00:00+00:00"), path)

    entry = json.loads(path.read_text())["scales"]["1"]
    assert entry["summary"]["full"]["cpu_model"] == "CPU two"
    assert entry["summary"]["full"]["wall_s"] == 20.0
    assert [(h["wall_s"], h["cpu_model"]) for h in entry["history"]] == [(10.0, "CPU one")]

    full_row = next(
        line for line in generated_markdown(data).splitlines() if "full `kpi run`" in line
    )
    assert full_row.rstrip().endswith("| CPU two |")
    assert "| 20.0 |" in full_row
