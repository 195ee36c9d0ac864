{#-
    One row per purchase line with a valid price: the line's unit price against the item's
    reference price, the median unit price of the item's lines in the `reference_price_weeks`
    closed weeks before the line's week (known when the week begins, so never the line
    itself). `discount` = 1 - price / reference (negative: above the reference); null where
    the item sold nothing in those weeks.
-#}
{%- set ref_weeks = var('customers')['reference_price_weeks'] | int -%}

with

lines as (

    select * from {{ ref('int_sale_events_windowed') }}
    where is_purchase and not is_price_invalid and unit_price > 0

),

item_weeks as (

    select distinct item_id, week_start,
    from lines

),

reference_prices as (

    select
        item_weeks.item_id,
        item_weeks.week_start,
        median(lines.unit_price) as reference_price,
        count(*) as reference_lines,
    from item_weeks
    inner join lines
        on lines.item_id = item_weeks.item_id
        and lines.week_start < item_weeks.week_start
        and lines.week_start >= item_weeks.week_start - interval {{ ref_weeks * 7 }} day
    group by item_weeks.item_id, item_weeks.week_start

),

final as (

    select
        lines.item_id,
        lines.order_key,
        lines.customer_id,
        lines.region,
        lines.event_at,
        lines.week_start,
        timezone('UTC', cast(lines.week_start + interval 7 day as timestamp)) as available_at,
        lines.quantity,
        lines.unit_price,
        lines.revenue,
        reference_prices.reference_price,
        coalesce(reference_prices.reference_lines, 0) as reference_lines,
        1 - {{ safe_divide('lines.unit_price', 'reference_prices.reference_price') }} as discount,
    from lines
    left join reference_prices
        on lines.item_id = reference_prices.item_id
        and lines.week_start = reference_prices.week_start

)

select * from final
