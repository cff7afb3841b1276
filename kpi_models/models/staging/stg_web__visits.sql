{#- A table built incrementally, not a view like the other staging models: hashing and scrubbing
    every visit is the expensive part of the web-visit models, and the visits are read by the
    web_visits mart (a view: each of its readers), both touch models and the tests. Each run hashes only the visits that
    base_web__visit_changes finds new or changed, after deleting the rows it finds replaced or
    gone; a full refresh (new dbt code or a new pseudonym key, pipelines/build_state.py) builds it
    whole. `visitor_key` is the visitor's pseudonym as a number (macros/pseudonymise.sql): the
    touch models, the web_visits mart and the visitor counts join and count on it.
    `_source_file`, `_source_row` and `_loaded_at` say where each visit was read from (its landing
    file, line and load time) and name it for the next run's comparison. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{% if is_incremental() %}delete from {{ this }} where visit_id in (select visit_id from {{ ref('base_web__visit_changes') }} where change = 'removed'){% endif %}"
) }}
-- depends_on: {{ ref('base_web__visit_changes') }}
{%- set manifest = adapter.get_relation(database=this.database, schema='raw', identifier='landing_files') %}

with source as (
    select * from {{ source('web', 'web_visits') }}
    {% if is_incremental() -%}
    where visit_id in (select visit_id from {{ ref('base_web__visit_changes') }} where change = 'added')
    {%- endif %}
),

renamed as (
    select
        source.visit_id,
        {{ pseudonymise('source.visitor_id') }} as visitor_id,
        source.account_id,
        source.channel,
        {{ scrub_contact_details('source.landing_page') }} as landing_page,
        {{ scrub_contact_details('source.campaign') }} as campaign,
        source.visited_at,
        source._source_file,
        source._source_row,
        {% if manifest is not none -%} files.loaded_at {%- else -%} cast(null as {{ dbt.type_timestamp() }}) {%- endif %} as _loaded_at
    from source
    {% if manifest is not none -%}
    left join {{ manifest }} as files
        on files.entity = 'web_visits' and files.source_file = source._source_file
    {%- endif %}
)

select
    visit_id,
    visitor_id,
    {{ pseudonym_number('visitor_id') }} as visitor_key,
    account_id,
    channel,
    landing_page,
    campaign,
    visited_at,
    _source_file,
    _source_row,
    _loaded_at
from renamed
