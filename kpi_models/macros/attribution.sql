{#- Attribution columns; `(none)` when an event has no web touch, so it still has a member. -#}
{% macro touch_columns(alias) -%}
    coalesce({{ alias }}.first_touch_channel, '(none)') as first_touch_channel,
    coalesce({{ alias }}.first_touch_landing_page, '(none)') as first_touch_landing_page,
    coalesce({{ alias }}.last_touch_channel, '(none)') as last_touch_channel,
    coalesce({{ alias }}.last_touch_landing_page, '(none)') as last_touch_landing_page
{%- endmacro %}
