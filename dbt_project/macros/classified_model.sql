{#- The int_*_classified model of an item source kind: one row per raw row, with its quarantine reason. -#}
{% macro classified_model(kind) -%}
    {{- return({
        'amazon_reviews': 'int_reviews_classified',
        'order_lines': 'int_order_lines_classified',
        'sales': 'int_sales_classified',
    }[kind]) -}}
{%- endmacro %}
