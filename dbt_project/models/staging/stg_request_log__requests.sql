{{ config(enabled=var('raw_sources', {}).get('request_log') is not none) }}

{%- set src = raw_source('request_log') or {} -%}
{%- set cols = src.get('columns', {}) -%}

with

source as (

    select * from {{ read_raw('request_log') }}

),

renamed as (

    select
        filename as source_file,
        {%- if cols.get('series_id') %}
        nullif(trim(cast({{ raw_column(cols.get('series_id')) }} as varchar)), '') as series_id,
        {%- else %}
        '{{ src.get('series_name', 'requests') }}' as series_id,
        {%- endif %}
        cast({{ raw_column(cols.get('timestamp', 'timestamp')) }} as varchar) as timestamp_raw,
        {{ parse_timestamp(raw_column(cols.get('timestamp', 'timestamp')), src.get('timestamp_format'), src.get('timezone', 'UTC')) }} as event_ts,
        {%- if cols.get('count') %}
        try_cast({{ number_text(raw_column(cols.get('count')), src.get('decimal', '.'), src.get('thousands')) }} as double) as requests,
        {%- else %}
        cast(1 as double) as requests,
        {%- endif %}
        {%- set work = cols.get('work') %}
        {%- if work %}
        {%- set work = [work] if work is string else work %}
        {%- for w in work %}
        {{ '' if loop.first else '+ ' }}try_cast({{ number_text(raw_column(w), src.get('decimal', '.'), src.get('thousands')) }} as double)
        {%- endfor %} as work_units,
        {%- else %}
        cast(0 as double) as work_units,
        {%- endif %}
    from source

),

final as (

    select
        '{{ src.get('name', 'request_log') }}' as source_name,
        *,
        timezone('UTC', event_ts) as event_at,
    from renamed

)

select * from final
