"""A small sample org, run through the whole pipeline once per test session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from pipelines.runner import RunSummary, run_pipeline
from pipelines.sample_data import SampleSummary, generate_sample_org
from pipelines.settings import Settings

# Three months of a five-rep org: every grain, month and week boundaries, and the dirty rows.
SAMPLE = {"seed": 11, "scale": 0.05, "start": date(2025, 1, 1), "days": 90}


@dataclass(frozen=True)
class PipelineRun:
    sample: SampleSummary
    settings: Settings
    summary: RunSummary

    @property
    def landing(self) -> Path:
        return self.settings.landing


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory) -> PipelineRun:
    root = tmp_path_factory.mktemp("org")
    sample = generate_sample_org(root / "landing", **SAMPLE)
    settings = Settings(landing=root / "landing", warehouse=root / "warehouse")
    summary = run_pipeline(settings)
    return PipelineRun(sample, settings, summary)
