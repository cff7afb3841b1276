-- One row per meeting, with the rep's team and region: what KPI definitions select from.
select * from {{ ref('int_meetings_joined_to_reps') }}
