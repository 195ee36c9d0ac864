{#- One row per item per week with at least one kept event, complete weeks only (see int_dataset_calendar). -#}

with

events as (

    {{ complete_week_events() }}

),

aggregated as (

    select
        events.item_id,
        events.week_start,
        sum(case when event_type in ('sale', 'review') then quantity else 0 end) as units,
        sum(case when event_type = 'return' then quantity else 0 end) as returned_units,
        {{ exact_sum("case when event_type in ('sale', 'review') then coalesce(revenue, 0) else 0 end") }} as revenue,
        count(*) filter (where event_type in ('sale', 'review')) as n_events,
        count(distinct customer_id) filter (where event_type in ('sale', 'review')) as customers,
        sum(coalesce(helpful_votes, 0)) as helpful_votes,
        count(is_verified) as n_verified_known,
        count(*) filter (where is_verified) as n_verified,
        sum(rating) as rating_sum,
        count(rating) as n_ratings,
    from events
    group by events.item_id, events.week_start

),

final as (

    select * from aggregated

)

select * from final
