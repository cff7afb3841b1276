"""What the UI shows: the raw assets' reject check, pandera failure tables, the publish preview."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.assets.published import result_metadata
from pipelines.assets.quality import REJECTS_CHECK, reject_check_result
from pipelines.assets.raw import raw_assets, raw_key
from pipelines.assets.resources import WarehouseResource
from pipelines.ingest.loader import SUPERSEDED, LoadReport
from pipelines.ops.preview import failures_markdown, format_value, latest_month_preview
from pipelines.settings import Settings
from pipelines.validation.kpi_tables import ValidationResult

CALL_HEADER = "call_id,rep_id,started_at,duration_seconds,direction,outcome"


def report(rows_read: int) -> LoadReport:
    return LoadReport("calls", ("calls/a.csv",), rows_read, rows_read, 0, 0)


def test_reject_check_warns_above_the_share_and_ignores_corrections():
    reasons = [("unknown outcome 'hung_up'", 2), (SUPERSEDED, 50), ("missing rep_id", 1)]
    ok = reject_check_result(report(1000), reasons, warn_share=0.01)
    assert ok.passed and ok.severity == dg.AssetCheckSeverity.WARN
    assert ok.description == (
        "calls: 3 of 1,000 rows rejected (0.30%), at most the warning threshold of 1.0%"
    )
    meta = {k: getattr(v, "value", v) for k, v in ok.metadata.items()}
    assert (meta["rows_rejected"], meta["rows_superseded"]) == (3, 50)
    assert "| unknown outcome 'hung_up' | 2 |" in meta["reasons"]

    warn = reject_check_result(report(100), reasons, warn_share=0.01)
    assert not warn.passed and warn.severity == dg.AssetCheckSeverity.WARN
    assert "above the warning threshold" in warn.description

    empty = reject_check_result(report(0), [], warn_share=0.01)
    assert empty.passed and "reasons" not in empty.metadata


@pytest.mark.parametrize(("share", "passed"), [(0.01, False), (0.5, True)])
def test_raw_asset_reports_its_rejects_as_a_check(tmp_path, share, passed):
    landing = tmp_path / "landing" / "calls"
    landing.mkdir(parents=True)
    (landing / "calls_2025-03.csv").write_text(
        f"{CALL_HEADER}\n"
        "C1,R1,2025-03-05 10:00,60,outbound,connected\n"
        "C2,R1,2025-03-05 11:00,60,outbound,hung_up\n"
        "C3,R1,2025-03-05 12:00,60,outbound,busy\n"
    )
    settings = Settings(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")
    calls = next(a for a in raw_assets(share) if raw_key("calls") in a.keys)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.materialize(
            [calls],
            instance=instance,
            resources={"warehouse": WarehouseResource.from_settings(settings)},
        )
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == REJECTS_CHECK
    assert evaluation.passed is passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.description.startswith("calls: 1 of 3 rows rejected (33.33%)")
    assert "hung_up" in evaluation.metadata["reasons"].value
    (materialization,) = result.asset_materializations_for_node("raw__calls")
    assert materialization.metadata["rows_rejected"].value == 1
    assert materialization.metadata["dagster/row_count"].value == 2


def test_pandera_failures_are_sampled_as_json_and_a_table():
    failures = [
        {"column": "hit_rate", "check": "less_than_or_equal_to(1)", "failure_case": 1.5},
        {"column": None, "check": "product_identity", "failure_case": {"member": "R1"}},
    ]
    metadata = result_metadata(ValidationResult("funnel_inbound", 40, failures))
    assert metadata["failures"].value == 2
    assert metadata["failing_rows_sample"].value == failures
    table = metadata["failing_rows"].value
    assert "| hit_rate | less_than_or_equal_to(1) | 1.5 |" in table
    assert "| (table) | product_identity | member=R1 |" in table
    assert "failing_rows" not in result_metadata(ValidationResult("funnel_inbound", 40))
    assert "3 of 30 failure cases shown" in failures_markdown(failures * 1 + failures[:1], 30)


def published_file(path: Path) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE funnel_factors (funnel VARCHAR, grain VARCHAR, period_start DATE, "
            "dimension VARCHAR, member VARCHAR, factor VARCHAR, position INTEGER, value DOUBLE)"
        )
        rows = []
        for month, scale in ((date(2025, 2, 1), 1), (date(2025, 3, 1), 2)):
            for team, visits in (("Oslo Enterprise", 1200), ("Bergen | SMB", 300)):
                rows += [
                    ("inbound", "month", month, "team", team, "visitors", 1, visits * scale),
                    ("inbound", "month", month, "team", team, "conversion", 2, 0.0123),
                    ("inbound", "month", month, "team", team, "acv", 3, 125000.5),
                ]
            rows.append(("inbound", "month", month, "rep", "R1", "visitors", 1, 5))
            rows.append(("inbound", "week", month, "team", "Oslo Enterprise", "visitors", 1, 9))
        con.executemany("INSERT INTO funnel_factors VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return path


def test_publish_preview_is_the_latest_month_per_team(tmp_path):
    preview = latest_month_preview(published_file(tmp_path / "kpi.duckdb"))
    assert "month of 2025-03" in preview
    assert "| team | visitors | conversion | acv |" in preview
    assert "| Oslo Enterprise | 2,400 | 0.0123 | 125,000 |" in preview  # March, not February
    assert "| Bergen \\| SMB | 600 |" in preview
    assert "R1" not in preview


def test_publish_preview_of_an_empty_file(tmp_path):
    path = tmp_path / "kpi.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE funnel_factors AS SELECT * FROM (SELECT 'x' AS funnel) WHERE 0")
    with pytest.raises(duckdb.Error):
        latest_month_preview(path)  # the publish asset turns this into "preview unavailable"
    assert format_value(None) == "–"
    assert format_value(float("nan")) == "–"
    assert format_value(12.3456) == "12.35"
