{#-
    One row per link formed by one customer (reviewer) between two items, in both directions:
    the customer's first purchase (review) of `item_id` in week `week_start` links it to the
    customer's previous `customer_window` distinct items (by first purchase). A customer of
    n items therefore adds at most n x customer_window links, not n squared. Returns are not
    purchases; events without a customer link nothing.
-#}
{%- set window = var('graph')['customer_window'] | int -%}

with

events as (

    select * from {{ ref('int_events_classified') }}

),

first_purchases as (

    select
        customer_id,
        item_id,
        min(week_start) as week_start,
    from events
    where quarantine_reason is null
        and customer_id is not null
        and event_type in ('sale', 'review')
    group by customer_id, item_id

),

sequenced as (

    select
        *,
        row_number() over (partition by customer_id order by week_start, item_id) as position,
    from first_purchases

),

offsets as (

    select range as back from range(1, {{ window + 1 }})

),

-- an equi-join on (customer, position - k): linear in the links, where a range condition
-- on the position would first pair every two items of a customer
linked as (

    select
        later.customer_id,
        later.item_id as later_item_id,
        earlier.item_id as earlier_item_id,
        later.week_start,
    from sequenced as later
    cross join offsets
    inner join sequenced as earlier
        on earlier.customer_id = later.customer_id
        and earlier.position = later.position - offsets.back

),

final as (

    select customer_id, later_item_id as item_id, earlier_item_id as neighbour_id, week_start, from linked
    union all
    select customer_id, earlier_item_id as item_id, later_item_id as neighbour_id, week_start, from linked

)

select * from final
