{#-
    One row per row of the item sources' plan files (config `plan`): planned values of the
    source's known-future columns (`kf__<name>`, null where the file has no such column or the
    cell is blank), by item and week. fct_item_week_covariates reads them where the source's
    kept rows give a week no value. The preflight of `darkhorse build` refuses a plan file with
    a row it could not read (no item, a date that does not parse, a value that is not a number).
-#}
{%- set planned = [] -%}
{%- for kind, src in var('raw_sources', {}).items() if src.get('plan') -%}
    {%- do planned.append(kind) -%}
{%- endfor -%}
{{ config(enabled=planned | length > 0) }}

with

{%- for kind in planned %}
{%- set src = raw_source(kind) %}
{%- set cols = src.get('columns', {}) %}

plan_{{ loop.index }} as (

    select
        '{{ src.get('name', kind) }}' as source_name,
        '{{ kind }}' as source_kind,
        filename as source_file,
        {{ item_id_column(cols.get('item_id', 'item_id'), src.get('item_id_separator', '_')) }} as item_id,
        {%- if kind == 'sales' %}
        {{ parse_timestamp(raw_column(cols.get('date', 'date')), src.get('date_format')) }} as event_ts,
        {%- else %}
        {{ parse_timestamp(raw_column(cols.get('timestamp')), src.get('timestamp_format'), src.get('timezone', 'UTC')) }} as event_ts,
        {%- endif %}
        {%- for c in src.get('known_future', []) if c.get('column') %}
        {#- by key: a plan file may hold some of the source's columns only #}
        {%- set cell = "json_extract_string(to_json(plan), '$.\"" ~ (c['column'] | replace("'", "''")) ~ "\"')" %}
        {{ flag_number(number_text(cell, src.get('decimal', '.'), src.get('thousands'))) }} as {{ known_future_column(c['name']) }},
        {%- endfor %}
    from {{ read_plan(kind) }} as plan

),
{%- endfor %}

unioned as (

    {%- for kind in planned %}
    select * from plan_{{ loop.index }}
    {{ "union all by name" if not loop.last }}
    {%- endfor %}

),

final as (

    select
        source_name,
        source_kind,
        source_file,
        item_id,
        event_ts,
        {{ week_start('event_ts') }} as week_start,
        * exclude (source_name, source_kind, source_file, item_id, event_ts),
    from unioned
    where item_id is not null and event_ts is not null

)

select * from final
