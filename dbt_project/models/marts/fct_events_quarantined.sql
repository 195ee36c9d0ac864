{#- One row per raw row set aside, with its reason and the raw record as JSON. -#}

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

)

select * from final
