"""Dagster assets, one module per domain: landing/raw ingestion, dbt models, KPI validation, publish."""
