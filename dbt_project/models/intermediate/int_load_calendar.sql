{{ config(enabled=var('raw_sources', {}).get('request_log') is not none) }}

{#-
    One row: the intervals the request log covers. Like the weekly calendar, an interval is
    complete when the data covers all of it: the interval holding the first timestamp is
    complete only when the data starts on its first instant, and the interval holding the
    last timestamp has not closed. Partial first and last intervals are left out of the panel.
-#}
{%- set grain = var('load', {}).get('grain_minutes', 60) | int -%}

with

requests as (

    select * from {{ ref('int_requests_classified') }}
    where quarantine_reason is null

),

coverage as (

    select
        min(event_ts) as data_start,
        max(event_ts) as data_end,
    from requests

),

final as (

    select
        data_start,
        data_end,
        case
            when time_bucket(interval '{{ grain }} minutes', data_start) = data_start then data_start
            else time_bucket(interval '{{ grain }} minutes', data_start) + interval '{{ grain }} minutes'
        end as first_complete_interval,
        time_bucket(interval '{{ grain }} minutes', data_end) - interval '{{ grain }} minutes'
            as last_complete_interval,
    from coverage

)

select * from final
