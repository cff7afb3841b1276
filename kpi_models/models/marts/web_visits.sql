-- One row per web visit, with the visitor's first touch; a visit is its own last touch.
-- What KPI definitions select from.
with visits as (
    select * from {{ ref('stg_web__visits') }}
)

select
    visits.*,
    touches.first_touch_channel,
    touches.first_touch_landing_page,
    visits.channel as last_touch_channel,
    visits.landing_page as last_touch_landing_page
from visits
left join {{ ref('int_visitors_touches_aggregated') }} as touches
    on touches.visitor_id = visits.visitor_id
