{#-
    One row per customer per week with at least one event of the customer (complete weeks
    only): orders, units, revenue, returns and the items bought for the first time.
-#}

with

events as (

    select * from {{ ref('int_sale_events_windowed') }}
    where customer_id is not null

),

first_purchases as (

    -- the week each customer first bought each item
    select
        customer_id,
        item_id,
        min(week_start) as week_start,
    from events
    where is_purchase
    group by customer_id, item_id

),

new_items as (

    select
        customer_id,
        week_start,
        count(*) as new_items,
    from first_purchases
    group by customer_id, week_start

),

aggregated as (

    select
        customer_id,
        week_start,
        count(distinct order_key) filter (where is_purchase) as orders,
        count(*) filter (where is_purchase) as lines,
        coalesce(sum(quantity) filter (where is_purchase), 0) as units,
        {{ exact_sum('case when is_purchase then revenue else 0 end') }} as revenue,
        {{ exact_sum('case when is_purchase then 0 else revenue end') }} as returned_revenue,
        max(event_at) filter (where is_purchase) as last_purchase_at,
        arg_min(region, event_ts) filter (where is_purchase and region is not null) as first_region,
    from events
    group by customer_id, week_start

),

final as (

    select
        aggregated.*,
        coalesce(new_items.new_items, 0) as new_items,
    from aggregated
    left join new_items
        on aggregated.customer_id = new_items.customer_id
        and aggregated.week_start = new_items.week_start

)

select * from final
