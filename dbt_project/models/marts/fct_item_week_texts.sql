{#-
    The text written about an item in a week: one row per item per week with text. Order
    lines give their descriptions (each distinct description once), reviews their titles and
    bodies (oldest first); a catalogue its title and descriptive text, in the week of the item's
    first kept event (a listing is not dated: it describes the item from its launch on). At most `text_max_chars` characters are kept. `available_at` (the
    week's close) is when the row may be read: the text known at an origin is every row with
    available_at at or before the origin's close.
-#}
{%- set g = var('graph') -%}
{%- set reviews = raw_source('amazon_reviews') or {} -%}
{%- set catalog = raw_source('catalog') is not none -%}
{%- set body_key = g['review_text_key'] | replace("'", "''") -%}

with

events as (

    select * from {{ ref('int_events_classified') }}

),

pieces as (

    -- order lines: the description of every kept sale
    select
        item_id,
        week_start,
        event_ts,
        description as piece,
    from events
    where quarantine_reason is null
        and event_type = 'sale'
    {%- if reviews %}

    union all

    -- reviews: title and body from the staged record (the classified events keep the raw
    -- record of set-aside rows only); rows the panel sets aside have no item or time
    select
        item_id,
        {{ week_start('event_ts') }} as week_start,
        event_ts,
        nullif(trim(concat_ws(' ', title, json_extract_string(raw_record, '$."{{ body_key }}"'))), '') as piece,
    from {{ ref('stg_amazon_reviews__reviews') }}
    where is_valid_json
        and item_id is not null
        and event_ts is not null
        and not {{ outside_valid_window('event_ts') }}
    {%- endif %}
    {%- if catalog %}

    union all

    -- the catalogue's listing, at the item's first kept event
    select
        firsts.item_id,
        {{ week_start('firsts.first_ts') }} as week_start,
        firsts.first_ts as event_ts,
        nullif(concat_ws(' ', listings.title, listings.item_text), '') as piece,
    from (
        select item_id, min(event_ts) as first_ts,
        from events
        where quarantine_reason is null
        group by item_id
    ) as firsts
    inner join {{ ref('int_item_listings') }} as listings
        on listings.item_id = firsts.item_id
    {%- endif %}

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
