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
            when event_ts is null or {{ outside_valid_window('event_ts') }} then 'timestamp_out_of_range'
            when rating_raw is not null and (rating is null or rating < 1 or rating > 5) then 'rating_out_of_range'
        end as row_reason,
        -- the raw line is kept only where the row is set aside (carrying every line through
        -- the duplicate search would cost more than the rest of the model)
        case when row_reason is not null then raw_record end as raw_record,
    from reviews

),

grouped as (

    -- one pass finds the copies: the same review exported more than once counts once (a
    -- window numbering every row costs about as much again as parsing the file). Rows set
    -- aside group on their raw line too, so each of them comes back below.
    select
        row_reason,
        item_id,
        variant_id,
        customer_id,
        timestamp_raw,
        rating_raw,
        title,
        raw_record,
        count(*) as n_copies,
        any_value(source_name) as source_name,
        any_value(source_kind) as source_kind,
        min(source_file) as source_file,
        -- equal raw timestamp and rating give equal parsed values; for the rest take the
        -- most informative copy (votes only grow between exports)
        any_value(event_ts) as event_ts,
        any_value(rating) as rating,
        max(helpful_votes) as helpful_votes,
        bool_or(is_verified) as is_verified,
        bool_or(has_images) as has_images,
    from checked
    group by row_reason, item_id, variant_id, customer_id, timestamp_raw, rating_raw, title, raw_record

),

kept as (

    select
        * exclude (row_reason, n_copies),
        cast(null as varchar) as quarantine_reason,
    from grouped
    where row_reason is null

),

set_aside as (

    -- every row set aside, as many times as it was read
    select
        * exclude (row_reason, n_copies, copy, raw_record),
        row_reason as quarantine_reason,
        raw_record,
    from (select *, unnest(range(n_copies)) as copy from grouped where row_reason is not null)

),

extra_copies as (

    select
        * exclude (row_reason, n_copies, copy, raw_record),
        'duplicate' as quarantine_reason,
        -- a second copy: its key identifies the review kept in the panel
        cast(json_object(
            'item_id', item_id, 'variant_id', variant_id, 'customer_id', customer_id,
            'timestamp', timestamp_raw, 'rating', rating_raw, 'title', title) as varchar) as raw_record,
    from (select *, unnest(range(n_copies - 1)) as copy from grouped where row_reason is null and n_copies > 1)

),

classified as (

    select * from kept
    union all by name
    select * from set_aside
    union all by name
    select * from extra_copies

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
