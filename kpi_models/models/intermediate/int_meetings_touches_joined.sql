{#- A table (one row per meeting): read by the meetings and the opportunities marts. -#}
{{ config(materialized='table') }}
{#- Every meeting with the touches of the web visitor who asked for it: first touch (their
    first visit) and last touch (their last visit before the meeting was booked; ties at one
    instant: the greater visit_id). -#}
with meetings as (
    select meeting_id, {{ pseudonym_number('visitor_id') }} as visitor_key, booked_at
    from {{ ref('stg_calendar__meetings') }}
    where visitor_id is not null
),

visits as (
    select visitor_key, visit_id, visited_at, channel, landing_page from {{ ref('stg_web__visits') }}
),

last_touches as (
    select
        meetings.meeting_id,
        arg_max(visits.channel, (visits.visited_at, visits.visit_id)) as last_touch_channel,
        arg_max(visits.landing_page, (visits.visited_at, visits.visit_id)) as last_touch_landing_page
    from meetings
    inner join visits
        on visits.visitor_key = meetings.visitor_key and visits.visited_at <= meetings.booked_at
    group by meetings.meeting_id
)

select
    meetings.meeting_id,
    first_touches.first_touch_channel,
    first_touches.first_touch_landing_page,
    last_touches.last_touch_channel,
    last_touches.last_touch_landing_page
from meetings
left join {{ ref('int_visitors_touches_aggregated') }} as first_touches
    on first_touches.visitor_key = meetings.visitor_key
left join last_touches on last_touches.meeting_id = meetings.meeting_id
