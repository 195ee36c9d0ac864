{{ config(enabled=var('raw_sources', {}).get('catalog') is not none) }}

{#-
    One row per catalogue record (a JSON Lines object, or a table's row): the item it describes
    and what it says about it, as text. Malformed records keep their raw text for the quarantine.
-#}
{%- set src = raw_source('catalog') or {} -%}
{%- set cols = src.get('columns', {}) -%}
{%- set seps = src.get('separators', {}) -%}
{%- set text_keys = cols.get('text') -%}
{%- if text_keys is none -%}{%- set text_keys = [] -%}{%- elif text_keys is string -%}{%- set text_keys = [text_keys] -%}{%- endif -%}
{%- set json = src.get('format') == 'jsonl' -%}

with

source as (

    select * from {{ read_raw('catalog') }}

),

records as (

    {%- if json %}
    select
        filename as source_file,
        json_line as raw_record,
        coalesce(json_type(case when json_valid(json_line) then json_line else 'null' end) = 'OBJECT', false) as is_valid_record,
        case when is_valid_record then json_line else '{}' end as record,
    from source
    where json_line is not null and (length(json_line) > 16 or trim(json_line) <> '')
    {%- else %}
    select
        *,
        filename as source_file,
        to_json(source) as raw_record,
        true as is_valid_record,
    from source
    {%- endif %}

),

extracted as (

    {%- set record = 'record' if json else none %}
    select
        source_file,
        cast(raw_record as varchar) as raw_record,
        is_valid_record,
        {{ catalog_value(cols.get('item_id'), '', record) }} as item_id,
        {{ catalog_value(cols.get('title'), seps.get('text', ' '), record) }} as title,
        {{ catalog_value(cols.get('category'), seps.get('category', ' > '), record) }} as category,
        {{ catalog_value(cols.get('brand'), seps.get('text', ' '), record) }} as brand,
        {%- if text_keys %}
        nullif(concat_ws('{{ seps.get('text', ' ') }}'
            {%- for k in text_keys %}, {{ catalog_value(k, seps.get('text', ' '), record) }}{% endfor %}), '') as item_text,
        {%- else %}
        cast(null as varchar) as item_text,
        {%- endif %}
    from records

),

final as (

    select
        '{{ src.get('name', 'catalog') }}' as source_name,
        'catalog' as source_kind,
        *,
    from extracted

)

select * from final
