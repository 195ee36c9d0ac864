{#-
    Kept sales and returns inside the dataset's complete weeks, with the customer and region
    columns the customer and region marts read (null where a source has none). Reviews are not
    purchases (a reviewer is not a buyer, and review sources have millions of reviewers): they
    are left out. `order_key` is the invoice, or the event's timestamp where a source has none.
-#}

with

events as (

    {{ complete_week_events() }}

),

final as (

    select
        events.source_name,
        events.event_type,
        events.event_type = 'sale' as is_purchase,
        events.item_id,
        coalesce(events.invoice_id, strftime(events.event_ts, '%Y-%m-%dT%H:%M:%S.%f')) as order_key,
        events.customer_id,
        events.region,
        events.event_ts,
        events.event_at,
        events.week_start,
        events.quantity,
        events.unit_price,
        coalesce(events.revenue, 0) as revenue,
        coalesce(events.is_price_invalid, true) as is_price_invalid,
    from events
    where events.event_type in ('sale', 'return')

)

select * from final
