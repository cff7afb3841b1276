-- One row per meeting, with the rep's team and region, whether the account was already a
-- customer (it had won an opportunity before the meeting), and the web touches of the visitor
-- who asked for it (attribution): what KPI definitions select from.
with meetings as (
    select * from {{ ref('int_meetings_joined_to_reps') }}
),

first_wins as (
    select account_id, min(closed_at) as first_won_at
    from {{ ref('stg_crm__opportunities') }}
    where is_won and account_id is not null
    group by account_id
)

select
    meetings.*,
    coalesce(first_wins.first_won_at < meetings.scheduled_at, false) as is_existing_customer,
    {{ touch_columns('touches') }}
from meetings
left join first_wins on first_wins.account_id = meetings.account_id
left join {{ ref('int_meetings_touches_joined') }} as touches
    on touches.meeting_id = meetings.meeting_id
