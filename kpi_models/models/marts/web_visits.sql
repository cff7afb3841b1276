-- One row per web visit, with the visitor's first touch; a visit is its own last touch.
-- What KPI definitions select from. A view, not a table: the visits (stg_web__visits) and the
-- first touches (int_visitors_touches_aggregated) are tables kept up to date incrementally, and
-- each reader joining them costs less than writing every visit a third time.
{{ config(materialized='view') }}

select
    visits.visit_id,
    visits.visitor_id,
    visits.account_id,
    visits.channel,
    visits.landing_page,
    visits.campaign,
    visits.visited_at,
    touches.first_touch_channel,
    touches.first_touch_landing_page,
    visits.channel as last_touch_channel,
    visits.landing_page as last_touch_landing_page
from {{ ref('stg_web__visits') }} as visits
left join {{ ref('int_visitors_touches_aggregated') }} as touches
    on touches.visitor_id = visits.visitor_id
