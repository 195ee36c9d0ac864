{#-
    One row per item the catalogue lists (its kept listing: title, category, brand, descriptive
    text); no rows where no catalogue is configured, so that the models describing items read
    one relation either way.
-#}

with

listings as (

    select
        cast(null as varchar) as item_id,
        cast(null as varchar) as title,
        cast(null as varchar) as category,
        cast(null as varchar) as brand,
        cast(null as varchar) as item_text,
    where false
    {%- if raw_source('catalog') is not none %}
    union all
    select item_id, title, category, brand, item_text,
    from {{ ref('int_catalog_classified') }}
    where quarantine_reason is null
    {%- endif %}

)

select * from listings
