{#-
    The sum of a double column, independent of the order rows arrive in: each value is taken
    to 9 decimals and added exactly (a plain sum of doubles over parallel threads differs in
    the last bits from one run to the next, and trainers would see different covariates).
    An aggregate, or a window function with `over` (a window name or specification).
-#}
{% macro exact_sum(expr, over=none) -%}
    cast(sum(cast({{ expr }} as decimal(38, 9))){% if over %} over {{ over }}{% endif %} as double)
{%- endmacro %}
