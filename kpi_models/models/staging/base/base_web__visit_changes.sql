{#- Which settled web visits differ from what stg_web__visits was last built from, so that the
    web-visit models (staging, touches, mart) change only those rows instead of hashing and
    joining every visit on every run.

    The loader is the only writer of raw.web_visits, and it changes it file by file: a new, changed
    or re-read landing file gets a new load time in its manifest (raw.landing_files.loaded_at), a
    removed file leaves it. Staging keeps each visit's file and load time, so:
    - `added`: the raw visits of every load staging has not seen, and the raw visits whose staging
      row came from a load that is gone (a removed or re-read file: an earlier delivery of the
      visit may be its winner again);
    - `removed`: the staging rows of the loads that are gone, and the staging rows of the visits
      added (replaced by a newer delivery), with their pseudonymised visitor so that visitor's
      touches are recomputed.
    Comparing whole loads costs a scan of two columns instead of a join of every visit.
    A table, taken before stg_web__visits changes. On a full refresh nothing is listed (every
    web-visit model is built whole); if staging is missing, every visit is `added`.

    raw.landing_files is written in the same step as raw.web_visits (it is looked up, not declared
    as a dbt source, so it adds no asset of its own to the lineage). -#}
{{ config(materialized='table') }}
{%- set built = adapter.get_relation(database=this.database, schema=this.schema, identifier='stg_web__visits') %}
{%- set manifest = adapter.get_relation(database=this.database, schema='raw', identifier='landing_files') %}

{% if flags.FULL_REFRESH or manifest is none -%}

select
    cast(null as varchar) as change, cast(null as varchar) as visit_id,
    cast(null as varchar) as visitor_id
where false

{%- elif built is none -%}

select 'added' as change, visit_id, cast(null as varchar) as visitor_id
from {{ source('web', 'web_visits') }}

{%- else -%}

with loads as (
    select source_file, loaded_at from {{ manifest }} where entity = 'web_visits'
),

built_loads as (
    select distinct _source_file as source_file, _loaded_at as loaded_at from {{ built }}
),

new_loads as (
    select source_file, loaded_at from loads
    except
    select source_file, loaded_at from built_loads
),

gone_loads as (
    select source_file, loaded_at from built_loads
    except
    select source_file, loaded_at from loads
),

gone as (
    select built.visit_id, built.visitor_id
    from {{ built }} as built
    inner join gone_loads
        on gone_loads.source_file = built._source_file and gone_loads.loaded_at = built._loaded_at
),

added as (
    select visit_id from {{ source('web', 'web_visits') }}
    where _source_file in (select source_file from new_loads)
        or visit_id in (select visit_id from gone)
)

select 'added' as change, visit_id, cast(null as varchar) as visitor_id from added

union all

select 'removed' as change, built.visit_id, built.visitor_id
from {{ built }} as built
where built.visit_id in (select visit_id from added)
    or built.visit_id in (select visit_id from gone)

{%- endif %}
