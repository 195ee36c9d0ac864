{{ config(enabled=var('raw_sources', {}).get('sales') is not none) }}
{%- set src = raw_source('sales') or {} -%}

{#-
    One row per sales row: a sale event, or a quarantined row with its reason. In a weekly
    source each row covers its whole week (whatever weekday it is dated by), the last included.
-#}

with

sales as (

    select * from {{ ref('stg_sales__sales') }}

),

checked as (

    select
        *,
        case
            {{ tabular_row_reasons() }}
            when quantity < 0 then 'negative_quantity'
            {#- the price has no raw text here: an unparseable price is a missing one (kept) #}
            {{ number_reasons('unit_price', none, 'unit_price', required=false) }}
        end as row_reason,
    from sales

),

classified as (

    -- one row per item (and region) per date; a second row for the same key is a copy
    {{ quarantine_copies(
        'checked',
        keys=['item_id', 'region', 'timestamp_raw'],
        order_by='source_file',
        record={'item_id': 'item_id', 'region': 'region', 'date': 'timestamp_raw', 'quantity': 'quantity_raw'},
    ) }}

),

final as (

    select
        source_name,
        source_kind,
        source_file,
        'sale' as event_type,
        item_id,
        region,
        event_ts,
        case
            when granularity = 'weekly' then cast({{ week_start('event_ts') }} as timestamp)
            else cast(date_trunc('day', event_ts) as timestamp)
        end as covered_from,
        case
            when granularity = 'weekly'
                then cast({{ week_start('event_ts') }} + interval 7 day as timestamp)
            else cast(date_trunc('day', event_ts) + interval 1 day as timestamp)
        end as covered_until,
        quantity,
        unit_price,
        case when unit_price > 0 then quantity * unit_price end as revenue,
        coalesce(unit_price <= 0, false) as is_price_invalid,
        quarantine_reason,
        -- text, as every source's: a JSON-typed column would make the union parse every
        -- source's raw lines as JSON, the malformed ones included
        cast(raw_record as varchar) as raw_record,
        -- known-future values (config `known_future`): fct_item_week_covariates reads them
        {%- for name in known_future_names(src) %}
        {{ name }},
        {%- endfor %}
    from classified

)

select * from final
union all by name
-- lines of a CSV file its reader skipped (wrong number of columns), with their line numbers
select * from ({{ rejected_lines('sales') }})
