{#-
    One row per item whose source declares a `category` column: the category its rows name
    most often (ties: the smallest). No rows where no source declares one.
-#}
{%- set parts = [] -%}
{%- for kind, model in [('order_lines', 'stg_order_lines__lines'), ('sales', 'stg_sales__sales')] -%}
    {%- set src = raw_source(kind) -%}
    {%- if src is not none and src.get('columns', {}).get('category') %}{% do parts.append(model) %}{% endif -%}
{%- endfor %}

with

named as (

    select
        cast(null as varchar) as item_id,
        cast(null as varchar) as category,
    where false
    {%- for part in parts %}
    union all
    select item_id, category, from {{ ref(part) }}
    where item_id is not null
    {%- endfor %}

),

final as (

    {{ most_frequent('named', 'item_id', 'category') }}

)

select * from final
