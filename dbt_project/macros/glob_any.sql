{#- True when `expr` matches any of the glob patterns (an exact code is a pattern too). -#}
{% macro glob_any(expr, patterns) -%}
    {%- if not patterns -%}
        false
    {%- else -%}
        ({%- for p in patterns -%}{{ expr }} glob '{{ p | replace("'", "''") }}'{{ " or " if not loop.last }}{%- endfor -%})
    {%- endif -%}
{%- endmacro %}
