{#-
    One row per purchase line of a known customer (complete weeks only), in the order the
    customer bought: `order_index` numbers the customer's orders (1 = first), `line_index` the
    lines. A line becomes known when its week closes (`available_at`); a sequence model
    trained at an origin reads the lines with available_at at or before it.
-#}

with

events as (

    select * from {{ ref('int_sale_events_windowed') }}
    where customer_id is not null and is_purchase

),

final as (

    select
        customer_id,
        region,
        order_key,
        item_id,
        event_at,
        week_start,
        timezone('UTC', cast(week_start + interval 7 day as timestamp)) as available_at,
        quantity,
        case when is_price_invalid then null else unit_price end as unit_price,
        revenue,
        cast(dense_rank() over (partition by customer_id order by event_ts, order_key) as integer) as order_index,
        cast(row_number() over (partition by customer_id order by event_ts, order_key, item_id, quantity, revenue) as integer) as line_index,
    from events

)

select * from final
