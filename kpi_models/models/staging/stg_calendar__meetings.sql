with source as (
    select * from {{ source('calendar', 'meetings') }}
),

renamed as (
    select
        meeting_id,
        rep_id,
        account_id,
        {{ pseudonymise('visitor_id') }} as visitor_id,
        source,
        status,
        booked_at,
        scheduled_at,
        status = 'held' as is_held
    from source
)

select * from renamed
