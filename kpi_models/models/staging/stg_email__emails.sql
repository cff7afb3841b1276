with source as (
    select * from {{ source('email', 'emails') }}
),

renamed as (
    select
        email_id,
        rep_id,
        {{ pseudonymise('contact_id') }} as contact_id,
        account_id,
        sent_at,
        replied_at,
        replied_at is not null as has_reply
    from source
)

select * from renamed
