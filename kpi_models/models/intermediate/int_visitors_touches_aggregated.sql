{#- A table (one row per visitor): read by the web_visits mart and by int_meetings_touches_joined. -#}
{{ config(materialized='table') }}
{#- First touch of every web visitor: the channel and landing page of their first visit (two
    visits at one instant: the smaller visit_id, so both columns come from the same visit). -#}
with visits as (
    select * from {{ ref('stg_web__visits') }}
)

select
    visitor_id,
    min(visited_at) as first_visited_at,
    arg_min(channel, (visited_at, visit_id)) as first_touch_channel,
    arg_min(landing_page, (visited_at, visit_id)) as first_touch_landing_page
from visits
group by visitor_id
