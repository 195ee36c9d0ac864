{{ config(enabled=var('raw_sources', {}).get('sales') is not none) }}

{%- set src = raw_source('sales') or {} -%}
{%- set cols = src.get('columns', {}) -%}
{%- set item_cols = cols.get('item_id', 'item_id') -%}
{%- set item_cols = [item_cols] if item_cols is string else item_cols -%}
{#- a wide table (darkhorse.core.wide): one row per item, one column per period -#}
{%- set wide = src.get('wide') -%}

with

raw as (

    select * from {{ read_raw('sales') }}

),

source as (

    {%- if wide %}
    -- every filled period cell becomes a row (macro wide_cells)
    {{ wide_cells('raw', wide) }}
    {%- else %}
    select * from raw
    {%- endif %}

),

renamed as (

    select
        filename as source_file,
        {%- if wide %}
        -- the item's columns and the one cell, not the whole wide row
        json_object({% for c in item_cols %}'{{ c | replace("'", "''") }}', {{ raw_column(c) }}, {% endfor %}period_column, cell) as raw_record,
        {%- else %}
        to_json(source) as raw_record,
        {%- endif %}
        -- several columns name the item (store x department): joined with '_', null if any is
        {{ item_id_column(item_cols, src.get('item_id_separator', '_')) }} as item_id,
        {%- if wide and wide.get('first_date') %}
        -- the last number of the column name counts periods from the smallest one, dated first_date
        strftime({{ wide_period_date(wide) }}, '%Y-%m-%d') as timestamp_raw,
        cast({{ wide_period_date(wide) }} as timestamp) as event_ts,
        {%- elif wide %}
        -- the column name is the period's date
        period_column as timestamp_raw,
        {{ parse_timestamp('period_column', src.get('date_format')) }} as event_ts,
        {%- else %}
        cast({{ raw_column(cols.get('date', 'date')) }} as varchar) as timestamp_raw,
        {{ parse_timestamp(raw_column(cols.get('date', 'date')), src.get('date_format')) }} as event_ts,
        {%- endif %}
        {%- if wide %}
        cell as quantity_raw,
        try_cast({{ number_text('cell', src.get('decimal', '.'), src.get('thousands')) }} as double) as quantity,
        {%- else %}
        cast({{ raw_column(cols.get('quantity', 'quantity')) }} as varchar) as quantity_raw,
        try_cast({{ number_text(raw_column(cols.get('quantity', 'quantity')), src.get('decimal', '.'), src.get('thousands')) }} as double) as quantity,
        {%- endif %}
        try_cast({{ number_text(raw_column(cols.get('price')), src.get('decimal', '.'), src.get('thousands')) }} as double) as unit_price,
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
