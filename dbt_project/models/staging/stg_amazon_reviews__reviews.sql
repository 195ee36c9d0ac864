{{ config(enabled=var('raw_sources', {}).get('amazon_reviews') is not none) }}

{%- set src = raw_source('amazon_reviews') or {} -%}
{%- set cols = src.get('columns', {}) -%}
{%- set keys = ['item_id', 'variant_id', 'timestamp', 'rating', 'title', 'user_id', 'helpful_votes', 'verified', 'images'] -%}

with

source as (

    select * from {{ read_raw('amazon_reviews') }}

),

records as (

    select
        filename as source_file,
        json_line as raw_record,
        -- json functions raise on malformed input: they only ever see valid JSON
        coalesce(json_type(case when json_valid(json_line) then json_line else 'null' end) = 'OBJECT', false) as is_valid_json,
    from source
    -- blank lines are not records (a trailing newline, say); trim() copies every string,
    -- so it only looks at lines too short to hold a record
    where json_line is not null and (length(json_line) > 16 or trim(json_line) <> '')

),

extracted as (

    select
        source_file,
        raw_record,
        is_valid_json,
        json_extract_string(case when is_valid_json then raw_record else '{}' end, [
            {%- for k in keys %}
            {%- set name = cols.get(k) -%}
            '$."{{ (name or '__darkhorse_unmapped__') | replace("'", "''") }}"'{{ ", " if not loop.last }}
            {%- endfor %}
        ]) as fields,
        case when is_valid_json and {{ 'true' if cols.get('images') else 'false' }}
            then json_array_length(case when is_valid_json then raw_record else '{}' end, '$."{{ (cols.get('images') or 'images') | replace("'", "''") }}"')
        end as n_images,
    from records

),

renamed as (

    select
        source_file,
        raw_record,
        is_valid_json,
        nullif(trim(fields[1]), '') as item_id,
        nullif(trim(fields[2]), '') as variant_id,
        fields[3] as timestamp_raw,
        {{ epoch_to_timestamp('fields[3]', src.get('timestamp_unit', 'ms')) }} as event_ts,
        fields[4] as rating_raw,
        try_cast(fields[4] as double) as rating,
        fields[5] as title,
        nullif(trim(fields[6]), '') as customer_id,
        fields[7] as helpful_votes_raw,
        try_cast(fields[7] as integer) as helpful_votes,
        try_cast(fields[8] as boolean) as is_verified,
        coalesce(n_images, 0) > 0 as has_images,
    from extracted

),

final as (

    select
        '{{ src.get('name', 'amazon_reviews') }}' as source_name,
        'amazon_reviews' as source_kind,
        *,
    from renamed

)

select * from final
