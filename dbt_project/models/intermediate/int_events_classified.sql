{{ config(materialized='table') }}

{#-
    Every raw row of every configured item source, in one event shape, with
    `quarantine_reason` null for kept events. Materialized once so that the raw files are
    read once per run; the panel reads kept events, the quarantine mart the others.
-#}
{%- set parts = [] -%}
{%- if raw_source('amazon_reviews') is not none %}{% do parts.append('int_reviews_classified') %}{% endif -%}
{%- if raw_source('order_lines') is not none %}{% do parts.append('int_order_lines_classified') %}{% endif -%}
{%- if raw_source('sales') is not none %}{% do parts.append('int_sales_classified') %}{% endif -%}
{%- if parts | length == 0 -%}
    {{ exceptions.raise_compiler_error("no item source configured: var raw_sources needs amazon_reviews, order_lines or sales") }}
{%- endif %}

with

unioned as (

    {% for part in parts -%}
    select * from {{ ref(part) }}
    {% if not loop.last %}union all by name
    {% endif -%}
    {%- endfor %}

),

final as (

    select
        *,
        timezone('UTC', event_ts) as event_at,
        {{ week_start('event_ts') }} as week_start,
    from unioned

)

select * from final
