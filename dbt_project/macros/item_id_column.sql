{#-
    The item id of a tabular row from the source's item column(s) (config `columns.item_id`):
    one column trimmed, blank as null; several (store x department) joined with `separator`,
    null if any is. Used by the sources' staging models and their plans (int_known_future_plans).
-#}
{% macro item_id_column(item_cols, separator='_') -%}
    {%- set item_cols = [item_cols] if item_cols is string or item_cols is none else item_cols -%}
    {%- if item_cols | length == 1 -%}
        nullif(trim(cast({{ raw_column(item_cols[0]) }} as varchar)), '')
    {%- else -%}
        case when {% for c in item_cols %}{{ raw_column(c) }} is not null{{ " and " if not loop.last }}{% endfor %}
            then concat_ws('{{ separator }}', {% for c in item_cols %}trim(cast({{ raw_column(c) }} as varchar)){{ ", " if not loop.last }}{% endfor %})
        end
    {%- endif -%}
{%- endmacro %}
