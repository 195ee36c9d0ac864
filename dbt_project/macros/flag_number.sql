{#-
    A known-future cell (text) as a number: a number as itself; true/false, yes/no, y/n (any case,
    blanks trimmed) as 1/0; anything else null. Python twin: darkhorse.core.sql.flag_number.
-#}
{% macro flag_number(expr) -%}
    coalesce(try_cast({{ expr }} as double), case lower(trim({{ expr }})) when 'true' then 1.0 when 'yes' then 1.0 when 'y' then 1.0 when 'false' then 0.0 when 'no' then 0.0 when 'n' then 0.0 end)
{%- endmacro %}
