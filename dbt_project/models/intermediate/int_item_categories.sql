{#-
    One row per item with a known category. The catalogue names the category of the items it
    lists with one; for the others, where an order-lines or sales source declares a `category`
    column, the category its rows name most often (ties: the smallest). No rows where neither
    names one.
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

from_rows as (

    {{ most_frequent('named', 'item_id', 'category') }}

),

from_catalog as (

    select item_id, category, from {{ ref('int_item_listings') }}
    where category is not null

),

final as (

    select item_id, category, from from_catalog
    union all
    select item_id, category, from from_rows
    where item_id not in (select item_id from from_catalog)

)

select * from final
