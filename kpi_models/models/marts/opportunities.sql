-- One row per opportunity (latest version), with the rep's team and region and the web touches
-- of the meeting it came from (attribution): what KPI definitions select from.
select
    opportunities.*,
    {{ touch_columns('touches') }}
from {{ ref('int_opportunities_joined_to_reps') }} as opportunities
left join {{ ref('int_meetings_touches_joined') }} as touches
    on touches.meeting_id = opportunities.meeting_id
