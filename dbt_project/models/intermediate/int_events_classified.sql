{{ config(materialized='table') }}

{#-
    Every raw row of every configured item source, in one event shape, with
    `quarantine_reason` null for kept events. Materialized once so that the raw files are
    read once per run; the panel reads kept events, the quarantine mart the others.
    The shape (columns, types, order) is declared once below; each int_*_classified model
    gives the columns its source has and the union leaves the others null.
    A config with a request_log source and no item source builds the weekly models empty
    (their columns, no row), as fct_series_intervals is empty without a request log.
-#}
{%- set kinds = [] -%}
{%- for kind in ['amazon_reviews', 'order_lines', 'sales'] if raw_source(kind) is not none %}{% do kinds.append(kind) %}{% endfor -%}
{%- if kinds | length == 0 and raw_source('request_log') is none -%}
    {{ exceptions.raise_compiler_error("no source configured: var raw_sources needs amazon_reviews, order_lines, sales or request_log") }}
{%- endif %}

with

event_shape as (

    select
        cast(null as varchar) as source_name,
        cast(null as varchar) as source_kind,
        cast(null as varchar) as source_file,
        cast(null as varchar) as event_type,
        cast(null as varchar) as item_id,
        cast(null as varchar) as variant_id,
        cast(null as varchar) as invoice_id,
        cast(null as varchar) as customer_id,
        cast(null as varchar) as region,
        cast(null as varchar) as description,
        cast(null as timestamp) as event_ts,
        cast(null as timestamp) as covered_from,
        cast(null as timestamp) as covered_until,
        cast(null as double) as quantity,
        cast(null as double) as unit_price,
        cast(null as double) as revenue,
        cast(null as double) as rating,
        cast(null as integer) as helpful_votes,
        cast(null as boolean) as is_verified,
        cast(null as boolean) as has_images,
        cast(null as boolean) as is_price_invalid,
        cast(null as varchar) as quarantine_reason,
        cast(null as varchar) as raw_record,
    where false

),

unioned as (

    select * from event_shape
    {% for kind in kinds -%}
    {%- set known = known_future_names(raw_source(kind)) %}
    union all by name
    -- the known-future values stay with fct_item_week_covariates, out of the event shape
    select *{% if known %} exclude ({{ known | join(', ') }}){% endif %} from {{ ref(classified_model(kind)) }}
    {% endfor %}

),

final as (

    select
        *,
        timezone('UTC', event_ts) as event_at,
        {{ week_start('event_ts') }} as week_start,
    from unioned

)

select * from final
