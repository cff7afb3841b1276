with source as (
    select * from {{ source('telephony', 'calls') }}
),

renamed as (
    select
        call_id,
        rep_id,
        {{ pseudonymise('contact_id') }} as contact_id,
        account_id,
        direction,
        outcome,
        cast(duration_seconds as double) as duration_seconds,
        started_at,
        direction = 'outbound' as is_outbound,
        outcome = 'connected' as is_connected
    from source
)

select * from renamed
