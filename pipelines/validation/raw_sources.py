"""great-expectations suites for the landing entities, run on each newly arrived landing file.

Two suites per entity, built from the landing contract (`pipelines/ingest/contract.py`):

- `<entity>.contract` mirrors the contract on what was loaded: the contract's columns, required
  values present, allowed sets, numbers ≥ 0, unique ids, currencies, no timestamp in the future.
  The loader already enforces all of it, so a failure means a loader bug: an ERROR.
- `<entity>.distribution` holds what a data engineer watches (WARN): the share of calls, emails,
  meetings and opportunities whose rep is in reps, plausible call durations and deal amounts,
  replies after sends, meetings scheduled after booking, and web-visit volume per day not collapsing
  against the day before.

A distribution batch is one landing file's loaded rows (`raw.<entity>` where `_source_file` is that
file) read into pandas; web-visit volume is checked per day for the days of the file. The contract
suite judges rows one by one, so its batches group consecutive files up to MAX_BATCH_ROWS rows (a
year of daily files is a few GX runs, not hundreds; each costs ~0.4 s CPU of GX overhead) and a
failing batch is validated again file by file to name the file. Memory is bounded by the batch,
never by the history. Only files that are new or changed since the last run (SHA-256, from the
loader's manifest) are validated; earlier results are kept in `<warehouse>/gx/validated_files.json`. GX's
pandas datasource is used (its SQL datasource fails on DuckDB) and GX is imported only when there is
something to validate (the import takes seconds). Personal columns reach GX only as 'present' or
null, so no personal value is ever in a GX result or the Data Docs, written to
`<warehouse>/gx/uncommitted/data_docs/local_site/index.html`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from pipelines.db import lit, q, table_exists
from pipelines.ingest.contract import ENTITIES, Entity, Kind
from pipelines.ingest.loader import landing_files
from pipelines.publish import file_checksums

GX_FOLDER = "gx"
STATE_FILE = "validated_files.json"
DATA_DOCS = Path("uncommitted") / "data_docs" / "local_site" / "index.html"
KINDS = ("contract", "distribution")
REP_ENTITIES = ("calls", "emails", "meetings", "opportunities")
MIN_KNOWN_REP_SHARE = 0.95
MAX_CALL_SECONDS = 4 * 3600
MAX_AMOUNT = 10_000_000
MIN_DAY_OVER_DAY = 0.25  # a day with under a quarter of the day before's visits has collapsed


@dataclass
class SuiteOutcome:
    """One suite over every landing file of an entity (the new ones validated now)."""

    entity: str
    kind: str
    files: int = 0
    new_files: int = 0
    expectations: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    data_docs: Path | None = None

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        head = f"{self.entity}.{self.kind}: {self.files} file(s), {self.new_files} new"
        if self.passed:
            return f"{head}, every expectation met"
        failed = sorted({f"{f['expectation']}({f.get('column') or ''})" for f in self.failures})
        return f"{head}; {len(self.failures)} unmet: {', '.join(failed)}"


def gx_root(warehouse: Path) -> Path:
    return warehouse / GX_FOLDER


def data_docs_index(warehouse: Path) -> Path:
    return gx_root(warehouse) / DATA_DOCS


# --- Batches ---------------------------------------------------------------------------------


# The columns each entity's distribution suite looks at (the contract suite sees every column).
DISTRIBUTION_COLUMNS = {
    "calls": ("duration_seconds",),
    "emails": ("sent_at", "replied_at"),
    "meetings": ("booked_at", "scheduled_at"),
    "opportunities": ("amount",),
    "reps": ("hired_on", "left_on"),
}


def batch_sql(entity: Entity, kind: str, has_reps: bool = True) -> str:
    """SELECT of some files' loaded rows (parameters: their names, then the first and last
    `_source_row` to read), as `kind`'s suite sees them: every column for the contract, only what
    the distribution expectations need otherwise."""
    columns = []
    wanted = DISTRIBUTION_COLUMNS.get(entity.name, ()) if kind == "distribution" else None
    for c in entity.columns:
        if wanted is not None and c.name not in wanted:
            continue
        value = q(c.name)
        if c.personal:  # never hand a personal value to GX: only whether there is one
            value = f"CASE WHEN {value} IS NOT NULL THEN 'present' END"
        columns.append(f"{value} AS {q(c.name)}")
    if kind == "distribution" and entity.name in REP_ENTITIES:
        columns.append(
            "(rep_id IN (SELECT rep_id FROM raw.reps))::INTEGER AS known_rep"
            if has_reps
            else "0 AS known_rep"
        )
    if kind == "distribution" and entity.name == "opportunities":
        columns.append("CASE WHEN status = 'won' THEN amount END AS won_amount")
    return (
        f"SELECT {', '.join(columns)} FROM raw.{q(entity.name)} "
        "WHERE _source_file IN (SELECT unnest(?::VARCHAR[])) AND _source_row BETWEEN ? AND ?"
    )


def visits_per_file_day_sql(timezone: str) -> str:
    """Visits per landing file and reporting-zone day: one scan of raw.web_visits, small result
    (kept as the temp table `_visits_per_file_day` that `daily_visits_sql` reads per batch)."""
    day = f"CAST(timezone({lit(timezone)}, visited_at) AS DATE)"
    return (
        f"SELECT _source_file, {day} AS day, count(*) AS visits FROM raw.web_visits "
        "WHERE visited_at IS NOT NULL GROUP BY ALL"
    )


def daily_visits_sql(timezone: str) -> str:
    """Visits per reporting-zone day of some files (parameter: their names), and the day before's.
    Reads `_visits_per_file_day` (visits_per_file_day_sql); `timezone` is applied there."""
    return """
        WITH days AS (
            SELECT day, sum(visits) AS visits FROM _visits_per_file_day GROUP BY ALL
        ), ratios AS (
            SELECT day, visits, lag(visits) OVER (ORDER BY day) AS visits_day_before,
                lag(day) OVER (ORDER BY day) AS day_before
            FROM days
        )
        SELECT day, visits, visits_day_before,
            CASE WHEN day_before = day - 1 THEN visits / visits_day_before END AS day_over_day
        FROM ratios
        WHERE day IN (
            SELECT day FROM _visits_per_file_day
            WHERE _source_file IN (SELECT unnest(?::VARCHAR[]))
        )
        ORDER BY day
    """


# --- Expectations ----------------------------------------------------------------------------


def contract_expectations(entity: Entity, now: datetime) -> list:
    import great_expectations.expectations as gxe

    out = [gxe.ExpectTableColumnsToMatchSet(column_set=list(entity.column_names), exact_match=True)]
    out.append(gxe.ExpectColumnValuesToBeUnique(column=entity.id_column))
    for c in entity.columns:
        if c.required:
            out.append(gxe.ExpectColumnValuesToNotBeNull(column=c.name))
        if c.kind is Kind.CHOICE:
            out.append(gxe.ExpectColumnValuesToBeInSet(column=c.name, value_set=list(c.choices)))
        elif c.kind is Kind.NUMBER:
            out.append(gxe.ExpectColumnValuesToBeBetween(column=c.name, min_value=0))
        elif c.kind is Kind.CURRENCY:
            out.append(gxe.ExpectColumnValuesToMatchRegex(column=c.name, regex=r"^[A-Z]{3}$"))
        elif c.kind is Kind.TIMESTAMP:  # nulls (optional columns) are ignored
            latest = now + timedelta(days=1)
            out.append(gxe.ExpectColumnValuesToBeBetween(column=c.name, max_value=latest))
    if entity.name == "opportunities":
        out.append(
            gxe.ExpectColumnValuesToNotBeNull(
                column="closed_at", row_condition='status in ["won", "lost"]',
                condition_parser="pandas",
            )
        )  # fmt: skip
    return out


def distribution_expectations(entity: Entity) -> list:
    import great_expectations.expectations as gxe

    out = []
    if entity.name in REP_ENTITIES:
        out.append(
            gxe.ExpectColumnMeanToBeBetween(
                column="known_rep", min_value=MIN_KNOWN_REP_SHARE, max_value=1,
                meta={"why": f"share of {entity.name} whose rep is in reps"},
            )
        )  # fmt: skip
    if entity.name == "calls":
        out.append(
            gxe.ExpectColumnValuesToBeBetween(
                column="duration_seconds", max_value=MAX_CALL_SECONDS, mostly=0.99
            )
        )
    if entity.name == "emails":
        out.append(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="replied_at", column_B="sent_at", or_equal=True,
                ignore_row_if="either_value_is_missing", mostly=0.99,
            )
        )  # fmt: skip
    if entity.name == "meetings":
        out.append(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="scheduled_at", column_B="booked_at", or_equal=True, mostly=0.95
            )
        )
    if entity.name == "opportunities":
        out.append(gxe.ExpectColumnValuesToBeBetween(column="amount", max_value=MAX_AMOUNT))
        out.append(
            gxe.ExpectColumnValuesToBeBetween(
                column="won_amount", min_value=1, max_value=MAX_AMOUNT, mostly=0.99
            )
        )
    if entity.name == "reps":
        out.append(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="left_on", column_B="hired_on", or_equal=True,
                ignore_row_if="either_value_is_missing",
            )
        )  # fmt: skip
    if entity.name == "web_visits":
        out.append(
            gxe.ExpectColumnValuesToBeBetween(
                column="day_over_day", min_value=MIN_DAY_OVER_DAY,
                meta={"why": "visit volume must not collapse day over day"},
            )
        )  # fmt: skip
    return out


# --- Running ---------------------------------------------------------------------------------


def _load_state(root: Path) -> dict[str, Any]:
    path = root / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def _save_state(root: Path, state: dict[str, Any]) -> None:
    path = root / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    os.replace(tmp, path)


def validate_raw_entity(
    build_db: Path, warehouse: Path, landing: Path, entity_name: str, timezone: str = "Europe/Oslo"
) -> dict[str, SuiteOutcome]:
    """Run both suites on the entity's new or changed landing files; outcomes over all files."""
    entity = ENTITIES[entity_name]
    root = gx_root(warehouse)
    root.mkdir(parents=True, exist_ok=True)
    state = _load_state(root)
    files = dict(landing_files(landing, entity_name))
    checksums = _checksums(build_db, landing, entity_name, files)
    known = state.get(entity_name, {})
    new = [f for f in files if known.get(f, {}).get("sha256") != checksums[f]]
    results = {f: known[f] for f in files if f not in new}
    if new:
        results.update(_validate_files(build_db, root, entity, new, checksums, timezone))
    state[entity_name] = results
    _save_state(root, state)
    outcomes = {}
    for kind in KINDS:
        outcome = SuiteOutcome(entity_name, kind, files=len(files), new_files=len(new))
        for file, result in sorted(results.items()):
            outcome.expectations += result.get(f"{kind}_expectations", 0)
            outcome.failures += [{"file": file, **f} for f in result.get(kind, [])]
        outcome.data_docs = data_docs_index(warehouse)
        outcomes[kind] = outcome
    return outcomes


def _checksums(
    build_db: Path, landing: Path, entity_name: str, files: dict[str, Path]
) -> dict[str, str]:
    """SHA-256 of each landing file as the loader recorded it when it read the file (the manifest,
    `raw.landing_files`): the content that is in raw. Files the manifest lacks are hashed here."""
    with duckdb.connect(str(build_db), read_only=True) as con:
        known = table_exists(con, "raw", "landing_files")
        recorded = dict(
            con.execute(
                "SELECT source_file, sha256 FROM raw.landing_files WHERE entity = ?", [entity_name]
            ).fetchall()
            if known
            else []
        )
    missing = [path for name, path in files.items() if not recorded.get(name)]
    return {
        **{name: recorded[name] for name in files if recorded.get(name)},
        **file_checksums(missing, landing),
    }


def _validate_files(
    build_db: Path, root: Path, entity: Entity, files: list[str], checksums: dict[str, str],
    timezone: str,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    import great_expectations as gx

    context = _context(root)
    now = datetime.now(UTC)
    suites = {
        "contract": contract_expectations(entity, now),
        "distribution": distribution_expectations(entity),
    }
    checkpoints = {kind: _checkpoint(context, entity.name, kind, suites[kind]) for kind in KINDS}
    out: dict[str, dict[str, Any]] = {f: {"sha256": checksums[f]} for f in files}
    validated: list = []  # GX's identifiers of the results written now: the Data Docs pages to build
    with duckdb.connect(str(build_db), read_only=True, config=GX_DUCKDB_CONFIG) as con:
        has_reps = bool(
            con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'raw' "
                "AND table_name = 'reps'"
            ).fetchall()[0][0]
        )
        if entity.name == "web_visits":  # one scan for every file's days (temp: read-only is fine)
            con.execute(
                "CREATE TEMP TABLE _visits_per_file_day AS " + visits_per_file_day_sql(timezone)
            )
        # Rows per file: from the visits-per-day table already built (visited_at is required),
        # else one grouped count.
        counted = (
            "SELECT _source_file, sum(visits) FROM _visits_per_file_day"
            if entity.name == "web_visits"
            else f"SELECT _source_file, count(*) FROM raw.{q(entity.name)}"
        )
        rows = dict(
            con.execute(
                f"{counted} WHERE _source_file IN (SELECT unnest(?::VARCHAR[])) GROUP BY ALL",
                [files],
            ).fetchall()
        )
        big = [f for f in files if rows.get(f, 0) > MAX_BATCH_ROWS]
        last_rows = dict(  # where the slices of each file bigger than a batch end
            con.execute(
                f"SELECT _source_file, max(_source_row) FROM raw.{q(entity.name)} "
                "WHERE _source_file IN (SELECT unnest(?::VARCHAR[])) GROUP BY ALL",
                [big],
            ).fetchall()
            if big
            else []
        )

        def run(kind: str, batch: list[str], lines: range = ALL_ROWS) -> list[dict[str, Any]]:
            if kind == "distribution" and entity.name == "web_visits":
                sql, params = daily_visits_sql(timezone), [batch]
            else:
                sql = batch_sql(entity, kind, has_reps)
                params = [batch, lines.start, lines.stop - 1]
            # through Arrow: ~2.5x less CPU than .df() for the same pandas frame (same dtypes)
            frame = con.sql(sql, params=params).to_arrow_table().to_pandas()
            if frame.empty or not suites[kind]:
                return []
            failures, identifiers = _run(checkpoints[kind], frame, _batch_name(batch, lines), gx)
            validated.extend(identifiers)
            return failures

        for kind in KINDS:
            for file in files:
                out[file][f"{kind}_expectations"] = len(suites[kind]) if rows.get(file) else 0
                out[file][kind] = []
            # The contract suite checks every row on its own (and ids are unique across files), so
            # a batch of files passes exactly when each file does: validate many files at once and
            # go file by file only to name the file of a failure. The distribution suite judges a
            # file as a whole (shares, means, day-over-day volume): one batch per file.
            # A file of more than MAX_BATCH_ROWS rows is validated in slices of its lines, so
            # pandas never holds more than a batch (a month of web visits at SF 10 is 4 M rows).
            batches = _batches(files, rows) if kind == "contract" else [[f] for f in files]
            for batch in batches:
                if not any(rows.get(f) for f in batch):
                    continue
                if len(batch) > 1:
                    if run(kind, batch):
                        for file in batch:
                            out[file][kind] = run(kind, [file]) if rows.get(file) else []
                    continue
                (file,) = batch
                slices = (
                    _line_slices(last_rows[file])
                    if kind == "contract" and file in last_rows
                    else [ALL_ROWS]
                )
                for lines in slices:
                    out[file][kind] = _merged(out[file][kind], run(kind, batch, lines))
    if validated:  # render this run's results (and the index), not every result ever stored
        context.build_data_docs(resource_identifiers=validated)
    return out


# Rows of one great-expectations batch of the contract suite (pandas holds it in memory).
MAX_BATCH_ROWS = 500_000
ALL_ROWS = range(0, 2**62)  # `_source_row` bounds that take every row of a file
# DuckDB settings of the read-only connection the batches are read through. The batches are small
# scans, but without a limit DuckDB may keep the blocks of raw.* it read cached, up to 80 % of RAM,
# in the pipeline's process, beside the pandas frames and GX.
GX_DUCKDB_CONFIG = {"memory_limit": "1GB"}


def _batches(files: list[str], rows: dict[str, int]) -> list[list[str]]:
    """Consecutive files grouped into batches of at most MAX_BATCH_ROWS rows (a bigger file alone)."""
    batches: list[list[str]] = []
    size = 0
    for file in files:
        n = rows.get(file, 0)
        if not batches or (size + n > MAX_BATCH_ROWS and batches[-1]):
            batches.append([])
            size = 0
        batches[-1].append(file)
        size += n
    return batches


def _merged(failures: list[dict[str, Any]], more: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One file's unmet expectations from two slices of it: one entry per expectation and column,
    unexpected rows added up."""
    out = [dict(f) for f in failures]
    for failure in more:
        key = (failure["expectation"], failure["column"])
        same = next((f for f in out if (f["expectation"], f["column"]) == key), None)
        if same is None:
            out.append(dict(failure))
        elif "unexpected" in failure:
            same["unexpected"] = same.get("unexpected", 0) + failure["unexpected"]
    return out


def _line_slices(last_row: int) -> list[range]:
    """`_source_row` ranges of at most MAX_BATCH_ROWS rows covering a file's rows 1..last_row."""
    return [
        range(start, min(start + MAX_BATCH_ROWS, last_row + 1))
        for start in range(1, last_row + 1, MAX_BATCH_ROWS)
    ]


def _batch_name(batch: list[str], lines: range) -> str:
    if len(batch) > 1:
        return f"{batch[0]} … {batch[-1]} ({len(batch)} files)"
    if lines == ALL_ROWS:
        return batch[0]
    return f"{batch[0]} rows {lines.start}–{lines.stop - 1}"


def _context(root: Path):
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=root.parent)
    if context.variables.progress_bars is None:
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.save()
    return context


def _checkpoint(context, entity: str, kind: str, expectations: list):
    import great_expectations as gx

    name = f"{entity}.{kind}"
    try:
        source = context.data_sources.get("raw")
    except (KeyError, ValueError):
        source = context.data_sources.add_pandas("raw")
    asset_name = entity if kind == "contract" or entity != "web_visits" else "web_visits_daily"
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(asset_name)
    try:
        batch = asset.get_batch_definition("landing_file")
    except KeyError:
        batch = asset.add_batch_definition_whole_dataframe("landing_file")
    suite = context.suites.add_or_update(gx.ExpectationSuite(name=name, expectations=expectations))
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(data=batch, suite=suite, name=name)
    )
    return context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=name, validation_definitions=[definition], actions=[],
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 0},
        )
    )  # fmt: skip


def _run(checkpoint, frame, name: str, gx) -> tuple[list[dict[str, Any]], list]:
    """Validate one batch; the unmet expectations, described without any value from the data, and
    the identifiers of the validation results GX stored."""
    run_id = gx.RunIdentifier(run_name=name.replace("/", "__"))
    result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=run_id)
    failures = []
    for validation in result.run_results.values():
        for r in validation.results:
            if r.success:
                continue
            kwargs = r.expectation_config.kwargs
            failure = {
                "expectation": r.expectation_config.type,
                "column": kwargs.get("column") or kwargs.get("column_A"),
            }
            if "unexpected_count" in r.result:
                failure["unexpected"] = int(r.result["unexpected_count"])
            elif isinstance(r.result.get("observed_value"), int | float):
                failure["observed"] = float(r.result["observed_value"])
            if r.exception_info and r.exception_info.get("raised_exception"):
                failure["error"] = str(r.exception_info.get("exception_message"))[:200]
            failures.append(failure)
    return failures, list(result.run_results)
