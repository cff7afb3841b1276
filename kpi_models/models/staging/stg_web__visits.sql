{#- A table, not a view like the other staging models: hashing and scrubbing 5 M visits is the
    expensive part, and the visits are read by the web_visits mart, both touch models and the
    tests; as a view each of those reads would hash and scrub them again. -#}
{{ config(materialized='table') }}

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
