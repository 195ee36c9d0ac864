{#-
    The quarantine skeleton every `int_*_classified` model shares. `relation` holds one row
    per raw row with `row_reason` (null for a usable row) and its `raw_record`; what comes out
    is every row read, with
      - `quarantine_reason`: `row_reason`, or 'duplicate' for a second (third...) copy of a
        usable row, or null for the row kept;
      - `raw_record`: the raw record of a row set aside for its reason, a JSON object of
        `record` (label -> column) for a duplicate, null for a kept row.
    A copy is a row with the same `keys`. Two ways to find them:
      - `merge` none: number the copies (a window over `keys`, first by `order_by`) and keep
        the first; each copy keeps its own other columns;
      - `merge` a mapping column -> aggregate (every other column the model needs): group the
        copies in one pass and keep one row that merges them (votes only grow between two
        exports of a review: max). Cheaper than a window on large files.
    Rows set aside for a reason are never merged: each comes back as many times as it was read.
-#}
{% macro quarantine_copies(relation, keys, record, order_by=none, merge=none) -%}
    {%- set copy_record -%}
        cast(json_object(
            {%- for label, column in record.items() %}'{{ label }}', {{ column }}{{ ", " if not loop.last }}{% endfor -%}
        ) as varchar)
    {%- endset -%}
    {%- if merge is none -%}
    select
        * exclude (row_reason, copy_number, raw_record),
        case
            when row_reason is not null then row_reason
            when copy_number > 1 then 'duplicate'
        end as quarantine_reason,
        case
            when row_reason is not null then raw_record
            when copy_number > 1 then {{ copy_record }}
        end as raw_record,
    from (
        select
            * replace (case when row_reason is not null then raw_record end as raw_record),
            row_number() over (
                partition by row_reason, {{ keys | join(', ') }}
                {%- if order_by %} order by {{ order_by }}{% endif %}
            ) as copy_number,
        from {{ relation }}
    )
    {%- else -%}
    {%- set group_keys = ['row_reason'] + keys + ['raw_record'] -%}
    with grouped as (
        select
            {{ group_keys | join(', ') }},
            count(*) as n_copies,
            {%- for column, aggregate in merge.items() %}
            {{ aggregate }}({{ column }}) as {{ column }},
            {%- endfor %}
        from (
            -- the raw line only where the row is set aside: carrying every line through the
            -- grouping would cost more than the rest of the model
            select * replace (case when row_reason is not null then raw_record end as raw_record)
            from {{ relation }}
        )
        group by {{ group_keys | join(', ') }}
    )
    select * exclude (row_reason, n_copies), cast(null as varchar) as quarantine_reason,
    from grouped
    where row_reason is null
    union all by name
    -- every row set aside, as many times as it was read
    select * exclude (row_reason, n_copies, copy), row_reason as quarantine_reason,
    from (select *, unnest(range(n_copies)) as copy from grouped where row_reason is not null)
    union all by name
    -- the second and later copies of a kept row: the record names the row kept
    select
        * exclude (row_reason, n_copies, copy, raw_record),
        'duplicate' as quarantine_reason,
        {{ copy_record }} as raw_record,
    from (select *, unnest(range(n_copies - 1)) as copy from grouped where row_reason is null and n_copies > 1)
    {%- endif -%}
{%- endmacro %}
