{{ config(enabled=var('raw_sources', {}).get('request_log') is not none) }}

{#-
    One row per series per interval, dense: from the series' first complete interval with a
    request to the log's last complete interval. Intervals without requests are zero rows.
-#}
{%- set grain = var('load', {}).get('grain_minutes', 60) | int -%}

with

series_intervals as (

    select * from {{ ref('int_series_intervals_aggregated') }}

),

calendar as (

    select * from {{ ref('int_load_calendar') }}

),

first_intervals as (

    select
        series_id,
        min(interval_start) as first_interval,
    from series_intervals
    group by series_id

),

spine as (

    select
        first_intervals.series_id,
        first_intervals.first_interval,
        unnest(generate_series(
            first_intervals.first_interval,
            calendar.last_complete_interval,
            interval '{{ grain }} minutes'
        )) as interval_start,
    from first_intervals
    cross join calendar

),

final as (

    select
        spine.series_id,
        spine.interval_start,
        spine.first_interval,
        coalesce(series_intervals.requests, 0) as requests,
        coalesce(series_intervals.work_units, 0) as work_units,
        coalesce(series_intervals.log_rows, 0) as log_rows,
    from spine
    left join series_intervals
        on spine.series_id = series_intervals.series_id
        and spine.interval_start = series_intervals.interval_start

)

select * from final
