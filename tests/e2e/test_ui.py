"""End to end: the Dagster UI started like `make ui`, runs launched through it, seen in Chromium.

One UI for the module (tests run in file order): its definitions, two runs launched at once through
GraphQL (they queue and run one after the other), what the UI reports about them, the same seen in
headless Chromium (screenshots in the module's tmp folder), and a clean stop on SIGTERM.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.assets.automation import REFRESH_JOB
from pipelines.ingest.contract import ENTITIES
from pipelines.settings import PROJECT_ROOT

from .conftest import Ui, group_members

pytestmark = [pytest.mark.slow]

RUN_TIMEOUT = 900
BROWSER_TIMEOUT = 90
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
GROUPS = ("landing", "raw", "staging", "intermediate", "marts", "kpis", "published")

ASSET_KEYS_QUERY = "{ assetNodes { assetKey { path } groupName } }"
REPOSITORIES_QUERY = """{ workspaceOrError { ... on Workspace { locationEntries { name
  locationOrLoadError { ... on RepositoryLocation { repositories { name jobs { name } } } } } } } }"""
LAUNCH = """mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } ... on InvalidSubsetError { message } } }"""
RUN_QUERY = """query Run($id: ID!) { runOrError(runId: $id) { __typename
  ... on Run { runId status startTime endTime tags { key value } } } }"""
ASSET_QUERY = """query Asset($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) {
  ... on AssetNode { assetChecksOrError { ... on AssetChecks { checks { name
    executionForLatestMaterialization { status evaluation { severity success description } } } } }
  assetMaterializations(limit: 1) { runId metadataEntries { label __typename
    ... on MarkdownMetadataEntry { mdStr } ... on IntMetadataEntry { intValue } } } } } }"""


def job_selector(ui: Ui) -> dict:
    entries = ui.graphql(REPOSITORIES_QUERY)["workspaceOrError"]["locationEntries"]
    for entry in entries:
        for repository in entry["locationOrLoadError"]["repositories"]:
            if any(job["name"] == REFRESH_JOB for job in repository["jobs"]):
                return {
                    "repositoryLocationName": entry["name"],
                    "repositoryName": repository["name"],
                    "jobName": REFRESH_JOB,
                }
    raise AssertionError(f"no job {REFRESH_JOB} in {entries}")


def launch(ui: Ui, selector: dict) -> str:
    params = {"selector": selector, "runConfigData": {}, "executionMetadata": {
        "tags": [{"key": "kpi/trigger", "value": "e2e"}]}}  # fmt: skip
    result = ui.graphql(LAUNCH, {"params": params})["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def wait_for_runs(ui: Ui, run_ids: list[str]) -> list[dict]:
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        runs = [ui.graphql(RUN_QUERY, {"id": run_id})["runOrError"] for run_id in run_ids]
        if all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs):
            return runs
        assert time.monotonic() < deadline, f"runs not finished in {RUN_TIMEOUT} s: {runs}"
        time.sleep(3)


@pytest.fixture(scope="module")
def launched(ui) -> list[dict]:
    """Two refreshes launched through the UI at the same moment, in the order they ran."""
    selector = job_selector(ui)
    run_ids = [launch(ui, selector), launch(ui, selector)]
    runs = wait_for_runs(ui, run_ids)
    return sorted(runs, key=lambda r: r["startTime"])


def asset(ui: Ui, *path: str) -> dict:
    return ui.graphql(ASSET_QUERY, {"key": {"path": list(path)}})["assetNodeOrError"]


def checks(node: dict) -> dict[str, dict]:
    return {
        c["name"]: c["executionForLatestMaterialization"]
        for c in node["assetChecksOrError"]["checks"]
    }


# ------------------------------------------------------------------------------------ the UI


def test_ui_serves_the_project_definitions(ui):
    nodes = ui.graphql(ASSET_KEYS_QUERY)["assetNodes"]
    groups = {"/".join(n["assetKey"]["path"]): n["groupName"] for n in nodes}
    for entity in ENTITIES:
        assert groups[f"landing/{entity}"] == "landing"
        assert groups[f"raw/{entity}"] == "raw"
    assert groups["kpis/funnel_factors"] == "kpis"
    assert groups["published/kpi"] == "published"
    assert (ui.home / "dagster.yaml").exists()
    assert int((ui.home / "ui.pid").read_text()) == ui.process.pid


def test_two_runs_launched_at_once_succeed_one_after_the_other(ui, launched):
    first, second = launched
    assert [first["status"], second["status"]] == ["SUCCESS", "SUCCESS"], ui.log_tail()
    assert second["startTime"] >= first["endTime"]  # queued, not interleaved
    assert ui.settings.published_db.exists()


def test_checks_and_metadata_are_reported_to_the_ui(ui, launched):
    last_run = launched[-1]["runId"]
    raw_calls = asset(ui, "raw", "calls")
    assert raw_calls["assetMaterializations"][0]["runId"] == last_run
    rejects = checks(raw_calls)["rejected_rows"]
    assert rejects["status"] in ("SUCCEEDED", "FAILED")
    assert rejects["evaluation"]["severity"] == "WARN"
    assert "rows rejected" in rejects["evaluation"]["description"]

    pandera = checks(asset(ui, "kpis", "funnel_factors"))["pandera_valid"]
    assert pandera["status"] == "SUCCEEDED"
    assert pandera["evaluation"]["severity"] == "ERROR"

    freshness = checks(asset(ui, "landing", "calls"))["freshness"]
    assert freshness["evaluation"]["success"], freshness  # the sample was written just now

    published = asset(ui, "published", "kpi")
    entries = {e["label"]: e for e in published["assetMaterializations"][0]["metadataEntries"]}
    assert "Funnel factors per team" in entries["latest_month_by_team"]["mdStr"]
    assert entries["rows/funnel_factors"]["intValue"] > 0


# ------------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.fail(f"{CHROMIUM} / {CHROMEDRIVER} missing: run `make browser` (make test does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-quic", "--disable-dev-shm-usage", "--window-size=1600,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(BROWSER_TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def screenshots(sample_root):
    folder = sample_root / "screenshots"
    folder.mkdir(exist_ok=True)
    return folder


def show(driver, url: str, *texts: str, shot: Path, click: str = "", focus: str = "") -> str:
    """Open `url`, click the element showing `click`, wait until every text is on the page and
    nothing is loading, scroll `focus` into view and save a screenshot; the page's text."""
    from selenium.common.exceptions import ElementClickInterceptedException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def with_text(d, text: str) -> list:
        return d.find_elements(By.XPATH, f"//*[normalize-space(text())='{text}']")

    driver.get(url)
    clicked = not click

    def ready(d):
        nonlocal clicked
        for skip in d.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
            skip.click()  # the first-visit "Join the Dagster community" dialog
        if not clicked and (targets := with_text(d, click)):
            try:
                targets[0].click()
            except ElementClickInterceptedException:  # a dialog still closing: next poll
                return False
            clicked = True
        body = d.find_element(By.TAG_NAME, "body").text
        done = clicked and all(t in body for t in texts) and "Loading" not in body
        return body if done else False

    try:
        body = WebDriverWait(driver, BROWSER_TIMEOUT, poll_frequency=1).until(ready)
        if focus:
            target = with_text(driver, focus) or driver.find_elements(
                By.XPATH, f"//*[contains(normalize-space(.), '{focus}')][not(*)]"
            )
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", target[0])
        time.sleep(1)  # let the last requests render
        return body
    finally:
        driver.save_screenshot(str(shot))


def graph_nodes(driver) -> list[str]:
    """Labels of the nodes drawn in the asset graph, left to right."""
    from selenium.webdriver.common.by import By

    nodes = driver.find_elements(By.XPATH, "//*[local-name()='foreignObject']")
    placed = sorted((n.location["x"], n.text.split("\n")[0].strip()) for n in nodes)
    return [label for _, label in placed if label]


def test_the_browser_shows_assets_checks_and_the_successful_run(ui, launched, browser, screenshots):
    from selenium.webdriver.support.ui import WebDriverWait

    run_id = launched[-1]["runId"]
    selector = job_selector(ui)
    repo = f"{ui.url}/locations/{selector['repositoryName']}@{selector['repositoryLocationName']}"

    # The global asset graph reads left to right: landing → raw → … → published.
    show(browser, f"{ui.url}/asset-groups", "Global asset lineage", shot=screenshots / "graph.png")
    order = WebDriverWait(browser, BROWSER_TIMEOUT).until(
        lambda d: (nodes := graph_nodes(d)) and len(nodes) >= len(GROUPS) and nodes
    )
    browser.save_screenshot(str(screenshots / "graph.png"))
    assert order == list(GROUPS), order

    # The assets of a group: drawn with their checks' state, and listed as materialised.
    show(browser, f"{repo}/asset-groups/raw", "Asset checks", "Passed", "Materialized",
         shot=screenshots / "group_raw_lineage.png")  # fmt: skip
    show(browser, f"{repo}/asset-groups/raw", *(f"raw / {e}" for e in ENTITIES), "Materialized",
         click="List", shot=screenshots / "group_raw_list.png")  # fmt: skip
    show(browser, f"{repo}/asset-groups/kpis", "kpis / funnel_factors", "Materialized",
         click="List", shot=screenshots / "group_kpis_list.png")  # fmt: skip
    # A raw asset's reject check; a KPI table's blocking pandera check; a landing freshness check.
    show(browser, f"{ui.url}/assets/raw/calls?view=checks", "rows rejected", "Passed",
         click="rejected_rows", shot=screenshots / "raw_calls_checks.png")  # fmt: skip
    show(browser, f"{ui.url}/assets/kpis/funnel_factors?view=checks", "blocking", "rows valid",
         "Passed", click="pandera_valid", shot=screenshots / "funnel_factors_checks.png")  # fmt: skip
    show(browser, f"{ui.url}/assets/landing/calls?view=checks", "last delivery", "Passed",
         click="freshness", shot=screenshots / "landing_calls_checks.png")  # fmt: skip
    # The publish asset and its Markdown preview of the latest month per team.
    show(browser, f"{ui.url}/assets/published/kpi", "latest_month_by_team",
         "Funnel factors per team", focus="latest_month_by_team",
         shot=screenshots / "published_kpi.png")  # fmt: skip
    # The run: succeeded; and the automation that would start the next one.
    show(browser, f"{ui.url}/runs/{run_id}", run_id[:8], "Success", "RUN_SUCCESS",
         shot=screenshots / "run.png")  # fmt: skip
    show(browser, f"{ui.url}/overview/automation", "kpi_daily", "landing_files",
         "report_run_failures", shot=screenshots / "automation.png")  # fmt: skip

    shots = {shot.stem: shot.stat().st_size for shot in screenshots.glob("*.png")}
    assert len(shots) == 10 and min(shots.values()) > 10_000, shots
    print(f"screenshots in {screenshots}")


# ------------------------------------------------------------------------------------- stop


def test_ui_stops_cleanly_on_sigterm(ui):
    # Started with SIGINT ignored, as a background job of a non-interactive shell would be;
    # `make ui-stop` sends SIGTERM to the PID the launcher recorded.
    assert len(group_members(ui.process.pid)) >= 3  # dg dev, webserver, daemon, code servers
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.ops.ui", "stop"],
        env={**os.environ, **ui.settings.env(), "DAGSTER_HOME": str(ui.home)},
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"stopped the UI (pid {ui.process.pid})" in result.stdout
    ui.stop()  # reaps the process; nothing left to signal
    seconds = time.monotonic() - started
    assert group_members(ui.process.pid) == [], ui.log_tail()
    assert seconds < 30, ui.log_tail()
    assert "Dagster services shut down" in ui.log.read_text()
    assert not (ui.home / "ui.pid").exists()
