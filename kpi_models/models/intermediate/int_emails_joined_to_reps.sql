{#- Every email with its rep's team, region and name. A rep_id missing from reps is kept:
    it counts for its rep and, under team and region, as `(unassigned)`. -#}
with emails as (
    select * from {{ ref('stg_email__emails') }}
),

reps as (
    select * from {{ ref('stg_crm__reps') }}
)

select
    emails.*,
    coalesce(reps.team, '(unassigned)') as team,
    coalesce(reps.region, '(unassigned)') as region,
    reps.rep_name,
    reps.rep_id is null as is_orphaned_rep
from emails
left join reps on emails.rep_id = reps.rep_id
