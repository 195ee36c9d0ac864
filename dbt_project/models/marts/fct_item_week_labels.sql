{#-
    One row per item per week (the forecast origin): the next `horizon_weeks` weeks' units,
    the growth score and the hot-seller label.
    - units_future_sum is null where the future runs past the data's last complete week;
    - growth_score = future weekly mean / max(past `lookback_weeks` weekly mean, growth_floor);
    - eligible: at least `min_past_activity` units over the lookback window;
    - growth_rank: the candidate's place in the week under one total order (larger growth
      score, then larger future units, then larger past units, then item id ascending), so
      no two candidates share a place;
    - is_hot_seller: among eligible items of the week with a known future (n of them), the
      first ceil((1 - hot_seller_quantile) * n) places, exactly, whatever the ties, provided
      the growth score is above 0; false for other known rows, null where the future is
      unknown. A week where fewer items grow at all has fewer hot sellers.
-#}
{%- set lookback = var('lookback_weeks') | int -%}
{%- set horizon = var('horizon_weeks') | int -%}
{%- set quantile = var('hot_seller_quantile') | float -%}

with

item_weeks as (

    select * from {{ ref('fct_item_weeks') }}

),

future as (

    select
        item_id,
        week_start,
        available_at,
        units,
        units_lookback_sum,
        sum(units) over next_weeks as units_next_sum,
        count(*) over next_weeks as n_next_weeks,
    from item_weeks
    window next_weeks as (
        partition by item_id order by week_start rows between 1 following and {{ horizon }} following
    )

),

scored as (

    select
        item_id,
        week_start,
        available_at,
        units,
        units_lookback_sum,
        case when n_next_weeks = {{ horizon }} then units_next_sum end as units_future_sum,
        units_lookback_sum >= {{ var('min_past_activity') }} as is_eligible,
    from future

),

growth as (

    select
        *,
        units_future_sum is not null as is_label_known,
        (units_future_sum / {{ horizon }})
            / greatest(units_lookback_sum / {{ lookback }}, {{ var('growth_floor') }}) as growth_score,
    from scored

),

candidates_per_week as (

    -- a group-by, not a window: a filtered count over a partition that also carries the
    -- rank's ordering degenerates to quadratic time in DuckDB on large weeks
    select
        week_start,
        count(*) filter (where is_eligible and is_label_known) as n_candidates,
    from growth
    group by week_start

),

ranked as (

    select
        growth.*,
        growth.is_eligible and growth.is_label_known as is_candidate,
        -- a total order: sparse counts tie on the growth score often, and every tie at the
        -- cut would otherwise be hot (whole weeks of them on review data)
        row_number() over (
            partition by growth.week_start, growth.is_eligible and growth.is_label_known
            order by
                growth.growth_score desc,
                growth.units_future_sum desc,
                growth.units_lookback_sum desc,
                growth.item_id asc
        ) as growth_rank,
        candidates_per_week.n_candidates,
    from growth
    inner join candidates_per_week on growth.week_start = candidates_per_week.week_start

),

final as (

    select
        item_id,
        week_start,
        available_at,
        -- the label is known once the last week of the horizon has closed
        timezone('UTC', cast(week_start + interval {{ 7 * (horizon + 1) }} day as timestamp)) as label_available_at,
        units_lookback_sum,
        units_future_sum,
        growth_score,
        is_eligible,
        is_label_known,
        n_candidates,
        case when is_candidate then growth_rank end as growth_rank,
        case
            when not is_label_known then null
            when not is_eligible then false
            else growth_score > 0
                and growth_rank <= ceil(round((1 - {{ quantile }}) * n_candidates, 9))
        end as is_hot_seller,
    from ranked

)

select * from final
