{#- First day (a date) of the week holding a timestamp or date; weeks start on var('week_start'). -#}
{% macro week_start(expr) -%}
    {%- set days = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'] -%}
    {%- set start = var('week_start') | lower -%}
    {%- if start not in days -%}
        {{ exceptions.raise_compiler_error("var week_start must be one of " ~ days ~ ", got '" ~ start ~ "'") }}
    {%- endif -%}
    {%- set offset = days.index(start) -%}
    {%- if offset == 0 -%}
        cast(date_trunc('week', cast({{ expr }} as timestamp)) as date)
    {%- else -%}
        cast(date_trunc('week', cast({{ expr }} as timestamp) - interval {{ offset }} day) + interval {{ offset }} day as date)
    {%- endif -%}
{%- endmacro %}
