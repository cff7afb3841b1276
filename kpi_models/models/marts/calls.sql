-- One row per call, with the rep's team and region: what KPI definitions select from.
select * from {{ ref('int_calls_joined_to_reps') }}
