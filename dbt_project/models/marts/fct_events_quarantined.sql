{#- One row per raw row set aside (events and catalogue records), with its reason and the raw record as JSON. -#}

with

events as (

    select * from {{ ref('int_events_classified') }}

),

final as (

    select
        source_name,
        source_kind,
        source_file,
        quarantine_reason,
        item_id,
        event_at,
        raw_record,
    from events
    where quarantine_reason is not null
    {%- if raw_source('catalog') is not none %}

    union all

    -- catalogue records set aside (not events: no time)
    select
        source_name,
        source_kind,
        source_file,
        quarantine_reason,
        item_id,
        cast(null as timestamp with time zone) as event_at,
        raw_record,
    from {{ ref('int_catalog_classified') }}
    where quarantine_reason is not null
    {%- endif %}

)

select * from final
