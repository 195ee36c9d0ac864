{#- True when a timestamp lies outside [var valid_from, var valid_until). -#}
{% macro outside_valid_window(expr) -%}
    ({{ expr }} < cast('{{ var("valid_from") }}' as timestamp)
        or {{ expr }} >= cast('{{ var("valid_until") }}' as timestamp))
{%- endmacro %}
