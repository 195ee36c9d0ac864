{{ config(enabled=var('raw_sources', {}).get('sales') is not none) }}

{%- set src = raw_source('sales') or {} -%}
{%- set cols = src.get('columns', {}) -%}
{%- set item_cols = cols.get('item_id', 'item_id') -%}
{%- set item_cols = [item_cols] if item_cols is string else item_cols -%}

with

source as (

    select * from {{ read_raw('sales') }}

),

renamed as (

    select
        filename as source_file,
        to_json(source) as raw_record,
        {%- if item_cols | length == 1 %}
        nullif(trim(cast({{ raw_column(item_cols[0]) }} as varchar)), '') as item_id,
        {%- else %}
        -- several columns name the item (store x department): joined with '_', null if any is
        case when {% for c in item_cols %}{{ raw_column(c) }} is not null{{ " and " if not loop.last }}{% endfor %}
            then concat_ws('_', {% for c in item_cols %}trim(cast({{ raw_column(c) }} as varchar)){{ ", " if not loop.last }}{% endfor %})
        end as item_id,
        {%- endif %}
        cast({{ raw_column(cols.get('date', 'date')) }} as varchar) as timestamp_raw,
        {{ parse_timestamp(raw_column(cols.get('date', 'date')), src.get('date_format')) }} as event_ts,
        cast({{ raw_column(cols.get('quantity', 'quantity')) }} as varchar) as quantity_raw,
        try_cast({{ raw_column(cols.get('quantity', 'quantity')) }} as double) as quantity,
        try_cast({{ raw_column(cols.get('price')) }} as double) as unit_price,
        nullif(trim(cast({{ raw_column(cols.get('region')) }} as varchar)), '') as region,
        nullif(trim(cast({{ raw_column(cols.get('category')) }} as varchar)), '') as category,
        {{- known_future_columns(src) }}
    from source

),

final as (

    select
        '{{ src.get('name', 'sales') }}' as source_name,
        'sales' as source_kind,
        '{{ src.get('granularity', 'daily') }}' as granularity,
        *,
    from renamed

)

select * from final
