{#-
    One row per source per outcome: what a run read, kept (in the panel, or in a partial first or
    last week outside it; a catalogue's one listing per item) and set aside, with a count per
    reason. Nothing is dropped silently.
-#}

with

events as (

    select * from {{ ref('int_events_classified') }}

),

calendar as (

    select * from {{ ref('int_dataset_calendar') }}

),

outcomes as (

    select
        events.source_name,
        events.source_kind,
        case
            when events.quarantine_reason is not null then 'quarantined'
            when events.week_start < calendar.first_complete_week then 'partial_first_week'
            when events.week_start > calendar.last_complete_week then 'partial_last_week'
            else 'kept'
        end as outcome,
        coalesce(events.quarantine_reason, '') as reason,
    from events
    cross join calendar
    {%- if raw_source('catalog') is not none %}

    union all

    -- catalogue records: a listing kept or set aside (they are not dated)
    select
        source_name,
        source_kind,
        case when quarantine_reason is null then 'kept' else 'quarantined' end as outcome,
        coalesce(quarantine_reason, '') as reason,
    from {{ ref('int_catalog_classified') }}
    {%- endif %}

),

final as (

    select
        source_name,
        source_kind,
        outcome,
        reason,
        count(*) as n_rows,
    from outcomes
    group by all
    order by source_name, outcome, reason

)

select * from final
