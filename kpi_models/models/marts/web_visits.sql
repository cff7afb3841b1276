-- One row per web visit, with the visitor's first touch; a visit is its own last touch.
-- What KPI definitions select from. Built incrementally: each run replaces the rows of the
-- visitors whose visits changed (int_web_visitors_changed; a new early visit changes the first
-- touch of every visit of its visitor) and of the visits removed. Visitors are joined and
-- counted by `visitor_key`, their pseudonym as a number (macros/pseudonymise.sql): at SF 10 the
-- join on the 37-character text took 128 s, on the number 72 s.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{% if is_incremental() %}delete from {{ this }} where visitor_key in (select visitor_key from {{ ref('int_web_visitors_changed') }}) or visit_id in (select visit_id from {{ ref('base_web__visit_changes') }}){% endif %}"
) }}
-- depends_on: {{ ref('int_web_visitors_changed') }}
-- depends_on: {{ ref('base_web__visit_changes') }}
with visits as (
    select * from {{ ref('stg_web__visits') }}
    {% if is_incremental() -%}
    where visitor_key in (select visitor_key from {{ ref('int_web_visitors_changed') }})
        or visit_id in (select visit_id from {{ ref('base_web__visit_changes') }} where change = 'added')
    {%- endif %}
)

select
    visits.visit_id,
    visits.visitor_id,
    visits.visitor_key,
    visits.account_id,
    visits.channel,
    visits.landing_page,
    visits.campaign,
    visits.visited_at,
    touches.first_touch_channel,
    touches.first_touch_landing_page,
    visits.channel as last_touch_channel,
    visits.landing_page as last_touch_landing_page
from visits
left join {{ ref('int_visitors_touches_aggregated') }} as touches
    on touches.visitor_key = visits.visitor_key
