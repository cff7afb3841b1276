{#- Which settled web visits differ from what stg_web__visits was last built from, so that the
    web-visit models (staging, touches, mart) change only those rows instead of hashing and
    joining every visit on every run.

    A raw visit is named by its id, the landing file and line it came from, and when that file was
    loaded (raw.landing_files.loaded_at: a new, changed or re-read file gets a new load time; a
    full reload re-reads every file). `added`: raw visits not in staging under that name (new, or
    a new version of a visit); `removed`: staging rows no longer in raw under their name (replaced
    or gone), with their pseudonymised visitor so the visitor's touches are recomputed.
    A table, taken before stg_web__visits changes; on a full refresh (or a first build) every
    visit is `added`, and the models downstream are built whole anyway.

    raw.landing_files is the loader's manifest, written in the same step as raw.web_visits (it is
    looked up, not declared as a dbt source, so it adds no asset of its own to the lineage). -#}
{{ config(materialized='table') }}
{%- set built = adapter.get_relation(database=this.database, schema=this.schema, identifier='stg_web__visits') %}
{%- set manifest = adapter.get_relation(database=this.database, schema='raw', identifier='landing_files') %}

with delivered as (
    select
        visits.visit_id,
        visits._source_file,
        visits._source_row,
        {% if manifest is not none -%} files.loaded_at {%- else -%} cast(null as {{ dbt.type_timestamp() }}) {%- endif %} as _loaded_at
    from {{ source('web', 'web_visits') }} as visits
    {% if manifest is not none -%}
    left join {{ manifest }} as files
        on files.entity = 'web_visits' and files.source_file = visits._source_file
    {%- endif %}
),

built as (
    {% if built is not none and not flags.FULL_REFRESH -%}
    select visit_id, visitor_id, _source_file, _source_row, _loaded_at from {{ built }}
    {%- else -%}
    select visit_id, cast(null as varchar) as visitor_id, _source_file, _source_row, _loaded_at
    from delivered where false
    {%- endif %}
)

select 'added' as change, delivered.visit_id, cast(null as varchar) as visitor_id
from delivered
where not exists (
    select 1 from built
    where built.visit_id = delivered.visit_id
        and built._source_file = delivered._source_file
        and built._source_row = delivered._source_row
        and built._loaded_at is not distinct from delivered._loaded_at
)

union all

select 'removed' as change, built.visit_id, built.visitor_id
from built
where not exists (
    select 1 from delivered
    where delivered.visit_id = built.visit_id
        and delivered._source_file = built._source_file
        and delivered._source_row = built._source_row
        and delivered._loaded_at is not distinct from built._loaded_at
)
