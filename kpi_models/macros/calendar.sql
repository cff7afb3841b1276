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
    as_of_date to every row of a relation with grain and period_start.
    Counted with equi-joins on dates: working days in [a, b) = before(b) - before(a), where
    before(d) is the number of working days in the calendar strictly before d (0 before the
    calendar's first day, all of them after its last), so no inequality join of rows × calendar. -#}
{% macro with_working_days(relation, as_of_sql) -%}
    {%- set period_end_sql = period_end('r.grain', 'r.period_start') -%}
    {%- set elapsed_end_sql = 'least(' ~ period_end_sql ~ ', cast(a.as_of_date + 1 as date))' -%}
    select
        r.*,
        cast({{ working_days_before('pe', period_end_sql) }}
            - {{ working_days_before('ps', 'r.period_start') }} as bigint) as working_days,
        cast(case when a.as_of_date is null then 0 else greatest(0,
            {{ working_days_before('ae', elapsed_end_sql) }} - {{ working_days_before('ps', 'r.period_start') }})
        end as bigint) as working_days_elapsed,
        a.as_of_date
    from {{ relation }} as r
    cross join (select {{ as_of_sql }} as as_of_date) as a
    cross join (
        select min(calendar_date) as first_day, count(*) filter (where is_working_day) as total
        from {{ ref('working_days') }}
    ) as cal
    left join ({{ working_days_before_table() }}) as ps on ps.calendar_date = r.period_start
    left join ({{ working_days_before_table() }}) as pe on pe.calendar_date = {{ period_end_sql }}
    left join ({{ working_days_before_table() }}) as ae on ae.calendar_date = {{ elapsed_end_sql }}
{%- endmacro %}

{#- Every calendar day with the number of working days strictly before it (column `n_before`). -#}
{% macro working_days_before_table() -%}
    select calendar_date,
        cast(coalesce(sum(case when is_working_day then 1 else 0 end) over (
            order by calendar_date rows between unbounded preceding and 1 preceding), 0) as bigint) as n_before
    from {{ ref('working_days') }}
{%- endmacro %}

{#- before(day) from a join to working_days_before_table() aliased `alias`; days outside the
    calendar: 0 before its first day, every working day after its last. -#}
{% macro working_days_before(alias, day_sql) -%}
    coalesce({{ alias }}.n_before, case when {{ day_sql }} <= cal.first_day then 0 else cal.total end)
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
    in the period (so a target change mid-month weighs by the days it was in force).
    The period's days are found by an equi-join on (grain, period start) with every working day
    at every grain (working_days_by_period), not by a range join of rows × calendar. -#}
{% macro target_over_working_days(row, kpi) -%}
    (select avg({{ target_on(kpi, row, 'c.calendar_date') }})
     from ({{ working_days_by_period() }}) as c
     where c.grain = {{ row }}.grain and c.period_start = {{ row }}.period_start
       and c.calendar_date <= {{ row }}.as_of_date)
{%- endmacro %}

{#- Every working day once per grain, with the start of its period at that grain. -#}
{% macro working_days_by_period() -%}
    {%- set grains = ['day', 'week', 'month', 'quarter', 'year'] -%}
    {%- for grain in grains %}
    {% if not loop.first %}union all {% endif -%}
    select calendar_date, '{{ grain }}' as grain, {{ period_start(grain, 'calendar_date') }} as period_start
    from {{ ref('working_days') }} where is_working_day
    {%- endfor %}
{%- endmacro %}

{#- Totals per period (counts, sums): the target for the row's grain in force on its first day. -#}
{% macro target_for_period(row, kpi) -%}
    {{ target_on(kpi, row, row ~ '.period_start', row ~ '.grain') }}
{%- endmacro %}
