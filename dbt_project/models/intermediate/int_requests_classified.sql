{{ config(enabled=var('raw_sources', {}).get('request_log') is not none) }}

{#-
    One row per request-log row with its quarantine reason (null for a kept row) and the
    interval it falls in (var load.grain_minutes, aligned on midnight UTC). A log of counts
    per timestamp has one row per (series, timestamp): a second one is a duplicate; a log of
    one row per request may hold several requests at the same instant, all kept.
-#}
{%- set src = raw_source('request_log') or {} -%}
{%- set grain = var('load', {}).get('grain_minutes', 60) | int -%}

with

requests as (

    select * from {{ ref('stg_request_log__requests') }}

),

checked as (

    select
        *,
        case
            when series_id is null then 'missing_series_id'
            when timestamp_raw is null or trim(timestamp_raw) = '' then 'missing_timestamp'
            when event_ts is null then 'unparseable_timestamp'
            when {{ outside_valid_window('event_ts') }} then 'timestamp_out_of_range'
            when requests is null then 'unparseable_count'
            {{ number_reasons('count', none, 'requests', required=false, low=0, below_reason='negative_count') }}
            when work_units is null then 'unparseable_work'
            {{ number_reasons('work', none, 'work_units', required=false, low=0, below_reason='negative_work') }}
        end as row_reason,
        cast(json_object('series_id', series_id, 'timestamp', timestamp_raw) as varchar) as raw_record,
    from requests

),

classified as (

    {%- if src.get('columns', {}).get('count') %}
    {{ quarantine_copies(
        'checked',
        keys=['series_id', 'timestamp_raw'],
        order_by='source_file',
        record={'series_id': 'series_id', 'timestamp': 'timestamp_raw'},
    ) }}
    {%- else %}
    select
        * exclude (row_reason, raw_record),
        row_reason as quarantine_reason,
        case when row_reason is not null then raw_record end as raw_record,
    from checked
    {%- endif %}

),

final as (

    select
        source_name,
        source_file,
        series_id,
        event_ts,
        event_at,
        time_bucket(interval '{{ grain }} minutes', event_ts) as interval_start,
        requests,
        work_units,
        quarantine_reason,
        raw_record,
    from classified

)

select * from final
union all by name
-- lines of a CSV file its reader skipped (wrong number of columns), with their line numbers
select * exclude (source_kind) from ({{ rejected_lines('request_log') }})
