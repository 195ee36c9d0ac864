{#-
    One row per `key` with the most frequent non-null `column` of `relation` (ties: the
    smallest value, so that the result does not depend on the order rows arrive in, unlike
    DuckDB's `mode`).
-#}
{% macro most_frequent(relation, key, column) -%}
    select {{ key }}, first({{ column }} order by n_rows desc, {{ column }}) as {{ column }},
    from (
        select {{ key }}, {{ column }}, count(*) as n_rows,
        from {{ relation }}
        where {{ column }} is not null
        group by {{ key }}, {{ column }}
    )
    group by {{ key }}
{%- endmacro %}
