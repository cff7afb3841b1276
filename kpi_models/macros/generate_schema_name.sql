{#- Use the folder's schema as is (staging, intermediate, marts, kpis) instead of
    prefixing it with the target schema: the layers are the schemas. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
