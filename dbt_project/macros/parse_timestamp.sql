{#-
    A naive UTC timestamp from a text (or typed) timestamp: strptime with `fmt` when given,
    otherwise ISO 8601; interpreted in `tz` and converted to UTC. Null when unparseable.
-#}
{% macro parse_timestamp(expr, fmt=none, tz='UTC') -%}
    {%- if fmt -%}
        {%- set parsed = "try_strptime(cast(" ~ expr ~ " as varchar), '" ~ (fmt | replace("'", "''")) ~ "')" -%}
    {%- else -%}
        {%- set parsed = "try_cast(" ~ expr ~ " as timestamp)" -%}
    {%- endif -%}
    {%- if tz is none or tz | upper == 'UTC' -%}
        {{ parsed }}
    {%- else -%}
        timezone('UTC', timezone('{{ tz }}', {{ parsed }}))
    {%- endif -%}
{%- endmacro %}
