{{ config(enabled=var('raw_sources', {}).get('amazon_reviews') is not none) }}

{#- One row per review line: a kept review event, or a quarantined row with its reason. -#}

with

reviews as (

    select * from {{ ref('stg_amazon_reviews__reviews') }}

),

checked as (

    select
        *,
        case
            when not is_valid_json then 'malformed_json'
            when item_id is null then 'missing_item_id'
            -- numbers by the common policy (number_reasons): missing, unparseable, NaN,
            -- infinite, out of range; an epoch too large for a timestamp (1e300) is out of range
            {{ number_reasons('timestamp', 'timestamp_raw', 'try_cast(timestamp_raw as double)') }}
            when event_ts is null or {{ outside_valid_window('event_ts') }} then 'timestamp_out_of_range'
            {{ number_reasons('rating', 'rating_raw', 'rating', required=false, low=1, high=5) }}
            {{ number_reasons('helpful_votes', 'helpful_votes_raw', 'try_cast(helpful_votes_raw as double)',
                              required=false, low=0, below_reason='negative_helpful_votes') }}
        end as row_reason,
    from reviews

),

classified as (

    -- the same review exported more than once counts once; copies are merged in one pass (a
    -- window numbering every row costs about as much again as parsing the file): equal raw
    -- timestamp and rating give equal parsed values, for the rest the most informative copy
    {{ quarantine_copies(
        'checked',
        keys=['item_id', 'variant_id', 'customer_id', 'timestamp_raw', 'rating_raw', 'title'],
        record={'item_id': 'item_id', 'variant_id': 'variant_id', 'customer_id': 'customer_id',
                'timestamp': 'timestamp_raw', 'rating': 'rating_raw', 'title': 'title'},
        merge={'source_name': 'any_value', 'source_kind': 'any_value', 'source_file': 'min',
               'event_ts': 'any_value', 'rating': 'any_value', 'helpful_votes': 'max',
               'is_verified': 'bool_or', 'has_images': 'bool_or'},
    ) }}

),

final as (

    select
        source_name,
        source_kind,
        source_file,
        'review' as event_type,
        item_id,
        variant_id,
        customer_id,
        event_ts,
        cast(date_trunc('day', event_ts) as timestamp) as covered_from,
        cast(date_trunc('day', event_ts) + interval 1 day as timestamp) as covered_until,
        cast(1 as double) as quantity,
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
