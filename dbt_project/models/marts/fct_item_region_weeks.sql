{#-
    One row per item per region per week (dense, from the pair's first week with a sale to
    the dataset's last complete week): units, revenue, distinct customers and the share of
    them buying for the first time from the shop (any item), and the item's category where a
    source declares one. Sources without a region column give no rows. Stamped with the
    week's close (`available_at`).
-#}
{%- set lookback = var('lookback_weeks') | int -%}

with

events as (

    select * from {{ ref('int_sale_events_windowed') }}
    where region is not null and is_purchase

),

calendar as (

    select * from {{ ref('int_dataset_calendar') }}

),

categories as (

    select * from {{ ref('int_item_categories') }}

),

customer_firsts as (

    select
        customer_id,
        min(week_start) as first_week,
    from {{ ref('int_sale_events_windowed') }}
    where customer_id is not null and is_purchase
    group by customer_id

),

aggregated as (

    select
        events.item_id,
        events.region,
        events.week_start,
        sum(events.quantity) as units,
        {{ exact_sum('events.revenue') }} as revenue,
        count(*) as n_events,
        count(distinct events.customer_id) as customers,
        count(distinct events.customer_id) filter (where customer_firsts.first_week = events.week_start) as new_customers,
    from events
    left join customer_firsts
        on events.customer_id = customer_firsts.customer_id
    group by events.item_id, events.region, events.week_start

),

spine as (

    select
        pairs.item_id,
        pairs.region,
        cast(unnest(generate_series(
            cast(pairs.first_week as timestamp),
            cast(calendar.last_complete_week as timestamp),
            interval 7 day
        )) as date) as week_start,
    from (
        select item_id, region, min(week_start) as first_week,
        from aggregated
        group by item_id, region
    ) as pairs
    cross join calendar

),

filled as (

    select
        spine.item_id,
        spine.region,
        spine.week_start,
        coalesce(aggregated.units, 0) as units,
        coalesce(aggregated.revenue, 0) as revenue,
        coalesce(aggregated.n_events, 0) as n_events,
        coalesce(aggregated.customers, 0) as customers,
        coalesce(aggregated.new_customers, 0) as new_customers,
    from spine
    left join aggregated
        on spine.item_id = aggregated.item_id
        and spine.region = aggregated.region
        and spine.week_start = aggregated.week_start

),

final as (

    select
        filled.item_id,
        filled.region,
        categories.category,
        filled.week_start,
        timezone('UTC', cast(week_start + interval 7 day as timestamp)) as available_at,
        units,
        revenue,
        n_events,
        customers,
        new_customers,
        {{ safe_divide('new_customers', 'customers') }} as new_customer_share,
        sum(units) over past_lookback as units_lookback_sum,
        sum(customers) over past_lookback as customers_lookback_sum,
    from filled
    left join categories
        on filled.item_id = categories.item_id
    window past_lookback as (partition by filled.item_id, filled.region order by filled.week_start rows between {{ lookback - 1 }} preceding and current row)

)

select * from final
