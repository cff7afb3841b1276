with source as (
    select * from {{ source('crm', 'opportunities') }}
),

renamed as (
    select
        opportunity_id,
        rep_id,
        account_id,
        meeting_id,
        source,
        status,
        cast(amount as double) as amount,
        currency,
        created_at,
        closed_at,
        updated_at,
        status = 'won' as is_won,
        status in ('won', 'lost') as is_closed
    from source
)

select * from renamed
