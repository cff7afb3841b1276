{#- Every meeting with its rep's team, region and name. A rep_id missing from reps is kept:
    it counts for its rep and, under team and region, as `(unassigned)`. -#}
with meetings as (
    select * from {{ ref('stg_calendar__meetings') }}
),

reps as (
    select * from {{ ref('stg_crm__reps') }}
)

select
    meetings.*,
    coalesce(reps.team, '(unassigned)') as team,
    coalesce(reps.region, '(unassigned)') as region,
    reps.rep_name,
    reps.rep_id is null as is_orphaned_rep
from meetings
left join reps on meetings.rep_id = reps.rep_id
