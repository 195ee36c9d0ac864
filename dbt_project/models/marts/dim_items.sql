{#-
    One row per item in the panel. Whole-history attributes: use them to describe items,
    not as model inputs (totals and last dates see the future of any past origin). Where a
    catalogue is configured, its title and brand for the items it lists; the description is the
    item's rows' (order lines), else the catalogue's title; the category is int_item_categories'.
-#}

with

events as (

    select * from {{ ref('int_events_classified') }}
    where quarantine_reason is null

),

panel_items as (

    select
        item_id,
        min(week_start) as first_week,
        max(week_start) filter (where units > 0) as last_active_week,
        count(*) filter (where units > 0) as n_active_weeks,
        count(*) as n_weeks,
        sum(units) as total_units,
        sum(returned_units) as total_returned_units,
        {{ exact_sum('revenue') }} as total_revenue,
    from {{ ref('fct_item_weeks') }}
    group by item_id

),

attributes as (

    select
        item_id,
        any_value(source_name) as source_name,
        any_value(source_kind) as source_kind,
        min(event_at) as first_event_at,
        max(event_at) as last_event_at,
        median(unit_price) filter (where unit_price > 0) as median_unit_price,
        count(distinct customer_id) as n_customers,
        count(distinct region) as n_regions,
        count(distinct variant_id) as n_variants,
    from events
    group by item_id

),

descriptions as (

    {{ most_frequent('events', 'item_id', 'description') }}

),

regions as (

    {{ most_frequent('events', 'item_id', 'region') }}

),

categories as (

    select * from {{ ref('int_item_categories') }}

),

listings as (

    select * from {{ ref('int_item_listings') }}

),

final as (

    select
        panel_items.item_id,
        attributes.source_name,
        attributes.source_kind,
        coalesce(descriptions.description, listings.title) as description,
        listings.title,
        categories.category,
        listings.brand,
        attributes.first_event_at,
        attributes.last_event_at,
        panel_items.first_week,
        -- when the item's first week closes: its static attributes are known from then on
        timezone('UTC', cast(panel_items.first_week + interval 7 day as timestamp)) as first_available_at,
        panel_items.last_active_week,
        panel_items.n_weeks,
        panel_items.n_active_weeks,
        panel_items.total_units,
        panel_items.total_returned_units,
        panel_items.total_revenue,
        attributes.median_unit_price,
        attributes.n_customers,
        attributes.n_regions,
        regions.region as primary_region,
        attributes.n_variants,
    from panel_items
    inner join attributes on panel_items.item_id = attributes.item_id
    left join descriptions on panel_items.item_id = descriptions.item_id
    left join regions on panel_items.item_id = regions.item_id
    left join categories on panel_items.item_id = categories.item_id
    left join listings on panel_items.item_id = listings.item_id

)

select * from final
