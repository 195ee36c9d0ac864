{#-
    One row per customer per week (dense, from the customer's first purchase week to the
    dataset's last complete week): RFM, tenure, lifetime value, product diversity and a
    rule-based segment, each as known when the week closes (`available_at`). Quantile scores
    compare a customer with every customer known by the same week, never with later ones.
-#}
{%- set k = var('customers')['segment_quantiles'] | int -%}
{%- set lookback = var('lookback_weeks') | int -%}

with

weekly as (

    select * from {{ ref('int_customer_weeks_aggregated') }}

),

calendar as (

    select * from {{ ref('int_dataset_calendar') }}

),

firsts as (

    select
        customer_id,
        min(week_start) as first_week,
        arg_min(first_region, week_start) as home_region,
    from weekly
    where orders > 0
    group by customer_id

),

spine as (

    select
        firsts.customer_id,
        firsts.first_week,
        firsts.home_region,
        cast(unnest(generate_series(
            cast(firsts.first_week as timestamp),
            cast(calendar.last_complete_week as timestamp),
            interval 7 day
        )) as date) as week_start,
    from firsts
    cross join calendar

),

filled as (

    select
        spine.customer_id,
        spine.week_start,
        spine.first_week,
        spine.home_region,
        coalesce(weekly.orders, 0) as orders,
        coalesce(weekly.lines, 0) as lines,
        coalesce(weekly.units, 0) as units,
        coalesce(weekly.revenue, 0) as revenue,
        coalesce(weekly.returned_revenue, 0) as returned_revenue,
        coalesce(weekly.new_items, 0) as new_items,
        weekly.last_purchase_at,
    from spine
    left join weekly
        on spine.customer_id = weekly.customer_id
        and spine.week_start = weekly.week_start

),

cumulative as (

    select
        *,
        timezone('UTC', cast(week_start + interval 7 day as timestamp)) as available_at,
        sum(orders) over to_date as frequency,
        sum(lines) over to_date as lines_to_date,
        sum(units) over to_date as units_to_date,
        {{ exact_sum('revenue', over='to_date') }} as revenue_to_date,
        {{ exact_sum('returned_revenue', over='to_date') }} as returned_revenue_to_date,
        sum(new_items) over to_date as product_diversity,
        max(last_purchase_at) over to_date as last_purchase_to_date,
        sum(orders) over past_lookback as orders_lookback_sum,
        {{ exact_sum('revenue', over='past_lookback') }} as revenue_lookback_sum,
    from filled
    window
        to_date as (partition by customer_id order by week_start rows between unbounded preceding and current row),
        past_lookback as (partition by customer_id order by week_start rows between {{ lookback - 1 }} preceding and current row)

),

measured as (

    select
        *,
        (epoch(available_at) - epoch(last_purchase_to_date)) / 86400.0 as recency_days,
        revenue_to_date / frequency as monetary,
        revenue_to_date - returned_revenue_to_date as lifetime_value,
        cast(datediff('week', first_week, week_start) as integer) as tenure_weeks,
    from cumulative

),

scored as (

    -- 1..k by quantile among the customers known by the same week (ties share a score)
    select
        *,
        cast(least({{ k }}, 1 + floor({{ k }} * percent_rank() over (partition by week_start order by recency_days desc))) as integer) as recency_score,
        cast(least({{ k }}, 1 + floor({{ k }} * percent_rank() over (partition by week_start order by frequency))) as integer) as frequency_score,
        cast(least({{ k }}, 1 + floor({{ k }} * percent_rank() over (partition by week_start order by monetary))) as integer) as monetary_score,
    from measured

),

final as (

    select
        customer_id,
        week_start,
        available_at,
        home_region,
        orders,
        units,
        revenue,
        returned_revenue,
        new_items,
        recency_days,
        frequency,
        monetary,
        units_to_date,
        revenue_to_date,
        lifetime_value,
        product_diversity,
        {{ safe_divide('product_diversity', 'lines_to_date') }} as product_diversity_ratio,
        tenure_weeks,
        orders_lookback_sum,
        revenue_lookback_sum,
        recency_score,
        frequency_score,
        monetary_score,
        case
            when tenure_weeks < {{ lookback }} then 'new'
            when recency_score = {{ k }} and frequency_score >= {{ k - 1 }} then 'champion'
            when recency_score >= {{ k - 1 }} and frequency_score >= {{ k - 1 }} then 'loyal'
            when recency_score <= {{ (k / 2) | int }} and frequency_score >= {{ k - 1 }} then 'at_risk'
            when recency_score = 1 then 'hibernating'
            else 'regular'
        end as segment,
    from scored

)

select * from final
