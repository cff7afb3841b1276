{#- Every call with its rep's team, region and name. A rep_id missing from reps is kept:
    it counts for its rep and, under team and region, as `(unassigned)`. -#}
with calls as (
    select * from {{ ref('stg_telephony__calls') }}
),

reps as (
    select * from {{ ref('stg_crm__reps') }}
)

select
    calls.*,
    coalesce(reps.team, '(unassigned)') as team,
    coalesce(reps.region, '(unassigned)') as region,
    reps.rep_name,
    reps.rep_id is null as is_orphaned_rep
from calls
left join reps on calls.rep_id = reps.rep_id
