{#-
    The date of a wide sales table's period (darkhorse.core.wide; darkhorse.core.sql builds the
    same SQL): the last number of the cell's column name `period_column` counts periods of
    `step` days from `first_number` (macro `wide_cells`), which is dated `wide.first_date`.
-#}
{% macro wide_period_date(wide, step) -%}
    (date '{{ wide['first_date'] }}' + cast({{ step }} * (try_cast(regexp_extract(period_column, '{{ wide['number_pattern'] }}', 1) as bigint) - first_number) as integer))
{%- endmacro %}
