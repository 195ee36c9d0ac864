{#-
    The raw columns of a source's known-future covariates (config `known_future` entries with a
    `column`), carried as text under `kf__<name>`; fct_item_week_covariates reads them.
-#}
{% macro known_future_columns(src) -%}
    {%- for c in (src or {}).get('known_future', []) if c.get('column') %}
        cast({{ raw_column(c['column']) }} as varchar) as "kf__{{ c['name'] }}",
    {%- endfor %}
{%- endmacro %}
