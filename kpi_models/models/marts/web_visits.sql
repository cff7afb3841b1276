-- One row per web visit: what KPI definitions select from.
select * from {{ ref('stg_web__visits') }}
