{% test expression_is_true(model, expression, where_clause=none, column_name=none) %}
with final as (
    select *
    from {{ model }}
    where not coalesce(({{ expression }}), false)
    {%- if where_clause %} and ({{ where_clause }}){% endif %}
)

select * from final
{% endtest %}
