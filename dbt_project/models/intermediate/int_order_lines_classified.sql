{{ config(enabled=var('raw_sources', {}).get('order_lines') is not none) }}

{#-
    One row per invoice line: a sale, a return (cancellation prefix or negative quantity),
    or a quarantined row with its reason. Zero or negative prices are kept and flagged.
-#}
{%- set src = raw_source('order_lines') or {} -%}
{%- set prefix = src.get('cancellation_prefix') -%}

with

lines as (

    select * from {{ ref('stg_order_lines__lines') }}

),

checked as (

    select
        *,
        {%- if prefix %}
        coalesce(starts_with(invoice_id, '{{ prefix | replace("'", "''") }}'), false) or quantity < 0 as is_return,
        {%- else %}
        quantity < 0 as is_return,
        {%- endif %}
        case
            {{ tabular_row_reasons(max_abs_quantity=1000000) }}
            when quantity = 0 then 'zero_quantity'
            {#- a zero or negative price is kept and flagged (is_price_invalid); one that is not a number is not #}
            {{ number_reasons('unit_price', 'unit_price_raw', 'unit_price', required=false) }}
            when {{ glob_any('item_id', src.get('non_product_codes', [])) }} then 'non_product_code'
        end as row_reason,
    from lines

),

classified as (

    -- a line exported twice (same invoice, item, quantity, time, price, customer) is a copy
    {{ quarantine_copies(
        'checked',
        keys=['invoice_id', 'item_id', 'quantity_raw', 'timestamp_raw', 'unit_price_raw', 'customer_id'],
        record={'invoice': 'invoice_id', 'item_id': 'item_id', 'quantity': 'quantity_raw',
                'timestamp': 'timestamp_raw', 'unit_price': 'unit_price_raw', 'customer_id': 'customer_id'},
    ) }}

),

final as (

    select
        source_name,
        source_kind,
        source_file,
        case when is_return then 'return' else 'sale' end as event_type,
        item_id,
        invoice_id,
        customer_id,
        region,
        description,
        event_ts,
        cast(date_trunc('day', event_ts) as timestamp) as covered_from,
        cast(date_trunc('day', event_ts) + interval 1 day as timestamp) as covered_until,
        abs(quantity) as quantity,
        unit_price,
        case when unit_price > 0 then abs(quantity) * unit_price else 0 end as revenue,
        coalesce(unit_price <= 0, true) as is_price_invalid,
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
select * from ({{ rejected_lines('order_lines') }})
