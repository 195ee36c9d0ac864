{#-
    One row per series per interval (dense) of the request-log sources, at the grain of var
    load.grain_minutes: requests, work units, the calendar of the interval, rolling past
    windows (the current interval included), the same interval one day and one week before,
    and `available_at`, the moment the interval closes. Always built: without a request_log
    source it has its columns and no row, so Feast and the gate read one schema.
-#}
{%- set enabled = var('raw_sources', {}).get('request_log') is not none -%}
{%- set load = var('load', {}) -%}
{%- set grain = load.get('grain_minutes', 60) | int -%}
{%- set lookback = load.get('lookback_intervals', 12) | int -%}
{%- set per_day = load.get('intervals_per_day', 24) | int -%}

with

{% if enabled -%}
spined as (

    select * from {{ ref('int_series_intervals_spined') }}

),
{%- else -%}
spined as (

    select
        cast(null as varchar) as series_id,
        cast(null as timestamp) as interval_start,
        cast(null as timestamp) as first_interval,
        cast(null as double) as requests,
        cast(null as double) as work_units,
        cast(null as bigint) as log_rows,
    where false

),
{%- endif %}

windowed as (

    select
        *,
        {{ exact_sum('requests', over='past_lookback') }} as requests_lookback_sum,
        {{ exact_sum('requests', over='past_day') }} as requests_day_sum,
        {{ exact_sum('work_units', over='past_lookback') }} as work_units_lookback_sum,
        lag(requests, {{ per_day }}) over by_time as requests_day_ago,
        lag(requests, {{ 7 * per_day }}) over by_time as requests_week_ago,
    from spined
    window
        by_time as (partition by series_id order by interval_start),
        past_lookback as (partition by series_id order by interval_start rows between {{ lookback - 1 }} preceding and current row),
        past_day as (partition by series_id order by interval_start rows between {{ per_day - 1 }} preceding and current row)

),

final as (

    select
        series_id,
        timezone('UTC', interval_start) as interval_start,
        timezone('UTC', interval_start + interval '{{ grain }} minutes') as available_at,
        requests,
        work_units,
        log_rows,
        requests_lookback_sum,
        requests_day_sum,
        work_units_lookback_sum,
        requests_day_ago,
        requests_week_ago,
        cast(hour(interval_start) * 60 + minute(interval_start) as integer) as minute_of_day,
        cast(isodow(interval_start) as integer) as day_of_week,
        cast(datediff('minute', first_interval, interval_start) / {{ grain }} as integer) as intervals_since_first,
    from windowed

)

select * from final
