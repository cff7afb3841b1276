{#- Every opportunitie with its rep's team, region and name. A rep_id missing from reps is kept:
    it counts for its rep and, under team and region, as `(unassigned)`. -#}
with opportunities as (
    select * from {{ ref('stg_crm__opportunities') }}
),

reps as (
    select * from {{ ref('stg_crm__reps') }}
)

select
    opportunities.*,
    coalesce(reps.team, '(unassigned)') as team,
    coalesce(reps.region, '(unassigned)') as region,
    reps.rep_name,
    reps.rep_id is null as is_orphaned_rep
from opportunities
left join reps on opportunities.rep_id = reps.rep_id
