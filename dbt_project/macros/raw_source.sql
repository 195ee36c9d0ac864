{#-
    The config entry of a raw source kind (from var raw_sources), or none when not configured.
    Raw sources come from darkhorse.yaml through vars rather than a static `sources:` block:
    their paths, formats and column names are the user's, and each format needs its own reader.
-#}
{% macro raw_source(kind) -%}
    {%- do return(var('raw_sources', {}).get(kind)) -%}
{%- endmacro %}
