{#-
    One row: the weeks the data covers. A week is complete when the data covers every one of
    its days: daily and timestamped rows cover their day, weekly rows their whole week. A
    partial first or last week (the data starts or ends mid-week) is left out of the panel.
-#}

with

events as (

    select * from {{ ref('int_events_classified') }}
    where quarantine_reason is null

),

coverage as (

    select
        min(covered_from) as data_start,
        max(covered_until) as data_end,
    from events

),

final as (

    select
        data_start,
        data_end,
        -- the week holding data_start is complete only when data starts on its first day
        case
            when cast({{ week_start('data_start') }} as timestamp) = data_start
                then {{ week_start('data_start') }}
            else cast({{ week_start('data_start') }} + interval 7 day as date)
        end as first_complete_week,
        -- the week holding the instant data ends has not closed (or has just begun)
        cast({{ week_start('data_end') }} - interval 7 day as date) as last_complete_week,
    from coverage

)

select * from final
