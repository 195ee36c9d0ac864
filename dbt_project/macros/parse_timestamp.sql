{#-
    A naive UTC timestamp from a text (or typed) timestamp, null when unparseable:
    - `fmt` given: strptime with it; a format holding `%z` / `%Z` reads each value's own offset
      or zone, otherwise the value is read in `tz`;
    - no `fmt`: ISO 8601. A value that ends in an offset (`Z`, `+01:00`, `-0500`, `+01`, after
      the time, a space allowed before it) is read at that offset; any other in `tz`.
    Converted to UTC. Python twin: darkhorse.core.sql.parse_timestamp.
-#}
{% macro parse_timestamp(expr, fmt=none, tz='UTC') -%}
    {%- set text = "cast(" ~ expr ~ " as varchar)" -%}
    {%- if fmt and ('%z' in fmt or '%Z' in fmt) -%}
        timezone('UTC', try_strptime({{ text }}, '{{ fmt | replace("'", "''") }}'))
    {%- else -%}
        {%- if fmt -%}
            {%- set parsed = "try_strptime(" ~ text ~ ", '" ~ (fmt | replace("'", "''")) ~ "')" -%}
        {%- else -%}
            {%- set parsed = "try_cast(" ~ expr ~ " as timestamp)" -%}
        {%- endif -%}
        {%- if tz is not none and tz | upper != 'UTC' -%}
            {%- set parsed = "timezone('UTC', timezone('" ~ tz ~ "', " ~ parsed ~ "))" -%}
        {%- endif -%}
        {%- if fmt -%}
            {{ parsed }}
        {%- else -%}
            case when regexp_matches({{ text }}, '\d:\d\d(:\d\d(\.\d+)?)?\s*(Z|[+-]\d\d(:?\d\d)?)$') then timezone('UTC', try_cast(regexp_replace({{ text }}, '\s+([+-]\d\d:?\d\d|Z)$', '\1') as timestamptz)) else {{ parsed }} end
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
