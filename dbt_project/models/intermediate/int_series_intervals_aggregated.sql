{{ config(enabled=var('raw_sources', {}).get('request_log') is not none) }}

{#- One row per series per complete interval with at least one kept request-log row. -#}

with

requests as (

    select * from {{ ref('int_requests_classified') }}
    where quarantine_reason is null

),

calendar as (

    select * from {{ ref('int_load_calendar') }}

),

aggregated as (

    select
        requests.series_id,
        requests.interval_start,
        {{ exact_sum('requests.requests') }} as requests,
        {{ exact_sum('requests.work_units') }} as work_units,
        count(*) as log_rows,
    from requests
    inner join calendar
        on requests.interval_start between calendar.first_complete_interval and calendar.last_complete_interval
    group by requests.series_id, requests.interval_start

),

final as (

    select * from aggregated

)

select * from final
