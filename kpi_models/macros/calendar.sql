{#- One row per calendar day from start to end (inclusive), column `calendar_date`. -#}
{% macro date_series(start_date, end_date) -%}
    {{ return(adapter.dispatch('date_series', 'funnel_kpi')(start_date, end_date)) }}
{%- endmacro %}

{% macro default__date_series(start_date, end_date) -%}
    select cast(d as date) as calendar_date
    from generate_series(cast('{{ start_date }}' as date), cast('{{ end_date }}' as date), interval 1 day) as t(d)
{%- endmacro %}

{#- ISO day of week: Monday = 1 … Sunday = 7. -#}
{% macro iso_weekday(date_column) -%}
    {{ return(adapter.dispatch('iso_weekday', 'funnel_kpi')(date_column)) }}
{%- endmacro %}

{% macro default__iso_weekday(date_column) -%}
    isodow({{ date_column }})
{%- endmacro %}

{#- The day after the last day of a period, from its grain and first day. -#}
{% macro period_end(grain_column, start_column) -%}
    case {{ grain_column }}
        when 'day' then cast({{ dbt.dateadd('day', 1, start_column) }} as date)
        when 'week' then cast({{ dbt.dateadd('day', 7, start_column) }} as date)
        when 'month' then cast({{ dbt.dateadd('month', 1, start_column) }} as date)
        when 'quarter' then cast({{ dbt.dateadd('month', 3, start_column) }} as date)
        else cast({{ dbt.dateadd('year', 1, start_column) }} as date)
    end
{%- endmacro %}

{#- Add working_days (in the period), working_days_elapsed (up to the as-of date) and
    as_of_date to every row of a relation with grain and period_start. -#}
{% macro with_working_days(relation, as_of_sql) -%}
    select
        r.*,
        (select count(*) from {{ ref('working_days') }} as c
         where c.is_working_day and c.calendar_date >= r.period_start
           and c.calendar_date < {{ period_end('r.grain', 'r.period_start') }}) as working_days,
        (select count(*) from {{ ref('working_days') }} as c
         where c.is_working_day and c.calendar_date >= r.period_start
           and c.calendar_date < {{ period_end('r.grain', 'r.period_start') }}
           and c.calendar_date <= a.as_of_date) as working_days_elapsed,
        a.as_of_date
    from {{ relation }} as r
    cross join (select {{ as_of_sql }} as as_of_date) as a
{%- endmacro %}

{#- The target in force for a KPI row on a day: the most specific (rep, then team, then
    everyone) and, among those, the latest effective_from on or before the day. -#}
{% macro target_on(kpi, row, day_sql, grain_sql='null') -%}
    (select t.target
     from {{ ref('kpi_targets') }} as t
     left join {{ ref('reps') }} as rp on rp.rep_id = {{ row }}.member and {{ row }}.dimension = 'rep'
     where t.kpi = '{{ kpi }}'
       and {% if grain_sql == 'null' %}t.grain is null{% else %}t.grain = {{ grain_sql }}{% endif %}
       and t.effective_from <= {{ day_sql }}
       and (
            ({{ row }}.dimension = 'rep' and (t.rep_id = {{ row }}.member
                or (t.rep_id is null and (t.team is null or t.team = rp.team))))
         or ({{ row }}.dimension = 'team' and t.rep_id is null
                and (t.team is null or t.team = {{ row }}.member))
         or ({{ row }}.dimension not in ('rep', 'team') and t.rep_id is null and t.team is null)
       )
     order by case when t.rep_id is not null then 2 when t.team is not null then 1 else 0 end desc,
              t.effective_from desc
     limit 1)
{%- endmacro %}

{#- Rates and per-working-day KPIs: the daily target averaged over the working days elapsed
    in the period (so a target change mid-month weighs by the days it was in force). -#}
{% macro target_over_working_days(row, kpi) -%}
    (select avg({{ target_on(kpi, row, 'c.calendar_date') }})
     from {{ ref('working_days') }} as c
     where c.is_working_day and c.calendar_date >= {{ row }}.period_start
       and c.calendar_date < {{ period_end(row ~ '.grain', row ~ '.period_start') }}
       and c.calendar_date <= {{ row }}.as_of_date)
{%- endmacro %}

{#- Totals per period (counts, sums): the target for the row's grain in force on its first day. -#}
{% macro target_for_period(row, kpi) -%}
    {{ target_on(kpi, row, row ~ '.period_start', row ~ '.grain') }}
{%- endmacro %}
