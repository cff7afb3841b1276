-- One row per web visit, with the visitor's first touch; a visit is its own last touch.
-- What KPI definitions select from. A view, not a table: its three readers (the inbound funnels
-- and the day fingerprints) join the visits to their visitor's touches on `visitor_key`, the
-- pseudonym as a number (macros/pseudonymise.sql), which costs them less than writing every
-- visit a third time (after raw and stg_web__visits) costs the build: SF 1 4.3 s to write the
-- table against ~1 s more in the readers; SF 10 43 s against ~17 s. The visits and touches it
-- reads are incremental tables, so the view is always current without being rebuilt.
{{ config(materialized='view') }}

select
    visits.visit_id,
    visits.visitor_id,
    visits.visitor_key,
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
    on touches.visitor_key = visits.visitor_key
