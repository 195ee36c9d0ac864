{#- A UTC timestamp from an epoch number in s, ms or us; null when not a number or out of range. -#}
{% macro epoch_to_timestamp(expr, unit='ms') -%}
    {%- set factor = {'s': 1000000, 'ms': 1000, 'us': 1}[unit] -%}
    try(make_timestamp(cast(try_cast({{ expr }} as double) * {{ factor }} as bigint)))
{%- endmacro %}
