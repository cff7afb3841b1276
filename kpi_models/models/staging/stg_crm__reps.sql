with source as (
    select * from {{ source('crm', 'reps') }}
),

renamed as (
    select
        rep_id,
        rep_name,
        team,
        region,
        hired_on,
        left_on,
        left_on is not null as has_left
    from source
)

select * from renamed
