{#-
    The date of a wide sales table's period (darkhorse.core.wide; darkhorse.core.sql builds the
    same SQL): the last number of the cell's column name `period_column` counts periods of
    `wide.step_days` days from `first_number` (macro `wide_cells`), which is dated `wide.first_date`.
-#}
{% macro wide_period_date(wide) -%}
    (date '{{ wide['first_date'] }}' + cast({{ wide['step_days'] }} * (try_cast(regexp_extract(period_column, '{{ wide['number_pattern'] }}', 1) as bigint) - first_number) as integer))
{%- endmacro %}
