{#-
    One row per item per week, dense, with the item's known-future covariates (config
    `known_future` of each item source): every week of the panel and the `horizon_weeks` weeks
    after the data's last complete week. Column covariates aggregate the sales rows the build
    keeps in the week (int_*_classified: rows set aside and returns left out; a sales source's
    rows of quantity 0 read) with their `agg`; a week those rows do not reach takes the source's
    plan (config `plan`, int_known_future_plans) where it has one; calendar covariates are 1 in
    the week that holds the day. Weeks without a value follow `fill`:
    carry_forward = the item's last known value (before its first one: the first one; never
    known: 0), zero = 0. No null and no infinity leaves this model.

    `known_at`: a covariate of week w is known at the close of the origin week `horizon_weeks`
    before it (w - (horizon - 1) weeks, 00:00 UTC): the user supplies price plans, promotions
    and calendars at least a horizon ahead. Feast serves a row only at or after `known_at`.
-#}
{%- set horizon = var('horizon_weeks') | int -%}
{%- set covariates = [] -%}
{%- set classified = [] -%}
{%- for kind, src in var('raw_sources', {}).items() -%}
    {%- for c in src.get('known_future', []) -%}
        {%- do covariates.append(c) -%}
    {%- endfor -%}
    {%- set columns = src.get('known_future', []) | selectattr('column') | map(attribute='name') | list -%}
    {%- if columns -%}
        {%- do classified.append({'model': classified_model(kind), 'kind': kind, 'columns': columns,
                                  'planned': src.get('plan') is not none}) -%}
    {%- endif -%}
{%- endfor -%}
{%- set column_names = classified | map(attribute='columns') | sum(start=[]) -%}
{{ config(enabled=covariates | length > 0) }}

with

spined as (

    select item_id, week_start from {{ ref('int_item_weeks_spined') }}

),

calendar as (

    select * from {{ ref('int_dataset_calendar') }}

),

future_weeks as (

    -- the horizon after the data: plans and calendars reach past the last complete week
    select
        items.item_id,
        cast(unnest(generate_series(
            cast(calendar.last_complete_week + interval 7 day as timestamp),
            cast(calendar.last_complete_week + interval {{ 7 * horizon }} day as timestamp),
            interval 7 day
        )) as date) as week_start,
    from (select distinct item_id from spined) as items
    cross join calendar

),

weeks as (

    select item_id, week_start from spined
    union all
    select item_id, week_start from future_weeks

),

{%- for s in classified %}

source_rows_{{ loop.index }} as (

    select
        item_id,
        {{ week_start('event_ts') }} as week_start,
        event_ts,
        {%- for name in s.columns %}
        -- numbers as numbers; true/false, yes/no, y/n as 1/0
        {{ flag_number(known_future_column(name)) }} as "{{ name }}",
        {%- endfor %}
    from {{ ref(s.model) }}
    -- the rows the build keeps as sales: a week with no sale (quantity 0) says its price and
    -- promotion too; returns and rows set aside (copies, bad dates or quantities) say nothing
    where quarantine_reason is null and event_type = 'sale'

),
{%- endfor %}

{%- for s in classified %}

observed_{{ loop.index }} as (

    select
        item_id,
        week_start,
        {%- for c in covariates if c.name in s.columns %}
        {{ known_future_agg(c.agg, '"' ~ c.name ~ '"') }} as "{{ c.name }}",
        {%- endfor %}
    from source_rows_{{ loop.index }}
    group by item_id, week_start

),
{%- if s.planned %}

planned_{{ loop.index }} as (

    -- the source's plan files (config `plan`), aggregated as its rows are
    select
        item_id,
        week_start,
        {%- for c in covariates if c.name in s.columns %}
        {{ known_future_agg(c.agg, known_future_column(c.name)) }} as "{{ c.name }}",
        {%- endfor %}
    from {{ ref('int_known_future_plans') }}
    where source_kind = '{{ s.kind }}'
    group by item_id, week_start

),
{%- endif %}
{%- endfor %}

joined as (

    select
        weeks.item_id,
        weeks.week_start,
        {%- for s in classified %}
        {%- set i = loop.index %}
        {%- for name in s.columns %}
        {%- if s.planned %}
        -- the source's own rows win; a plan gives the weeks they do not (after the data)
        coalesce(observed_{{ i }}."{{ name }}", planned_{{ i }}."{{ name }}") as "{{ name }}",
        {%- else %}
        observed_{{ i }}."{{ name }}",
        {%- endif %}
        {%- endfor %}
        {%- endfor %}
    from weeks
    {%- for s in classified %}
    left join observed_{{ loop.index }}
        on observed_{{ loop.index }}.item_id = weeks.item_id
        and observed_{{ loop.index }}.week_start = weeks.week_start
    {%- if s.planned %}
    left join planned_{{ loop.index }}
        on planned_{{ loop.index }}.item_id = weeks.item_id
        and planned_{{ loop.index }}.week_start = weeks.week_start
    {%- endif %}
    {%- endfor %}

),

years as (

    select cast(unnest(generate_series(
        cast(year(min(week_start)) as bigint), cast(year(max(week_start)) + 1 as bigint)
    )) as integer) as y
    from weeks

),

easter_terms as (

    -- Easter Sunday, Gregorian calendar (the anonymous algorithm), step by step
    select y, y % 19 as a, y // 100 as b, y % 100 as c from years

),

easter_terms_2 as (

    select
        *,
        (19 * a + b - b // 4 - (b - (b + 8) // 25 + 1) // 3 + 15) % 30 as h,
        (32 + 2 * (b % 4) + 2 * (c // 4)) as l_base,
        c % 4 as k,
    from easter_terms

),

easter_terms_3 as (

    select *, (l_base - h - k) % 7 as l from easter_terms_2

),

easter_terms_4 as (

    select *, h + l - 7 * ((a + 11 * h + 22 * l) // 451) + 114 as n from easter_terms_3

),

holidays as (

    -- the days of the calendar flags, one row per year the weeks touch
    select
        y as year,
        make_date(y, 12, 25) as christmas,
        make_date(y, 1, 1) as new_year,
        make_date(y, n // 31, n % 31 + 1) as easter,
        -- the day after the fourth Thursday of November
        make_date(y, 11, 1 + (11 - isodow(make_date(y, 11, 1))) % 7 + 22) as black_friday,
    from easter_terms_4

),

filled as (

    select
        joined.item_id,
        joined.week_start,
        {%- for c in covariates %}
        {%- if c.calendar %}
        cast(exists (
            select 1 from holidays
            where holidays.{{ c.calendar }} between joined.week_start and joined.week_start + interval 6 day
        ) as double) as "{{ c.name }}",
        {%- elif c.fill == 'zero' %}
        coalesce(joined."{{ c.name }}", 0.0) as "{{ c.name }}",
        {%- else %}
        coalesce(
            last_value(joined."{{ c.name }}" ignore nulls) over known_so_far,
            first_value(joined."{{ c.name }}" ignore nulls) over known_later,
            0.0
        ) as "{{ c.name }}",
        {%- endif %}
        {%- endfor %}
    from joined
    window
        known_so_far as (partition by joined.item_id order by joined.week_start rows between unbounded preceding and current row),
        known_later as (partition by joined.item_id order by joined.week_start rows between current row and unbounded following)

),

final as (

    select
        item_id,
        week_start,
        timezone('UTC', cast(week_start - interval {{ 7 * (horizon - 1) }} day as timestamp)) as known_at,
        timezone('UTC', cast(week_start as timestamp)) as covariate_week,
        {%- for c in covariates %}
        "{{ c.name }}",
        {%- endfor %}
    from filled

)

select * from final
