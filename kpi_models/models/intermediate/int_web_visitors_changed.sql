{#- Visitors whose visits changed in this build (base_web__visit_changes): their touches and
    their rows of the web_visits mart are recomputed; every other visitor's rows stay as they
    are. A visit's visitor is the one it had when it was removed, and the one it has now when it
    was added (a correction can move a visit to another visitor: both change). Each visitor is
    named by `visitor_key`, their pseudonym as a number (macros/pseudonymise.sql). -#}
{{ config(materialized='table') }}

with changes as (
    select change, visit_id, visitor_id from {{ ref('base_web__visit_changes') }}
)

select {{ pseudonym_number('visitor_id') }} as visitor_key from changes
where change = 'removed' and visitor_id is not null
union
select visits.visitor_key
from {{ ref('stg_web__visits') }} as visits
inner join changes on changes.visit_id = visits.visit_id and changes.change = 'added'
where visits.visitor_key is not null
