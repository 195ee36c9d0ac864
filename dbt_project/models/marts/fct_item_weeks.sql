{#-
    One row per item per week (dense). Activity of the week, rolling past windows (the
    current week included) and `available_at`, the moment the week closes and its row may be
    used: a feature with available_at after a forecast origin is the future.
-#}
{%- set lookback = var('lookback_weeks') | int -%}

with

spined as (

    select * from {{ ref('int_item_weeks_spined') }}

),

windowed as (

    select
        *,
        sum(units) over past_lookback as units_lookback_sum,
        sum(units) over past_12 as units_12w_sum,
        {{ exact_sum('revenue', over='past_lookback') }} as revenue_lookback_sum,
        sum(customers) over past_lookback as customers_lookback_sum,
    from spined
    window
        past_lookback as (partition by item_id order by week_start rows between {{ lookback - 1 }} preceding and current row),
        past_12 as (partition by item_id order by week_start rows between 11 preceding and current row)

),

final as (

    select
        item_id,
        week_start,
        timezone('UTC', cast(week_start + interval 7 day as timestamp)) as available_at,
        units,
        returned_units,
        revenue,
        n_events,
        customers,
        helpful_votes,
        {{ safe_divide('n_verified', 'n_verified_known') }} as verified_ratio,
        {{ safe_divide('rating_sum', 'n_ratings') }} as mean_rating,
        units_lookback_sum,
        units_12w_sum,
        revenue_lookback_sum,
        customers_lookback_sum,
        cast(datediff('week', first_week, week_start) as integer) as weeks_since_first_event,
        cast(weekofyear(week_start) as integer) as week_of_year,
    from windowed

)

select * from final
