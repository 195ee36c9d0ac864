{#-
    A CSV number's text in the form DuckDB casts (`1234.5`), by the source's `decimal` and
    `thousands` separators: the grouping character dropped, then a decimal comma made a point.
    With a decimal comma a point left in the text (`1.500` where no grouping is declared) makes
    the value unparseable rather than a number a thousand times smaller. The text unchanged for
    the default (`decimal: "."`, no grouping). Python twin: darkhorse.core.sql.number_text.
-#}
{% macro number_text(expr, decimal='.', thousands=none) -%}
    {%- if decimal == '.' and not thousands -%}
        {{ expr }}
    {%- else -%}
        {%- set text = "trim(cast(" ~ expr ~ " as varchar))" -%}
        {%- if thousands -%}
            {%- set text = "replace(" ~ text ~ ", '" ~ (thousands | replace("'", "''")) ~ "', '')" -%}
        {%- endif -%}
        {%- if decimal == ',' -%}
            {%- set text = "replace(replace(" ~ text ~ ", '.', '#'), ',', '.')" -%}
        {%- endif -%}
        {{ text }}
    {%- endif -%}
{%- endmacro %}
