{#-
    The first `when` branches of a tabular source's `row_reason` (order lines, sales): the
    checks every row of a table with an item, a text timestamp and a quantity must pass, in
    the order their reasons are given (the quantity's by the common policy, `number_reasons`,
    up to `max_abs_quantity` either way). The model adds its own branches after them.
-#}
{% macro tabular_row_reasons(max_abs_quantity=1000000000) -%}
            when item_id is null then 'missing_item_id'
            when timestamp_raw is null or trim(timestamp_raw) = '' then 'missing_timestamp'
            when event_ts is null then 'unparseable_timestamp'
            when {{ outside_valid_window('event_ts') }} then 'timestamp_out_of_range'
            {{ number_reasons('quantity', 'quantity_raw', 'quantity', low=-max_abs_quantity, high=max_abs_quantity) }}
{%- endmacro %}
