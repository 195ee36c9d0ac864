{#-
    The product graph: one row per directed edge (item, neighbour) per week in which the
    number of customers (reviewers) the two share grew, from the week the edge reached
    `min_shared_customers`. `available_at` (the week's close) is when that row's weights are
    known: the edges of a forecast origin are the latest row of each pair with available_at at
    or before the origin's close. Jaccard = shared / (item's customers + neighbour's customers
    - shared), all counted up to that week.
-#}
{%- set min_shared = var('graph')['min_shared_customers'] | int -%}

with

links as (

    select * from {{ ref('int_item_edges') }}

),

item_firsts as (

    select
        customer_id,
        item_id,
        min(week_start) as week_start,
    from {{ ref('int_events_classified') }}
    where quarantine_reason is null
        and customer_id is not null
        and event_type in ('sale', 'review')
    group by customer_id, item_id

),

item_customers as (

    select
        item_id,
        week_start,
        sum(count(*)) over (partition by item_id order by week_start) as customers_to_date,
    from item_firsts
    group by item_id, week_start

),

weekly as (

    -- a customer links a pair at most once per direction (positions are unique)
    select
        item_id,
        neighbour_id,
        week_start,
        count(*) as new_shared,
    from links
    group by item_id, neighbour_id, week_start

),

cumulated as (

    select
        *,
        sum(new_shared) over (partition by item_id, neighbour_id order by week_start) as shared_customers,
    from weekly

),

edges as (

    select * from cumulated where shared_customers >= {{ min_shared }}

),

with_item as (

    select
        edges.*,
        mine.customers_to_date as item_customers,
    from edges
    asof inner join item_customers as mine
        on edges.item_id = mine.item_id and edges.week_start >= mine.week_start

),

with_neighbour as (

    select
        with_item.*,
        theirs.customers_to_date as neighbour_customers,
    from with_item
    asof inner join item_customers as theirs
        on with_item.neighbour_id = theirs.item_id and with_item.week_start >= theirs.week_start

),

final as (

    select
        item_id,
        neighbour_id,
        week_start,
        timezone('UTC', cast(week_start + interval 7 day as timestamp)) as available_at,
        min(timezone('UTC', cast(week_start + interval 7 day as timestamp)))
            over (partition by item_id, neighbour_id) as first_known_at,
        cast(shared_customers as integer) as shared_customers,
        cast(item_customers as integer) as item_customers,
        cast(neighbour_customers as integer) as neighbour_customers,
        {{ safe_divide('shared_customers', 'item_customers + neighbour_customers - shared_customers') }} as jaccard,
    from with_neighbour

)

select * from final
