{#-
    Post-hook of the marts exported to Parquet (materialized external). For a model without
    rows, dbt-duckdb writes one all-NULL row into the file (its own view over the file filters
    it out, but Feast, the gate and every other reader of the file would see it); write that
    file again with the model's columns and no row. A model with rows is left as written.
-#}
{% macro export_empty_without_null_row() -%}
    {%- if execute -%}
        {%- set n_rows = run_query('select count(*) from ' ~ this)[0][0] -%}
        {%- if n_rows == 0 -%}
            {%- set location = config.get('location', default=external_location(this, config)) -%}
            {%- set columns_only = this.identifier ~ '__columns_only' -%}
            {%- do run_query('create or replace temp table ' ~ columns_only ~ ' as select * from ' ~ this ~ ' limit 0') -%}
            {%- do run_query("copy " ~ columns_only ~ " to '" ~ location ~ "' (format parquet)") -%}
            {%- do run_query('drop table ' ~ columns_only) -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
