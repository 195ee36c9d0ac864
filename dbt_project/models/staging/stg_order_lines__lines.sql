{{ config(enabled=var('raw_sources', {}).get('order_lines') is not none) }}

{%- set src = raw_source('order_lines') or {} -%}
{%- set cols = src.get('columns', {}) -%}

with

source as (

    select * from {{ read_raw('order_lines') }}

),

renamed as (

    select
        filename as source_file,
        to_json(source) as raw_record,
        nullif(trim(cast({{ raw_column(cols.get('invoice')) }} as varchar)), '') as invoice_id,
        {{ item_id_column(cols.get('item_id')) }} as item_id,
        nullif(trim(cast({{ raw_column(cols.get('description')) }} as varchar)), '') as description,
        cast({{ raw_column(cols.get('quantity')) }} as varchar) as quantity_raw,
        try_cast({{ number_text(raw_column(cols.get('quantity')), src.get('decimal', '.'), src.get('thousands')) }} as double) as quantity,
        cast({{ raw_column(cols.get('timestamp')) }} as varchar) as timestamp_raw,
        {{ parse_timestamp(raw_column(cols.get('timestamp')), src.get('timestamp_format'), src.get('timezone', 'UTC')) }} as event_ts,
        cast({{ raw_column(cols.get('unit_price')) }} as varchar) as unit_price_raw,
        try_cast({{ number_text(raw_column(cols.get('unit_price')), src.get('decimal', '.'), src.get('thousands')) }} as double) as unit_price,
        -- customer ids exported from spreadsheets come as '17850.0'
        nullif(regexp_replace(trim(cast({{ raw_column(cols.get('customer_id')) }} as varchar)), '\.0$', ''), '') as customer_id,
        nullif(trim(cast({{ raw_column(cols.get('region')) }} as varchar)), '') as region,
        nullif(trim(cast({{ raw_column(cols.get('category')) }} as varchar)), '') as category,
        {{- known_future_columns(src) }}
    from source

),

final as (

    select
        '{{ src.get('name', 'order_lines') }}' as source_name,
        'order_lines' as source_kind,
        *,
    from renamed

)

select * from final
