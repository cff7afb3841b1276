-- One row per opportunitie, with the rep's team and region: what KPI definitions select from.
select * from {{ ref('int_opportunities_joined_to_reps') }}
