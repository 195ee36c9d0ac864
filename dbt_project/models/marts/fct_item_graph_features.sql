{#-
    Graph features of an item in a week, from the edges known at that week's close only:
    one row per item per week of the panel in which the item has at least one known edge.
    The neighbours are the item's `max_neighbours` heaviest edges as of the week (shared
    customers, then Jaccard, then id); growth and labels are the neighbours' own as of then:
    - degree: every edge known (before the cap); neighbours: those kept;
    - neighbour_growth: mean over kept neighbours (weighted by shared customers) of their
      momentum: weekly mean of the last `lookback_weeks` / max(weekly mean of the 12 - lookback
      weeks before, growth_floor) (null when lookback_weeks >= 12);
    - max_neighbour_growth: the highest momentum among kept neighbours (one surging neighbour
      among many quiet ones barely moves the weighted mean);
    - surging_neighbours: kept neighbours surging now (momentum at least `surge`: their last
      `lookback_weeks` at least double the weeks before), the count a spread along co-bought
      items lifts weeks before the item's own onset; surging_neighbour_share: their share of
      the shared customers (0 when momentum is unknown);
    - hot_neighbour_share: share of kept neighbours that were hot sellers at the last label
      known at the week's close (the label of `horizon_weeks` weeks earlier); null when none
      of them had a known label then.
-#}
{%- set cap = var('graph')['max_neighbours'] | int -%}
{%- set lookback = var('lookback_weeks') | int -%}
{%- set horizon = var('horizon_weeks') | int -%}
{%- set floor = var('growth_floor') | float -%}
{%- set surge = 2.0 -%}

with

edges as (

    select * from {{ ref('fct_item_edges') }}

),

item_weeks as (

    select * from {{ ref('fct_item_weeks') }}

),

labels as (

    select * from {{ ref('fct_item_week_labels') }}

),

spans as (

    -- each edge row holds from its week until the pair's next row
    select
        *,
        lead(week_start) over (partition by item_id, neighbour_id order by week_start) as next_week_start,
    from edges

),

as_of_week as (

    select
        item_weeks.item_id,
        item_weeks.week_start,
        spans.neighbour_id,
        spans.shared_customers,
        spans.jaccard,
        count(*) over (partition by item_weeks.item_id, item_weeks.week_start) as degree,
        row_number() over (
            partition by item_weeks.item_id, item_weeks.week_start
            order by spans.shared_customers desc, spans.jaccard desc, spans.neighbour_id
        ) as weight_rank,
    from item_weeks
    inner join spans
        on spans.item_id = item_weeks.item_id
        and spans.week_start <= item_weeks.week_start
        and (spans.next_week_start is null or item_weeks.week_start < spans.next_week_start)

),

kept as (

    select * from as_of_week where weight_rank <= {{ cap }}

),

described as (

    select
        kept.*,
        {% if lookback < 12 -%}
        (theirs.units_lookback_sum / {{ lookback }})
            / greatest((theirs.units_12w_sum - theirs.units_lookback_sum) / {{ 12 - lookback }}, {{ floor }})
        {%- else -%}
        cast(null as double)
        {%- endif %} as neighbour_momentum,
        case when label.is_label_known then cast(label.is_hot_seller as double) end as neighbour_was_hot,
    from kept
    left join item_weeks as theirs
        on theirs.item_id = kept.neighbour_id and theirs.week_start = kept.week_start
    left join labels as label
        on label.item_id = kept.neighbour_id
        and label.week_start = kept.week_start - interval {{ 7 * horizon }} day

),

final as (

    select
        item_id,
        week_start,
        timezone('UTC', cast(week_start + interval 7 day as timestamp)) as available_at,
        cast(any_value(degree) as integer) as degree,
        cast(count(*) as integer) as neighbours,
        cast(sum(shared_customers) as integer) as shared_customers,
        avg(jaccard) as mean_jaccard,
        coalesce(
            sum(shared_customers * neighbour_momentum) / nullif(sum(shared_customers) filter (where neighbour_momentum is not null), 0),
            0.0
        ) as neighbour_growth,
        coalesce(max(neighbour_momentum), 0.0) as max_neighbour_growth,
        cast(count(*) filter (where neighbour_momentum >= {{ surge }}) as integer) as surging_neighbours,
        coalesce(
            sum(shared_customers) filter (where neighbour_momentum >= {{ surge }}) / nullif(sum(shared_customers), 0),
            0.0
        ) as surging_neighbour_share,
        avg(neighbour_was_hot) as hot_neighbour_share,
        cast(count(neighbour_was_hot) as integer) as neighbours_labelled,
    from described
    group by item_id, week_start

)

select * from final
