{#-
    The kept events (quarantine_reason is null) of `int_events_classified` whose week lies
    inside the dataset's complete weeks (`int_dataset_calendar`): the rows the item and the
    sale-event panels start from. A select, to be wrapped in a CTE.
-#}
{% macro complete_week_events() -%}
    select events.*
    from {{ ref('int_events_classified') }} as events
    inner join {{ ref('int_dataset_calendar') }} as calendar
        on events.week_start between calendar.first_complete_week and calendar.last_complete_week
    where events.quarantine_reason is null
{%- endmacro %}
