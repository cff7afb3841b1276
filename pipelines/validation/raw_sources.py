"""great-expectations suites for the landing entities, run on each newly arrived landing file.

Two suites per entity, built from the landing contract (`pipelines/ingest/contract.py`):

- `<entity>.contract` mirrors the contract on what was loaded: the contract's columns, required
  values present, allowed sets, numbers ≥ 0, unique ids, currencies, no timestamp in the future.
  The loader already enforces all of it, so a failure means a loader bug: an ERROR.
- `<entity>.distribution` holds what a data engineer watches (WARN): the share of calls, emails,
  meetings and opportunities whose rep is in reps, plausible call durations and deal amounts,
  replies after sends, meetings scheduled after booking, and web-visit volume per day not collapsing
  against the day before.

Validation runs on aggregates, in the database: each rule is a *measure*, one number per landing
file computed by DuckDB over the file's loaded rows (`raw.<entity>` where `_source_file` is that
file): rows with a required value missing, rows outside an allowed set, repeated ids, the share of
rows whose rep is known, ... One scan of the new files' rows gives every measure of every file, and
great-expectations bounds each measure on that frame (a row per file; per file and day for web-visit
volume), so GX never holds the loaded rows and memory does not grow with the data. A failure names
the file, the measure, the landing column and how many rows broke the rule (or the share seen).
Only files that are new or changed since the last run (SHA-256, from the loader's manifest), or
validated under other suites, are validated; earlier results are kept in
`<warehouse>/gx/validated_files.json`. GX's pandas datasource is used (its SQL datasource fails on
DuckDB) and GX is imported only when there is something to validate (the import takes seconds). The
measures are counts and shares, so no personal value is ever in a GX result or the Data Docs,
written to `<warehouse>/gx/uncommitted/data_docs/local_site/index.html`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from pipelines.db import duckdb_config, lit, q, table_exists
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


# --- Measures --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """One number per landing file, computed in DuckDB over the file's loaded rows, that a suite
    bounds: great-expectations sees a frame of these numbers (one row per file), never the rows."""

    name: str  # the frame's column
    sql: str  # an aggregate over the file's rows of `raw.<entity>`
    column: str | None  # the landing column it is about
    rule: str  # what it stands for, in words (the expectation's `meta.why`)
    max_value: float | None = 0
    min_value: float | None = None
    counts_rows: bool = True  # a number of rows breaking the rule (else a share or ratio)
    repeats_of: str | None = None  # instead of `sql`: rows repeating a value of this column


def contract_measures(entity: Entity, now: datetime, columns_off_contract: int) -> list[Measure]:
    """The landing contract as numbers that must be 0 for each file: rows with a required value
    missing, a value outside its allowed set, a negative number, a malformed currency, a
    timestamp in the future, an id repeated; and whether the table's columns are the contract's."""
    latest = lit((now + timedelta(days=1)).isoformat()) + "::TIMESTAMPTZ"
    out = [
        Measure(
            "columns_off_contract", str(columns_off_contract), None,
            "the loaded table has exactly the contract's columns", counts_rows=False,
        ),
        Measure(
            f"{entity.id_column}__repeated", "", entity.id_column, "ids are unique",
            repeats_of=entity.id_column,
        ),
    ]  # fmt: skip
    for c in entity.columns:
        v = q(c.name)
        if c.required:
            out.append(
                Measure(f"{c.name}__missing", f"count(*) FILTER ({v} IS NULL)", c.name,
                        "required value present")
            )  # fmt: skip
        if c.kind is Kind.CHOICE:
            allowed = ", ".join(lit(x) for x in c.choices)
            out.append(
                Measure(f"{c.name}__not_allowed", f"count(*) FILTER ({v} NOT IN ({allowed}))",
                        c.name, f"one of {', '.join(c.choices)}")
            )  # fmt: skip
        elif c.kind is Kind.NUMBER:
            out.append(Measure(f"{c.name}__negative", f"count(*) FILTER ({v} < 0)", c.name, "≥ 0"))
        elif c.kind is Kind.CURRENCY:
            out.append(
                Measure(
                    f"{c.name}__not_a_code",
                    f"count(*) FILTER (NOT regexp_full_match({v}, '[A-Z]{{3}}'))",
                    c.name, "a three-letter upper-case currency code",
                )
            )  # fmt: skip
        elif c.kind is Kind.TIMESTAMP:  # nulls (optional columns) are ignored
            out.append(
                Measure(f"{c.name}__in_future", f"count(*) FILTER ({v} > {latest})", c.name,
                        "not more than a day in the future")
            )  # fmt: skip
    if entity.name == "opportunities":
        out.append(
            Measure(
                "closed_at__missing_when_closed",
                "count(*) FILTER (status IN ('won', 'lost') AND closed_at IS NULL)",
                "closed_at", "closed_at present when won or lost",
            )
        )  # fmt: skip
    return out


def _share(condition: str, of: str = "true") -> str:
    """The share of the rows meeting `of` that also meet `condition` (NULL when none meet `of`)."""
    return f"count(*) FILTER (({of}) AND ({condition})) / nullif(count(*) FILTER ({of}), 0)"


def distribution_measures(entity: Entity, has_reps: bool = True) -> list[Measure]:
    """What a data engineer watches, per file: shares that must stay small (or large)."""
    out = []
    if entity.name in REP_ENTITIES:
        known = "rep_id IN (SELECT rep_id FROM raw.reps)" if has_reps else "false"
        out.append(
            Measure(
                "known_rep_share", _share(known), "rep_id",
                f"share of {entity.name} whose rep is in reps", max_value=1,
                min_value=MIN_KNOWN_REP_SHARE, counts_rows=False,
            )
        )  # fmt: skip
    if entity.name == "calls":
        out.append(
            Measure(
                "duration_seconds__over_max_share",
                _share(f"duration_seconds > {MAX_CALL_SECONDS}", "duration_seconds IS NOT NULL"),
                "duration_seconds", f"at most 1 % of calls longer than {MAX_CALL_SECONDS} s",
                max_value=0.01, counts_rows=False,
            )
        )  # fmt: skip
    if entity.name == "emails":
        out.append(
            Measure(
                "replied_at__before_sent_share",
                _share("replied_at < sent_at", "replied_at IS NOT NULL AND sent_at IS NOT NULL"),
                "replied_at", "at most 1 % of replies before their email was sent",
                max_value=0.01, counts_rows=False,
            )
        )  # fmt: skip
    if entity.name == "meetings":
        out.append(
            Measure(
                "scheduled_at__before_booked_share",
                _share("scheduled_at < booked_at",
                       "scheduled_at IS NOT NULL AND booked_at IS NOT NULL"),
                "scheduled_at", "at most 5 % of meetings scheduled before they were booked",
                max_value=0.05, counts_rows=False,
            )
        )  # fmt: skip
    if entity.name == "opportunities":
        out.append(
            Measure(
                "amount__over_max", f"count(*) FILTER (amount > {MAX_AMOUNT})", "amount",
                f"no amount above {MAX_AMOUNT:,}",
            )
        )  # fmt: skip
        out.append(
            Measure(
                "won_amount__outside_range_share",
                _share(f"amount NOT BETWEEN 1 AND {MAX_AMOUNT}",
                       "status = 'won' AND amount IS NOT NULL"),
                "amount", f"at most 1 % of won deals outside 1 … {MAX_AMOUNT:,}",
                max_value=0.01, counts_rows=False,
            )
        )  # fmt: skip
    if entity.name == "reps":
        out.append(
            Measure(
                "left_on__before_hired_on", "count(*) FILTER (left_on < hired_on)", "left_on",
                "no rep leaves before being hired",
            )
        )  # fmt: skip
    if entity.name == "web_visits":
        out.append(
            Measure(
                "day_over_day", "", "visited_at",
                "visit volume must not collapse day over day (days below the bound)",
                max_value=None, min_value=MIN_DAY_OVER_DAY,
            )
        )  # fmt: skip
    return out


def measures_sql(entity: Entity, measures: list[Measure]) -> str:
    """One scan of the given files' loaded rows (parameter: their names): a row per file with
    its number of rows and every measure.

    Repeated values are counted as the rows beyond the first of each (file, value) group, a
    grouping of its own, not as `count(v) - count(DISTINCT v)`: the same number, but DuckDB's
    distinct aggregate inside the per-file grouping holds every id of a file in memory, and at
    SF 10 (50 M visits a year) it ran out of its 1 GB where a plain grouping spills to disk."""
    plain = [m for m in measures if m.sql]
    repeats = [m for m in measures if m.repeats_of]
    values = "".join(f", {m.sql} AS {q(m.name)}" for m in plain)
    ctes = [
        "new_rows AS (SELECT * FROM raw."
        + q(entity.name)
        + " WHERE _source_file IN (SELECT unnest(?::VARCHAR[])))",
        f"per_file AS (SELECT _source_file AS file, count(*) AS rows{values} "
        "FROM new_rows GROUP BY ALL)",
    ]
    joins, columns = [], ["per_file.*"]
    for i, m in enumerate(repeats):
        column = q(m.repeats_of)
        ctes.append(
            f"repeats_{i} AS (SELECT file, CAST(sum(n - 1) AS BIGINT) AS value FROM ("
            f"SELECT _source_file AS file, count(*) AS n FROM new_rows WHERE {column} IS NOT NULL "
            f"GROUP BY _source_file, {column}) AS per_value GROUP BY file)"
        )
        joins.append(f"LEFT JOIN repeats_{i} USING (file)")
        columns.append(f"coalesce(repeats_{i}.value, 0) AS {q(m.name)}")
    return (
        "WITH "
        + ",\n".join(ctes)
        + f"\nSELECT {', '.join(columns)} FROM per_file "
        + " ".join(joins)
        + " ORDER BY file"
    )


def visits_per_file_day_sql(timezone: str, first_day: date, last_day: date) -> str:
    """Visits per landing file and reporting-zone day, for the days `first_day` … `last_day` only
    (`daily_visits_sql` reads the result, the temp table `_visits_per_file_day`). The bounds are
    constants in the scan, so DuckDB skips the row groups of other days (the delivered rows lie in
    delivery order, months apart): a new day's files no longer scan a whole year of visits."""
    day = f"CAST(timezone({lit(timezone)}, visited_at) AS DATE)"
    # A day in any zone lies within these instants (offsets are under a day).
    since = lit((first_day - timedelta(days=1)).isoformat()) + "::TIMESTAMPTZ"
    until = lit((last_day + timedelta(days=2)).isoformat()) + "::TIMESTAMPTZ"
    return (
        f"SELECT _source_file, {day} AS day, count(*) AS visits FROM raw.web_visits "
        f"WHERE visited_at >= {since} AND visited_at < {until} "
        f"AND {day} BETWEEN {lit(first_day.isoformat())}::DATE AND {lit(last_day.isoformat())}::DATE "
        "GROUP BY ALL"
    )


def new_visit_days_sql(timezone: str) -> str:
    """The first and last reporting-zone day of the given files' visits (parameter: their names)."""
    day = f"CAST(timezone({lit(timezone)}, visited_at) AS DATE)"
    return (
        f"SELECT min({day}), max({day}) FROM raw.web_visits "
        "WHERE _source_file IN (SELECT unnest(?::VARCHAR[])) AND visited_at IS NOT NULL"
    )


def daily_visits_sql() -> str:
    """Per file of some files (parameter: their names) and day it has visits on: that day's
    visits over every file, the day before's, and their ratio (`day_over_day`, NULL when the day
    before has no visits at all)."""
    return """
        WITH days AS (
            SELECT day, sum(visits) AS visits FROM _visits_per_file_day GROUP BY ALL
        ), ratios AS (
            SELECT day, visits, lag(visits) OVER (ORDER BY day) AS visits_day_before,
                lag(day) OVER (ORDER BY day) AS day_before
            FROM days
        )
        SELECT f._source_file AS file, r.day, r.visits, r.visits_day_before,
            CASE WHEN r.day_before = r.day - 1 THEN r.visits / r.visits_day_before END
                AS day_over_day
        FROM ratios r JOIN _visits_per_file_day f ON f.day = r.day
        WHERE f._source_file IN (SELECT unnest(?::VARCHAR[]))
        ORDER BY file, day
    """


def _expectations(measures: list[Measure]) -> list:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnValuesToBeBetween(
            column=m.name, min_value=m.min_value, max_value=m.max_value,
            meta={"why": m.rule, "column": m.column},
        )
        for m in measures
    ]  # fmt: skip


def suites_signature(entity: Entity) -> str:
    """A hash of what the suites check: a file validated under other suites is validated again."""
    now = datetime(2000, 1, 1, tzinfo=UTC)
    parts = [
        (m.name, m.sql, m.repeats_of, m.min_value, m.max_value)
        for m in contract_measures(entity, now, 0) + distribution_measures(entity)
    ]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


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
    return validate_raw_entities(build_db, warehouse, landing, [entity_name], timezone)[entity_name]


def validate_raw_entities(
    build_db: Path,
    warehouse: Path,
    landing: Path,
    entity_names: list[str],
    timezone: str = "Europe/Oslo",
) -> dict[str, dict[str, SuiteOutcome]]:
    """Both suites of each entity on its new or changed landing files: outcomes over all files.

    One great-expectations context and one Data Docs build serve every entity: each costs about
    a second whatever the data (reading GX's configuration, compiling the page templates), which
    was most of the validation time of a one-day run when each entity had its own."""
    root = gx_root(warehouse)
    root.mkdir(parents=True, exist_ok=True)
    state = _load_state(root)
    context = None
    validated: list = []  # GX's identifiers of the results written now: the Data Docs to build
    out: dict[str, dict[str, SuiteOutcome]] = {}
    # One read-only connection for the manifest lookups and the measures of every entity.
    config = duckdb_config(warehouse, memory_limit=GX_MEMORY_LIMIT)
    with duckdb.connect(str(build_db), read_only=True, config=config) as con:
        for entity_name in entity_names:
            entity = ENTITIES[entity_name]
            files = dict(landing_files(landing, entity_name))
            checksums = _checksums(con, landing, entity_name, files)
            signature = suites_signature(entity)
            known = state.get(entity_name, {})
            new = [
                f
                for f in files
                if (known.get(f, {}).get("sha256"), known.get(f, {}).get("suites"))
                != (checksums[f], signature)
            ]
            results = {f: known[f] for f in files if f not in new}
            if new:
                context = context or _context(root)
                checked, identifiers = _validate_files(
                    context, con, entity, new, checksums, timezone
                )
                results.update(checked)
                validated.extend(identifiers)
                for f in new:
                    results[f]["suites"] = signature
            state[entity_name] = results
            out[entity_name] = _outcomes(entity_name, results, len(new), warehouse)
    if validated:  # render this run's results (and the index), not every result ever stored
        context.build_data_docs(resource_identifiers=validated)
    _save_state(root, state)
    return out


def _outcomes(
    entity_name: str, results: dict[str, dict[str, Any]], new_files: int, warehouse: Path
) -> dict[str, SuiteOutcome]:
    """Each suite's outcome over every file of the entity, from the stored per-file results."""
    outcomes = {}
    for kind in KINDS:
        outcome = SuiteOutcome(entity_name, kind, files=len(results), new_files=new_files)
        for file, result in sorted(results.items()):
            outcome.expectations += result.get(f"{kind}_expectations", 0)
            outcome.failures += [{"file": file, **f} for f in result.get(kind, [])]
        outcome.data_docs = data_docs_index(warehouse)
        outcomes[kind] = outcome
    return outcomes


def _checksums(
    con: duckdb.DuckDBPyConnection, landing: Path, entity_name: str, files: dict[str, Path]
) -> dict[str, str]:
    """SHA-256 of each landing file as the loader recorded it when it read the file (the manifest,
    `raw.landing_files`): the content that is in raw. Files the manifest lacks are hashed here."""
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
    context, con: duckdb.DuckDBPyConnection, entity: Entity, files: list[str],
    checksums: dict[str, str], timezone: str,
) -> tuple[dict[str, dict[str, Any]], list]:  # fmt: skip
    """Both suites on `files`: the measures of every file in one scan of their loaded rows, then
    one great-expectations run per suite over the frame of those numbers (a row per file). Also
    GX's identifiers of the results it stored (the Data Docs pages to build)."""
    import great_expectations as gx

    now = datetime.now(UTC)
    out: dict[str, dict[str, Any]] = {f: {"sha256": checksums[f]} for f in files}
    validated: list = []  # GX's identifiers of the results written now: the Data Docs pages to build
    has_reps = table_exists(con, "raw", "reps")
    measures = {
        "contract": contract_measures(entity, now, _columns_off_contract(con, entity)),
        "distribution": distribution_measures(entity, has_reps),
    }
    per_file = [m for m in measures["contract"] + measures["distribution"] if m.sql or m.repeats_of]
    frame = con.sql(measures_sql(entity, per_file), params=[files]).to_arrow_table().to_pandas()
    frames = {
        kind: frame[["file", "rows"] + [m.name for m in measures[kind] if m.sql or m.repeats_of]]
        for kind in KINDS
    }
    if entity.name == "web_visits":  # volume per day: the new files' days and the days before
        first, last = con.execute(new_visit_days_sql(timezone), [files]).fetchone()
        if first is not None:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _visits_per_file_day AS "
                + visits_per_file_day_sql(timezone, first - timedelta(days=1), last)
            )
            frames["distribution"] = (
                con.sql(daily_visits_sql(), params=[files]).to_arrow_table().to_pandas()
            )
        else:
            frames["distribution"] = frame.iloc[0:0][["file"]].assign(day_over_day=None)
    rows = dict(zip(frame["file"], frame["rows"], strict=True))
    for kind in KINDS:
        for file in files:
            out[file][f"{kind}_expectations"] = len(measures[kind]) if rows.get(file) else 0
            out[file][kind] = []
        if frame.empty or not measures[kind]:
            continue
        checkpoint = _checkpoint(context, entity.name, kind, measures[kind])
        failures, identifiers = _run(checkpoint, frames[kind], measures[kind], gx)
        validated.extend(identifiers)
        for file, failure in failures:
            out[file][kind].append(failure)
    return out, validated


def _columns_off_contract(con: duckdb.DuckDBPyConnection, entity: Entity) -> int:
    """Contract columns the loaded table lacks plus columns it has beyond the contract (lineage
    columns aside)."""
    loaded = {
        name
        for (name,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'raw' "
            "AND table_name = ? AND NOT starts_with(column_name, '_')",
            [entity.name],
        ).fetchall()
    }
    return len(loaded ^ set(entity.column_names))


# Memory cap of the read-only connection the measures are computed through: without one DuckDB may
# keep the blocks of raw.* it read cached, up to 80 % of RAM, in the pipeline's process. Beyond it
# the measures spill (the repeated-ids count over a whole year of visits at SF 10 needs more).
GX_MEMORY_LIMIT = "1GB"


def _context(root: Path):
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=root.parent)
    if context.variables.progress_bars is None:
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.save()
    return context


def _checkpoint(context, entity: str, kind: str, measures: list[Measure]):
    import great_expectations as gx

    name = f"{entity}.{kind}"
    try:
        source = context.data_sources.get("raw")
    except (KeyError, ValueError):
        source = context.data_sources.add_pandas("raw")
    asset_name = (
        f"{entity} measures per file"
        if kind == "contract" or entity != "web_visits"
        else ("web_visits visits per file and day")
    )
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(asset_name)
    try:
        batch = asset.get_batch_definition("new landing files")
    except KeyError:
        batch = asset.add_batch_definition_whole_dataframe("new landing files")
    suite = context.suites.add_or_update(
        gx.ExpectationSuite(name=name, expectations=_expectations(measures))
    )
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(data=batch, suite=suite, name=name)
    )
    return context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=name, validation_definitions=[definition], actions=[],
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["file"]},
        )
    )  # fmt: skip


def _run(checkpoint, frame, measures: list[Measure], gx) -> tuple[list[tuple[str, dict]], list]:
    """Validate one frame of per-file numbers; each unmet expectation as (file, failure), and the
    identifiers of the validation results GX stored. A failure names the measure, the landing
    column, and how many rows broke the rule (a count measure), the value seen (a share), or how
    many of the file's days fell below the bound (visits day over day)."""
    by_name = {m.name: m for m in measures}
    run_id = gx.RunIdentifier(run_name=f"{checkpoint.name} {len(frame)} rows")
    result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=run_id)
    failures: list[tuple[str, dict]] = []
    for validation in result.run_results.values():
        for r in validation.results:
            if r.success:
                continue
            name = r.expectation_config.kwargs.get("column")
            measure = by_name[name]
            base = {"expectation": r.expectation_config.type, "column": measure.column,
                    "measure": name, "rule": measure.rule}  # fmt: skip
            if r.exception_info and r.exception_info.get("raised_exception"):
                error = str(r.exception_info.get("exception_message"))[:200]
                failures += [(f, {**base, "error": error}) for f in frame["file"]]
                continue
            per_file: dict[str, list[float]] = {}
            for unexpected in r.result.get("unexpected_index_list") or []:
                per_file.setdefault(unexpected["file"], []).append(float(unexpected[name]))
            for file, values in sorted(per_file.items()):
                if name == "day_over_day":
                    failures.append((file, {**base, "unexpected": len(values)}))
                elif measure.counts_rows:
                    failures.append((file, {**base, "unexpected": int(sum(values))}))
                else:
                    failures.append((file, {**base, "observed": values[0]}))
    return failures, list(result.run_results)
