with source as (
    select * from {{ source('web', 'web_visits') }}
),

renamed as (
    select
        visit_id,
        visitor_id,
        account_id,
        channel,
        landing_page,
        campaign,
        visited_at
    from source
)

select * from renamed
