{#- A raw column by the user's name (quoted), or a typed null when the config maps none. -#}
{% macro raw_column(name, null_type='varchar') -%}
    {%- if name is none or name == '' -%}
        cast(null as {{ null_type }})
    {%- else -%}
        "{{ name | replace('"', '""') }}"
    {%- endif -%}
{%- endmacro %}
