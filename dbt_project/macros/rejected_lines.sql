{#-
    Quarantine rows for the lines of a CSV source that its reader skipped (too many or too
    few columns): `darkhorse build` finds them before dbt runs (DuckDB's reject table, the
    same reader options) and passes them as var `rejected_lines`: {kind: [[file, line,
    error, text], ...]}. One row per line, reason `malformed_line`, the raw record a JSON
    object of file, line number, error and the line's text. No rows when none were passed
    (also under a plain `dbt build`, which does not look for them).
-#}
{% macro rejected_lines(kind) -%}
    {%- set src = raw_source(kind) or {} -%}
    {%- set lines = var('rejected_lines', {}).get(kind, []) -%}
    select
        '{{ src.get('name', kind) | replace("'", "''") }}' as source_name,
        '{{ kind }}' as source_kind,
        file as source_file,
        'malformed_line' as quarantine_reason,
        cast(json_object('file', file, 'line', line, 'error', error, 'text', text) as varchar) as raw_record,
    from (
        {%- if lines %}
        values
        {%- for file, line, error, text in lines %}
            ('{{ file | replace("'", "''") }}', {{ line | int }}, '{{ error | replace("'", "''") }}', '{{ text | replace("'", "''") }}'){{ "," if not loop.last }}
        {%- endfor %}
        {%- else %}
        select null, null, null, null where false
        {%- endif %}
    ) as rejected(file, line, error, text)
{%- endmacro %}
