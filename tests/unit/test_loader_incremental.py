"""Incremental ingestion (docs/landing-contract.md, "The manifest: what is read again"): only new or
changed landing files are read, and the result is always exactly what a load from scratch of the same
landing folder gives."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest.loader import (
    MANIFEST_TABLE,
    SUPERSEDED,
    LoadReport,
    delivered_table,
    load_entity,
    sha256_of,
)
from pipelines.ingest.readers import LandingFileError
from pipelines.publish import PublishedTable, file_checksums, publish

CALL_HEADER = "call_id,rep_id,started_at,duration_seconds,direction,outcome"
OPP_HEADER = "opportunity_id,rep_id,source,created_at,closed_at,status,amount,currency,updated_at"
AN_HOUR_AGO = time.time() - 3600


def write(path: Path, text: str, *, age: bool = True) -> Path:
    """Write a landing file; `age` dates it an hour back, as a file delivered earlier would be."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if age:
        os.utime(path, (AN_HOUR_AGO, AN_HOUR_AGO))
    return path


def calls(*rows: str) -> str:
    return CALL_HEADER + "\n" + "".join(r + "\n" for r in rows)


def call(call_id: str, rep: str = "R1", seconds: int = 60, outcome: str = "connected") -> str:
    return f"{call_id},{rep},2025-03-05T10:00:00Z,{seconds},outbound,{outcome}"


def opp(oid: str, status: str, amount: int, updated: str) -> str:
    closed = updated if status in ("won", "lost") else ""
    return f"{oid},R1,inbound,2025-01-01T10:00:00Z,{closed},{status},{amount},NOK,{updated}"


class Warehouse:
    """A build database file, opened afresh for every load as each pipeline run does."""

    def __init__(self, path: Path, landing: Path) -> None:
        self.path, self.landing = path, landing

    def load(self, entity: str = "calls", **kwargs) -> LoadReport:
        with duckdb.connect(str(self.path)) as con:
            return load_entity(con, entity, self.landing, **kwargs)

    def state(self, entity: str = "calls") -> dict[str, list[tuple]]:
        """raw.<entity>, its rejects and its delivered rows, as sorted lists (multisets)."""
        with duckdb.connect(str(self.path), read_only=True) as con:
            return {
                "raw": con.execute(f"SELECT * FROM raw.{entity} ORDER BY ALL").fetchall(),
                "rejects": con.execute(
                    "SELECT * FROM raw.rejects WHERE entity = ? ORDER BY ALL", [entity]
                ).fetchall(),
                "delivered": con.execute(
                    f"SELECT * FROM {delivered_table(entity)} ORDER BY ALL"
                ).fetchall(),
            }

    def manifest(self, entity: str = "calls") -> dict[str, tuple]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            rows = con.execute(
                f"SELECT source_file, size_bytes, modified_ns, sha256, rows_read, loaded_at "
                f"FROM {MANIFEST_TABLE} WHERE entity = ?",
                [entity],
            ).fetchall()
        return {r[0]: r[1:] for r in rows}


@pytest.fixture
def landing(tmp_path) -> Path:
    return tmp_path / "landing"


@pytest.fixture
def wh(tmp_path, landing) -> Warehouse:
    return Warehouse(tmp_path / "build.duckdb", landing)


def from_scratch(tmp_path: Path, landing: Path, entity: str = "calls", **kwargs):
    """What a first load of the landing folder into a new database gives: (state, report)."""
    fresh = Warehouse(tmp_path / f"scratch_{time.monotonic_ns()}.duckdb", landing)
    report = fresh.load(entity, **kwargs)
    return fresh.state(entity), report


def assert_same_as_from_scratch(wh: Warehouse, report: LoadReport, tmp_path: Path, entity="calls"):
    expected, scratch = from_scratch(tmp_path, wh.landing, entity)
    assert wh.state(entity) == expected
    totals = ("rows_loaded", "rows_rejected", "duplicates", "rows_total", "files")
    assert {k: getattr(report, k) for k in totals} == {k: getattr(scratch, k) for k in totals}
    assert scratch.rows_read == scratch.rows_total  # a first load reads everything


def test_first_load_reads_everything_and_records_the_manifest(wh, landing, tmp_path):
    a = write(landing / "calls" / "a.csv", calls(call("C1"), call("C2", rep="")))
    report = wh.load()
    assert (report.files_read, report.files_unchanged, report.files_removed) == (1, 0, 0)
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (2, 1, 1)
    size, mtime, sha, rows, loaded_at = wh.manifest()["calls/a.csv"]
    assert (size, mtime, sha, rows) == (a.stat().st_size, a.stat().st_mtime_ns, sha256_of(a), 2)
    assert loaded_at is not None
    assert_same_as_from_scratch(wh, report, tmp_path)


def test_a_new_file_is_the_only_one_read(wh, landing, tmp_path):
    write(landing / "calls" / "2025-03-01.csv", calls(call("C1"), call("C2"), call("C3", rep="")))
    write(landing / "calls" / "2025-03-02.csv", calls(call("C4"), call("C1")))  # exact copy of C1
    wh.load()
    write(
        landing / "calls" / "2025-03-03.csv",
        calls(call("C2", seconds=99), call("C5"), call("C6", outcome="hung_up")),
    )
    report = wh.load()
    assert (report.files_read, report.files_unchanged, report.files_removed) == (1, 2, 0)
    assert report.rows_read == 3
    assert report.files_hashed == 1  # the two old files were not even hashed
    assert report.duplicates == 1
    assert_same_as_from_scratch(wh, report, tmp_path)
    state = wh.state()
    assert ("calls", "calls/2025-03-01.csv", 3, SUPERSEDED) in [r[:4] for r in state["rejects"]]


def test_a_changed_file_replaces_what_it_delivered(wh, landing, tmp_path):
    write(landing / "calls" / "a.csv", calls(call("C1"), call("C2")))
    b = write(landing / "calls" / "b.csv", calls(call("C3"), call("C1", seconds=5), call("C4", "")))
    wh.load()
    write(b, calls(call("C5"), call("C6", outcome="x")))  # C3, the C1 correction and C4 are gone
    report = wh.load()
    assert (report.files_read, report.files_unchanged, report.rows_read) == (1, 1, 2)
    assert_same_as_from_scratch(wh, report, tmp_path)
    ids = {r[0] for r in wh.state()["raw"]}
    assert ids == {"C1", "C2", "C5"}
    assert [r[0] for r in wh.state()["raw"] if r[0] == "C1"] == ["C1"]
    assert wh.manifest()["calls/b.csv"][2] == sha256_of(b)


def test_a_rewrite_with_the_same_size_in_the_same_clock_tick_is_seen(wh, landing, tmp_path):
    f = write(landing / "calls" / "a.csv", calls(call("C1", seconds=11)), age=False)
    wh.load()
    stat = f.stat()
    f.write_text(calls(call("C1", seconds=22)), encoding="utf-8")
    os.utime(f, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime
    report = wh.load()
    assert report.files_read == 1
    assert_same_as_from_scratch(wh, report, tmp_path)


def test_a_removed_file_takes_its_rows_away(wh, landing, tmp_path):
    write(landing / "calls" / "a.csv", calls(call("C1"), call("C2"), call("C9", rep="")))
    b = write(landing / "calls" / "b.csv", calls(call("C1", seconds=1), call("C3")))
    c = write(landing / "calls" / "c.csv", calls(call("C2", seconds=2), call("C4", outcome="?")))
    wh.load()
    b.unlink()
    report = wh.load()
    assert (report.files_read, report.files_unchanged, report.files_removed) == (0, 2, 1)
    assert_same_as_from_scratch(wh, report, tmp_path)
    assert "calls/b.csv" not in wh.manifest()
    c.unlink()
    report = wh.load()
    assert_same_as_from_scratch(wh, report, tmp_path)
    (landing / "calls" / "a.csv").unlink()
    report = wh.load()
    assert report.rows_loaded == 0 and "no files for calls" in report.warnings[0]
    assert wh.state()["rejects"] == [] and wh.manifest() == {}


def test_a_rerun_with_nothing_changed_reads_and_hashes_nothing(wh, landing, tmp_path):
    write(landing / "calls" / "a.csv", calls(call("C1"), call("C2", rep="")))
    write(landing / "calls" / "b.csv", calls(call("C1", seconds=7)))
    wh.load()
    before, manifest = wh.state(), wh.manifest()
    report = wh.load()
    assert (report.files_read, report.files_unchanged, report.files_hashed) == (0, 2, 0)
    assert report.rows_read == 0 and (report.rows_loaded, report.rows_rejected) == (1, 2)
    assert wh.state() == before and wh.manifest() == manifest


def test_a_touched_file_is_hashed_but_not_read_again(wh, landing, tmp_path):
    f = write(landing / "calls" / "a.csv", calls(call("C1"), call("C2", rep="")))
    wh.load()
    before, manifest = wh.state(), wh.manifest()
    later = AN_HOUR_AGO + 60
    os.utime(f, (later, later))
    report = wh.load()
    assert (report.files_read, report.files_unchanged, report.files_hashed) == (0, 1, 1)
    assert wh.state() == before
    size, mtime, sha, rows, loaded_at = wh.manifest()["calls/a.csv"]
    assert mtime == f.stat().st_mtime_ns != manifest["calls/a.csv"][1]
    assert (size, sha, rows, loaded_at) == tuple(manifest["calls/a.csv"][i] for i in (0, 2, 3, 4))
    assert wh.load().files_hashed == 0  # and the next run trusts the new mtime


def test_a_correction_later_and_a_late_backfill_earlier(wh, landing, tmp_path):
    folder = landing / "calls"
    write(folder / "2025-03-10.csv", calls(call("C1", seconds=10), call("C2", seconds=10)))
    wh.load()
    # A correction in a later file wins.
    write(folder / "2025-03-20.csv", calls(call("C1", seconds=20)))
    report = wh.load()
    assert_same_as_from_scratch(wh, report, tmp_path)
    assert dict((r[0], r[3]) for r in wh.state()["raw"])["C1"] == 20.0
    # A late backfill in a file that sorts earlier: it is older than both, it does not win, and
    # it is the superseded one; it also moves every later file's index.
    write(folder / "2025-03-01.csv", calls(call("C1", seconds=1), call("C2", seconds=1)))
    report = wh.load()
    assert report.files_read == 1
    assert_same_as_from_scratch(wh, report, tmp_path)
    durations = dict((r[0], r[3]) for r in wh.state()["raw"])
    assert durations == {"C1": 20.0, "C2": 10.0}
    superseded = sorted(r[1:3] for r in wh.state()["rejects"] if r[3] == SUPERSEDED)
    assert superseded == [
        ("calls/2025-03-01.csv", 2), ("calls/2025-03-01.csv", 3), ("calls/2025-03-10.csv", 2)
    ]  # fmt: skip
    # An earlier file re-delivering the winner's exact content counts it once: it is a duplicate.
    write(folder / "2025-02-01.csv", calls(call("C1", seconds=20)))
    report = wh.load()
    assert_same_as_from_scratch(wh, report, tmp_path)
    # Removing the winning file brings the earlier correction back.
    (folder / "2025-03-20.csv").unlink()
    report = wh.load()
    assert_same_as_from_scratch(wh, report, tmp_path)


def test_a_superseded_row_keeps_its_record_as_delivered(wh, landing, tmp_path):
    """Valid rows are stored without their record; a row superseded in a later load gets it from
    its file (read again for it, not counted as read) or from its earlier reject."""
    folder = landing / "calls"
    write(folder / "a.csv", calls("C1,R1,2025-03-05T10:00:00Z,10,OUTBOUND,connected", call("C2")))
    wh.load()
    write(folder / "b.csv", calls(call("C1", seconds=20)))
    report = wh.load()
    assert report.files_read == 1
    assert_same_as_from_scratch(wh, report, tmp_path)
    ((source, row, record),) = [r[1:3] + r[4:] for r in wh.state()["rejects"] if r[3] == SUPERSEDED]
    assert (source, row) == ("calls/a.csv", 2)
    assert json.loads(record)["direction"] == "OUTBOUND"  # the text as delivered
    # A third version: a.csv's reject keeps its record, b.csv's row is superseded now.
    write(folder / "c.csv", calls(call("C1", seconds=30)))
    report = wh.load()
    assert report.files_read == 1
    assert_same_as_from_scratch(wh, report, tmp_path)
    records = {r[1]: json.loads(r[4]) for r in wh.state()["rejects"] if r[3] == SUPERSEDED}
    assert {f: r["duration_seconds"] for f, r in records.items()} == {
        "calls/a.csv": "10",
        "calls/b.csv": "20",
    }


def test_an_opportunity_snapshot_update(wh, landing, tmp_path):
    folder = landing / "opportunities"
    write(
        folder / "2025-01.csv",
        f"{OPP_HEADER}\n{opp('O1', 'open', 100, '2025-01-02T00:00:00Z')}\n"
        f"{opp('O2', 'open', 50, '2025-01-02T00:00:00Z')}\n",
    )
    wh.load("opportunities")
    write(
        folder / "2025-02.csv", f"{OPP_HEADER}\n{opp('O1', 'won', 120, '2025-02-01T00:00:00Z')}\n"
    )
    report = wh.load("opportunities")
    assert_same_as_from_scratch(wh, report, tmp_path, "opportunities")
    # A later file with an older version: the latest updated_at still wins.
    write(
        folder / "2025-03.csv", f"{OPP_HEADER}\n{opp('O1', 'open', 90, '2025-01-15T00:00:00Z')}\n"
    )
    report = wh.load("opportunities")
    assert_same_as_from_scratch(wh, report, tmp_path, "opportunities")
    status = {r[0]: (r[7], r[8]) for r in wh.state("opportunities")["raw"]}
    assert status == {"O1": ("won", 120.0), "O2": ("open", 50.0)}
    assert wh.state("opportunities")["rejects"] == []


def test_a_file_that_breaks_keeps_failing_and_changes_nothing(wh, landing, tmp_path):
    write(landing / "calls" / "a.csv", calls(call("C1"), call("C2", rep="")))
    b = write(landing / "calls" / "b.csv", calls(call("C3")))
    wh.load()
    before, manifest = wh.state(), wh.manifest()
    write(b, "call_id,started_at\nC3,2025-03-05T10:00:00Z\n")
    for _ in range(2):  # nothing is recorded about the broken file: it fails again next time
        with pytest.raises(LandingFileError, match=r"b\.csv: lacks required column\(s\) rep_id"):
            wh.load()
        assert wh.state() == before and wh.manifest() == manifest
    with pytest.raises(LandingFileError):  # and so does a load from scratch
        from_scratch(tmp_path, landing)
    # Fixed, but with rows that break the contract: they are rejected like in a load from scratch.
    write(b, calls(call("C3", seconds=-1), call("C4", outcome="hung_up")))
    report = wh.load()
    assert_same_as_from_scratch(wh, report, tmp_path)
    assert report.rows_rejected == 3


def test_a_rejected_future_timestamp_is_checked_again_once_due(wh, landing, tmp_path):
    write(landing / "calls" / "a.csv", calls(call("C1")))
    write(landing / "calls" / "b.csv", calls("C2,R1,2099-01-01T00:00:00Z,1,outbound,busy"))
    wh.load()
    assert wh.load().files_read == 0
    with duckdb.connect(str(wh.path)) as con:  # as if 2099 had come: the value is due now
        con.execute(
            f"UPDATE {delivered_table('calls')} SET started_at = '2020-01-01 00:00:00+00' "
            "WHERE call_id = 'C2'"
        )
    report = wh.load()
    assert report.files_read == 1 and report.rows_read == 1
    assert_same_as_from_scratch(wh, report, tmp_path)  # still 2099 in the file: rejected again


def test_full_reload_and_another_time_zone_read_everything(wh, landing, tmp_path):
    write(landing / "calls" / "a.csv", calls(call("C1"), "C2,R1,2025-03-05 10:00,1,inbound,busy"))
    write(landing / "calls" / "b.csv", calls(call("C1", seconds=3)))
    wh.load()
    report = wh.load(full=True)
    assert (report.files_read, report.rows_read) == (2, 3)
    assert_same_as_from_scratch(wh, report, tmp_path)
    # Rows checked in another time zone are stale: the entity is loaded again from scratch.
    report = wh.load(timezone="America/New_York")
    assert report.files_read == 2
    expected, _ = from_scratch(tmp_path, landing, timezone="America/New_York")
    assert wh.state() == expected


def test_entities_keep_their_own_manifest(wh, landing, tmp_path):
    write(landing / "calls" / "a.csv", calls(call("C1")))
    write(landing / "emails" / "a.csv", "email_id,rep_id,sent_at\nE1,R1,2025-03-05T10:00:00Z\n")
    wh.load("calls")
    wh.load("emails")
    (landing / "emails" / "a.csv").unlink()
    assert wh.load("emails").files_removed == 1
    assert wh.load("calls").files_read == 0
    assert list(wh.manifest("calls")) == ["calls/a.csv"] and wh.manifest("emails") == {}


def test_publish_records_the_manifest_hashes_without_reading_files(wh, landing, tmp_path):
    write(landing / "emails" / "a.csv", "email_id,rep_id,sent_at\nE1,R1,2025-03-05T10:00:00Z\n")
    write(landing / "calls" / "b.csv", calls(call("C2")))
    write(landing / "calls" / "a.csv", calls(call("C1")))
    for entity in ("calls", "emails"):
        wh.load(entity)
    files = [*sorted((landing / "calls").iterdir()), landing / "emails" / "a.csv"]
    expected = file_checksums(files, landing)  # what publish hashed itself before the manifest
    target = tmp_path / "kpi.duckdb"
    table = PublishedTable("calls", "SELECT call_id FROM build.raw.calls", "calls")
    publish(wh.path, target, [table], run_id="r1")
    with duckdb.connect(str(target), read_only=True) as con:
        (recorded,) = con.execute("SELECT landing_files FROM published_runs").fetchone()
    assert recorded == json.dumps(expected)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_deliveries_always_equal_a_load_from_scratch(wh, landing, tmp_path, seed):
    """Files added, rewritten, touched and removed at random, over a few ids so that corrections,
    exact copies, backfills and broken rows meet: after every load, the same as from scratch."""
    rng = random.Random(seed)
    names = [f"calls/2025-03-0{i}.csv" for i in range(1, 6)]

    def random_row() -> str:
        return call(
            rng.choice(["C1", "C2", "C3"]),
            rep=rng.choice(["R1", "R1", "R1", ""]),
            seconds=rng.choice([1, 2]),
            outcome=rng.choice(["connected", "busy", "hung_up"]),
        )

    for _ in range(8):
        present = [n for n in names if (landing / n).exists()]
        action = rng.choice(["write", "write", "write", "remove", "touch"])
        if action == "write" or not present:
            rows = [random_row() for _ in range(rng.randint(0, 4))]
            write(landing / rng.choice(names), calls(*rows), age=rng.random() < 0.5)
        elif action == "remove":
            (landing / rng.choice(present)).unlink()
        else:
            os.utime(landing / rng.choice(present))
        report = wh.load()
        assert_same_as_from_scratch(wh, report, tmp_path)


def test_the_day_partitions_touched_are_those_of_the_valid_rows_read(wh, landing):
    late_evening = "C9,R1,2025-03-06T23:30:00Z,60,outbound,connected"  # 00:30 on the 7th in Oslo
    write(landing / "calls" / "a.csv", calls(call("C1"), late_evening))
    assert wh.load().days_touched == ("2025-03-05", "2025-03-07")
    write(landing / "calls" / "b.csv", calls(call("C2"), "C3,,2025-04-01T10:00:00Z,60,outbound,x"))
    report = wh.load()
    assert report.days_touched == ("2025-03-05",)  # the rejected row touches nothing
    assert report.as_metadata()["partitions_touched"] == "2025-03-05"
    assert wh.load().days_touched == ()  # nothing read
