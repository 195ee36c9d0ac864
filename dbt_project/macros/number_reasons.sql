{#-
    The quarantine policy of one numeric value, the same for every source kind: `when`
    branches of a model's `row_reason`, in this order, each with its reason:
      - `missing_<role>`: the raw value is null or blank (only when `required`);
      - `unparseable_<role>`: a raw value is there but is not a number ('abc', 'n/a');
      - `nan_<role>`: NaN ('NaN', 'nan'): DuckDB orders NaN above every number, so no range
        check would catch it;
      - `infinite_<role>`: 'inf', '-Infinity', or a number too large for a double (1e400);
      - `below_reason` / `above_reason` (default `<role>_out_of_range`): outside
        [`low`, `high`] (either bound optional).
    `raw`: the raw text (null when the source has none: unparseable is then not told apart
    from missing); `value`: the parsed double.
-#}
{% macro number_reasons(role, raw, value, required=true, low=none, high=none, below_reason=none, above_reason=none) -%}
    {%- if raw is not none %}
        {%- if required %}
            when {{ raw }} is null or trim(cast({{ raw }} as varchar)) = '' then 'missing_{{ role }}'
        {%- endif %}
            when {{ value }} is null and {{ raw }} is not null and trim(cast({{ raw }} as varchar)) <> '' then 'unparseable_{{ role }}'
    {%- elif required %}
            when {{ value }} is null then 'missing_{{ role }}'
    {%- endif %}
            when isnan({{ value }}) then 'nan_{{ role }}'
            when isinf({{ value }}) then 'infinite_{{ role }}'
    {%- if low is not none %}
            when {{ value }} < {{ low }} then '{{ below_reason or (role ~ "_out_of_range") }}'
    {%- endif %}
    {%- if high is not none %}
            when {{ value }} > {{ high }} then '{{ above_reason or (role ~ "_out_of_range") }}'
    {%- endif %}
{%- endmacro %}
