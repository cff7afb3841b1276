-- The rep directory.
select * from {{ ref('stg_crm__reps') }}
