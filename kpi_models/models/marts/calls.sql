-- One row per call, with the rep's team and region: what KPI definitions select from.
-- A view: its readers (the activity KPIs, the outbound funnels, the day fingerprints) each read
-- the settled rows anyway; as a table, every run wrote all of them again and pseudonymised every
-- contact, whatever changed (SF 1: ~3.5 s of a one-day run's dbt step for calls).
{{ config(materialized='view') }}
select * from {{ ref('int_calls_joined_to_reps') }}
