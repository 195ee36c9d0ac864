{#-
    One row per item per week, dense: from the item's first week with an event to the
    dataset's last complete week. Weeks without events are rows with zeros, not gaps.
-#}

with

item_weeks as (

    select * from {{ ref('int_item_weeks_aggregated') }}

),

calendar as (

    select * from {{ ref('int_dataset_calendar') }}

),

first_weeks as (

    select
        item_id,
        min(week_start) as first_week,
    from item_weeks
    group by item_id

),

spine as (

    select
        first_weeks.item_id,
        first_weeks.first_week,
        cast(unnest(generate_series(
            cast(first_weeks.first_week as timestamp),
            cast(calendar.last_complete_week as timestamp),
            interval 7 day
        )) as date) as week_start,
    from first_weeks
    cross join calendar

),

final as (

    select
        spine.item_id,
        spine.week_start,
        spine.first_week,
        coalesce(item_weeks.units, 0) as units,
        coalesce(item_weeks.returned_units, 0) as returned_units,
        coalesce(item_weeks.revenue, 0) as revenue,
        coalesce(item_weeks.n_events, 0) as n_events,
        coalesce(item_weeks.customers, 0) as customers,
        coalesce(item_weeks.helpful_votes, 0) as helpful_votes,
        coalesce(item_weeks.n_verified_known, 0) as n_verified_known,
        coalesce(item_weeks.n_verified, 0) as n_verified,
        coalesce(item_weeks.rating_sum, 0) as rating_sum,
        coalesce(item_weeks.n_ratings, 0) as n_ratings,
    from spine
    left join item_weeks
        on spine.item_id = item_weeks.item_id
        and spine.week_start = item_weeks.week_start

)

select * from final
