{#-
    The text written about an item in a week: one row per item per week with text. Order
    lines give their descriptions (each distinct description once), reviews their titles and
    bodies (oldest first). At most `text_max_chars` characters are kept. `available_at` (the
    week's close) is when the row may be read: the text known at an origin is every row with
    available_at at or before the origin's close.
-#}
{%- set g = var('graph') -%}
{%- set reviews = raw_source('amazon_reviews') or {} -%}
{%- set title_key = (reviews.get('columns', {}).get('title') or 'title') | replace("'", "''") -%}
{%- set body_key = g['review_text_key'] | replace("'", "''") -%}

with

events as (

    select * from {{ ref('int_events_classified') }}

),

pieces as (

    select
        item_id,
        week_start,
        event_ts,
        case
            when source_kind = 'amazon_reviews' then nullif(trim(concat_ws(' ',
                json_extract_string(raw_record, '$."{{ title_key }}"'),
                json_extract_string(raw_record, '$."{{ body_key }}"'))), '')
            else description
        end as piece,
    from events
    where quarantine_reason is null
        and event_type in ('sale', 'review')

),

distinct_pieces as (

    select
        item_id,
        week_start,
        piece,
        min(event_ts) as first_ts,
        count(*) as n_events,
    from pieces
    where piece is not null
    group by item_id, week_start, piece

),

final as (

    select
        item_id,
        week_start,
        timezone('UTC', cast(week_start + interval 7 day as timestamp)) as available_at,
        cast(sum(n_events) as integer) as n_texts,
        left(string_agg(piece, ' | ' order by first_ts, piece), {{ g['text_max_chars'] | int }}) as text,
    from distinct_pieces
    group by item_id, week_start

)

select * from final
