{{ config(materialized='table', enabled=var('raw_sources', {}).get('catalog') is not none) }}

{#-
    One row per catalogue record: a kept listing (`quarantine_reason` null: one per item), or a
    record set aside with its reason. Of several listings of one item the most complete is kept
    (most roles filled, then the longest text; ties by file and content, so the choice does not
    depend on the order files are read in); the others are `duplicate`.
-#}

with

staged as (

    select * from {{ ref('stg_catalog__items') }}

),

checked as (

    select
        *,
        case
            when not is_valid_record then 'malformed_json'
            when item_id is null then 'missing_item_id'
        end as row_reason,
    from staged

),

ranked as (

    select
        *,
        row_number() over (
            partition by item_id
            order by
                (title is not null)::int + (category is not null)::int + (brand is not null)::int
                    + (item_text is not null)::int desc,
                length(coalesce(item_text, '')) desc,
                source_file, title, category, brand, item_text, raw_record
        ) as listing,
    from checked
    where row_reason is null

),

classified as (

    select
        source_name, source_kind, source_file, item_id, title, category, brand, item_text, raw_record,
        case when listing > 1 then 'duplicate' end as quarantine_reason,
    from ranked

    union all by name

    select
        source_name, source_kind, source_file, item_id, title, category, brand, item_text, raw_record,
        row_reason as quarantine_reason,
    from checked
    where row_reason is not null

    union all by name

    select * from ({{ rejected_lines('catalog') }})

)

select * from classified
