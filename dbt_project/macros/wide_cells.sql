{#-
    The cells of a wide table (darkhorse.core.wide; darkhorse.core.sql builds the same SQL) as
    rows: the columns that are not periods, `period_column` (the column's name), `cell` (its
    text) and `first_number` (the smallest last number of the period columns' names, read from
    the header, so a period column blank throughout still counts). A blank cell is no row, as
    in the table melted to the long layout; a zero is a row of 0.
-#}
{% macro wide_cells(relation, wide) -%}
    {%- set regex = "'" ~ (wide['regex'] | replace("'", "''")) ~ "'" -%}
    {%- set number = "try_cast(regexp_extract(column_name, '" ~ wide['number_pattern'] ~ "', 1) as bigint)" -%}
    select * from (unpivot (select columns(c -> not regexp_full_match(c, {{ regex }})), columns(c -> regexp_full_match(c, {{ regex }}))::varchar from {{ relation }}) on columns(c -> regexp_full_match(c, {{ regex }})) into name period_column value cell) cross join (select min({{ number }}) as first_number from (describe {{ relation }}) where regexp_full_match(column_name, {{ regex }})) where trim(cell) <> ''
{%- endmacro %}
