{#-
    A catalogue value as text: trimmed, empty as null. `record` is a JSON object (a JSON Lines
    catalogue) or null for a table's column `column`. A JSON list (Amazon's `categories`, or
    `features` and `description` written as paragraphs) is read as its non-empty elements
    joined with `separator`; a table's list column the same way; anything else as its text.
-#}
{% macro catalog_value(key, separator, record=none) -%}
    {%- if key is none or key == '' -%}
        cast(null as varchar)
    {%- elif record is not none -%}
        {%- set path = "'$.\"" ~ (key | replace("'", "''") | replace('"', '\\"')) ~ "\"'" -%}
        case json_type(json_extract({{ record }}, {{ path }}))
            when 'ARRAY' then nullif(array_to_string(list_filter(list_transform(
                from_json(json_extract({{ record }}, {{ path }}), '["VARCHAR"]'),
                x -> nullif(trim(x), '')), x -> x is not null), '{{ separator }}'), '')
            else nullif(trim(json_extract_string({{ record }}, {{ path }})), '')
        end
    {%- else -%}
        nullif(trim(cast({{ raw_column(key) }} as varchar)), '')
    {%- endif -%}
{%- endmacro %}
