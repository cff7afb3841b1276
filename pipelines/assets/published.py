"""Validation of every KPI table (pandera, blocking checks) and the publish of kpi.duckdb.

pandera and ibis (~1 s to import) are imported by the steps that validate, not when the
definitions load: `kpi run` imports them in the background while the loads run (runner.py)."""

from typing import TYPE_CHECKING

import dagster as dg
import duckdb

from pipelines import build_state
from pipelines.compiler.funnels import funnel_model_name
from pipelines.compiler.project import FACTORS_MODEL, published_kpi_tables
from pipelines.ops.preview import failures_markdown, latest_month_preview
from pipelines.publish import PublishedTable, publish
from pipelines.spec.loader import Definitions
from pipelines.validation import ledger

if TYPE_CHECKING:
    from pipelines.validation.kpi_tables import ValidationResult

from .dbt import kpi_asset_key
from .resources import BUILD_DB_POOL, WarehouseResource

PUBLISHED_KEY = dg.AssetKey(["published", "kpi"])


def kpi_tables(defs: Definitions) -> list[str]:
    """Every KPI table that is validated and published (the keys of the pandera schemas)."""
    return published_kpi_tables(defs)


def published_tables(defs: Definitions) -> list[PublishedTable]:
    """What analysts get in kpi.duckdb, and where each table comes from in the build database."""
    tables = [
        PublishedTable(
            FACTORS_MODEL,
            f"SELECT * FROM build.kpis.{FACTORS_MODEL} ORDER BY funnel, grain, period_start, "
            "dimension, member, position",
            "One row per funnel factor per grain, period, dimension and member.",
        )
    ]
    for name, funnel in defs.funnels.items():
        tables.append(
            PublishedTable(
                funnel_model_name(name),
                f"SELECT * {'' if funnel.kind == 'cohort' else 'EXCLUDE (computed_in) '}"
                f"FROM build.kpis.{funnel_model_name(name)} "
                "ORDER BY grain, period_start, dimension, member",
                (funnel.description or f"Funnel {name}") + " Wide: one row per period and member.",
            )
        )
    extra_tables = {
        "activity_kpis": (
            "kpi, grain, period_start, dimension, member",
            "Activity KPIs per period and member with target, attainment and on_pace.",
        ),
        "activity_points": (
            "scheme, grain, period_start, leaderboard_rank, rep_id",
            "Points leaderboard: weighted activities per rep and period.",
        ),
        "top_performer_gap": (
            "grain, period_start, metric_kind, metric",
            "Top share of reps by the outcome vs the rest, for every KPI and funnel factor.",
        ),
    }
    for table in kpi_tables(defs):
        if table in extra_tables:
            order, description = extra_tables[table]
            tables.append(
                PublishedTable(
                    table, f"SELECT * FROM build.kpis.{table} ORDER BY {order}", description
                )
            )
    tables += [
        PublishedTable(
            "working_days",
            "SELECT * FROM build.kpis.working_days WHERE calendar_date BETWEEN '2020-01-01' "
            "AND '2035-12-31' ORDER BY calendar_date",
            "The working-day calendar of the definitions.",
        ),
        PublishedTable(
            "reps",
            "SELECT rep_id, rep_name, team, region, hired_on, left_on FROM build.marts.reps",
            "The rep directory.",
        ),
        PublishedTable(
            "rejects",
            "SELECT entity, source_file, source_row, reason FROM build.raw.rejects "
            "ORDER BY entity, source_file, source_row",
            "Landing rows that broke the contract and were not loaded, with the reason.",
        ),
        PublishedTable(
            "orphaned_reps",
            " UNION ALL ".join(
                f"SELECT '{entity}' AS entity, rep_id, count(*) AS rows "
                f"FROM build.marts.{entity} WHERE is_orphaned_rep GROUP BY rep_id"
                for entity in ORPHAN_ENTITIES
            )
            + " ORDER BY entity, rep_id",
            "rep_ids found in activities or opportunities but in no reps file: their rows are "
            "loaded and count for that rep_id, and under team '(unassigned)'.",
        ),
    ]
    return tables


# Marts that join to reps and flag rows whose rep_id is unknown (`is_orphaned_rep`).
ORPHAN_ENTITIES = ("calls", "emails", "meetings", "opportunities")


def result_metadata(result: "ValidationResult") -> dict[str, dg.MetadataValue]:
    from pipelines.validation.kpi_tables import MAX_SAMPLES

    metadata = {
        "rows": dg.MetadataValue.int(result.rows),
        "failures": dg.MetadataValue.int(len(result.failures)),
    }
    if result.failures:
        metadata["failing_rows_sample"] = dg.MetadataValue.json(result.failures[:MAX_SAMPLES])
        metadata["failing_rows"] = dg.MetadataValue.md(
            failures_markdown(result.failures[:MAX_SAMPLES], total=len(result.failures))
        )
    return metadata


def validation_checks(defs: Definitions) -> list[dg.AssetChecksDefinition]:
    """`pandera_valid` on every KPI table, blocking, all run by one step (`kpi_tables_pandera`):
    one read-only connection for every table instead of a step, a connection and ~0.3 s of
    overhead per table. Selecting some checks in the UI validates only their tables."""
    tables = kpi_tables(defs)
    specs = [
        dg.AssetCheckSpec(
            "pandera_valid", asset=kpi_asset_key(table), blocking=True,
            description=f"pandera schema of `{table}` (types, ranges, product identity), run in "
            "DuckDB. Blocking: a failure stops the publish.",
        )
        for table in tables
    ]  # fmt: skip

    @dg.multi_asset_check(
        specs=specs, name="kpi_tables_pandera", can_subset=True, pool=BUILD_DB_POOL
    )
    def checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        selected = {key.asset_key for key in context.selected_asset_check_keys}
        chosen = [t for t in tables if kpi_asset_key(t) in selected]
        from pipelines.validation.kpi_tables import validate_tables

        with warehouse.exclusive(context):
            results = validate_tables(warehouse.settings.build_db, warehouse.definitions, chosen)
            with warehouse.connect() as con:  # the publish step trusts this content only
                prints = ledger.fingerprints(con, [r.table for r in results if r.passed])
                for result in results:
                    if result.passed:
                        ledger.record_passed(con, result.table, prints[result.table])
                    else:
                        ledger.forget(con, result.table)
        for result in results:
            yield dg.AssetCheckResult(
                asset_key=kpi_asset_key(result.table), check_name="pandera_valid",
                passed=result.passed, severity=dg.AssetCheckSeverity.ERROR,
                metadata=result_metadata(result), description=result.summary(),
            )  # fmt: skip

    return [checks]


class ValidationFailed(Exception):
    pass


def publish_asset(defs: Definitions) -> dg.AssetsDefinition:
    @dg.asset(
        key=PUBLISHED_KEY,
        deps=[kpi_asset_key(t) for t in kpi_tables(defs)],
        group_name="published",
        kinds={"duckdb"},
        pool=BUILD_DB_POOL,
        description="kpi.duckdb, what analysts open: every KPI table, validated, swapped in "
        "atomically. A failed validation leaves the previous file untouched.",
    )
    def published_kpi(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        with warehouse.exclusive(context):  # validate and copy with no writer in between
            settings = warehouse.settings
            definitions = warehouse.definitions
            # Nothing unvalidated may reach analysts, and publishing can run on its own: validate
            # every table whose content is not exactly what its check passed (the ledger).
            with warehouse.connect() as con:
                trusted = ledger.already_validated(con, kpi_tables(definitions))
            results = []
            if set(kpi_tables(definitions)) - set(trusted):
                from pipelines.validation.kpi_tables import validate_build

                results = validate_build(settings.build_db, definitions, skip=trusted)
            context.log.info(
                f"validated again: {len(results)} tables; unchanged since their check: "
                f"{len(trusted)}"
            )
            failed = [r for r in results if not r.passed]
            if failed:
                from pipelines.validation.kpi_tables import MAX_SAMPLES

                raise dg.Failure(
                    description="validation failed, kpi.duckdb left as it was: "
                    + "; ".join(r.summary() for r in failed),
                    metadata={
                        r.table: dg.MetadataValue.json(r.failures[:MAX_SAMPLES]) for r in failed
                    },
                )
            # The landing files' hashes come from the loader's manifest in the build database
            # (raw.landing_files): no landing file is read again to publish.
            report = publish(
                settings.build_db,
                settings.published_db,
                published_tables(definitions),
                run_id=context.run.run_id,
            )
            with duckdb.connect(str(settings.build_db), read_only=True) as con:
                recomputed = build_state.recomputed_periods(con)
        metadata = {f"rows/{k}": dg.MetadataValue.int(v) for k, v in report.row_counts.items()}
        metadata["path"] = dg.MetadataValue.path(str(report.path))
        metadata["tables_validated_again"] = dg.MetadataValue.int(len(results))
        metadata.update(recomputed)  # what this build's incremental KPI models recomputed
        try:
            preview = latest_month_preview(report.path)
        except duckdb.Error as exc:  # the file is published; a preview is not worth a failure
            preview = f"preview unavailable: {exc}"
        metadata["latest_month_by_team"] = dg.MetadataValue.md(preview)
        return dg.MaterializeResult(metadata=metadata)

    return published_kpi
