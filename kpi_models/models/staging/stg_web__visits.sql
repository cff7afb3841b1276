with source as (
    select * from {{ source('web', 'web_visits') }}
),

renamed as (
    select
        visit_id,
        {{ pseudonymise('visitor_id') }} as visitor_id,
        account_id,
        channel,
        {{ scrub_contact_details('landing_page') }} as landing_page,
        {{ scrub_contact_details('campaign') }} as campaign,
        visited_at
    from source
)

select * from renamed
