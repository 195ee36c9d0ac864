{{ config(enabled=var('raw_sources', {}).get('amazon_reviews') is not none) }}

{#- One row per review line: a kept review event, or a quarantined row with its reason. -#}

with

reviews as (

    select * from {{ ref('stg_amazon_reviews__reviews') }}

),

checked as (

    select
        * exclude (raw_record),
        case
            when not is_valid_json then 'malformed_json'
            when item_id is null then 'missing_item_id'
            when timestamp_raw is null then 'missing_timestamp'
            when event_ts is null and try_cast(timestamp_raw as double) is null then 'unparseable_timestamp'
            when event_ts is null
                or event_ts < cast('{{ var("valid_from") }}' as timestamp)
                or event_ts >= cast('{{ var("valid_until") }}' as timestamp)
                then 'timestamp_out_of_range'
            when rating_raw is not null and (rating is null or rating < 1 or rating > 5) then 'rating_out_of_range'
        end as row_reason,
        -- the raw line is kept only where the row is set aside (carrying every line through
        -- the duplicate search would cost more than the rest of the model)
        case when row_reason is not null then raw_record end as raw_record,
    from reviews

),

ranked as (

    select
        *,
        -- the same review exported twice: keep the first copy
        row_number() over (
            partition by row_reason, item_id, variant_id, customer_id, timestamp_raw, rating_raw, title
        ) as copy_number,
    from checked

),

classified as (

    select
        * exclude (raw_record),
        case
            when row_reason is not null then row_reason
            when copy_number > 1 then 'duplicate'
        end as quarantine_reason,
        case
            when row_reason is not null then raw_record
            -- a second copy: its key identifies the review kept in the panel
            when copy_number > 1 then cast(json_object(
                'item_id', item_id, 'variant_id', variant_id, 'customer_id', customer_id,
                'timestamp', timestamp_raw, 'rating', rating_raw, 'title', title) as varchar)
        end as raw_record,
    from ranked

),

final as (

    select
        source_name,
        source_kind,
        source_file,
        'review' as event_type,
        item_id,
        variant_id,
        cast(null as varchar) as invoice_id,
        customer_id,
        cast(null as varchar) as region,
        cast(null as varchar) as description,
        event_ts,
        cast(date_trunc('day', event_ts) as timestamp) as covered_from,
        cast(date_trunc('day', event_ts) + interval 1 day as timestamp) as covered_until,
        cast(1 as double) as quantity,
        cast(null as double) as unit_price,
        cast(null as double) as revenue,
        rating,
        coalesce(helpful_votes, 0) as helpful_votes,
        is_verified,
        has_images,
        false as is_price_invalid,
        quarantine_reason,
        raw_record,
    from classified

)

select * from final
