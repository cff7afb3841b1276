{#- Local calendar date of a timestamp with time zone, in the reporting time zone.
    Dispatched so the KPI models can move to another engine by adding an implementation. -#}
{% macro to_reporting_date(column, time_zone) -%}
    {{ return(adapter.dispatch('to_reporting_date', 'funnel_kpi')(column, time_zone)) }}
{%- endmacro %}

{% macro default__to_reporting_date(column, time_zone) -%}
    cast(convert_timezone('{{ time_zone }}', {{ column }}) as date)
{%- endmacro %}

{% macro duckdb__to_reporting_date(column, time_zone) -%}
    cast(timezone('{{ time_zone }}', {{ column }}) as date)
{%- endmacro %}

{#- First day of the period of a date at a grain (day, week = ISO Monday, month, quarter, year). -#}
{% macro period_start(grain, date_column) -%}
    {%- if grain == 'day' -%}{{ date_column }}
    {%- else -%}cast({{ dbt.date_trunc(grain, date_column) }} as date)
    {%- endif -%}
{%- endmacro %}
