{#-
    The raw columns of a source's known-future covariates (config `known_future` entries with a
    `column`), carried as text under `kf__<name>` (a number's text as DuckDB casts it, by the
    source's separators: macro `number_text`); fct_item_week_covariates reads them from the
    source's int_*_classified model, on the rows the build keeps as sales.
-#}
{% macro known_future_columns(src) -%}
    {%- for c in (src or {}).get('known_future', []) if c.get('column') %}
        cast({{ number_text(raw_column(c['column']), src.get('decimal', '.'), src.get('thousands')) }} as varchar) as {{ known_future_column(c['name']) }},
    {%- endfor %}
{%- endmacro %}

{#- The `kf__<name>` columns of a source's known-future covariates; none: an empty list. -#}
{% macro known_future_names(src) -%}
    {%- set names = [] -%}
    {%- for c in (src or {}).get('known_future', []) if c.get('column') -%}
        {%- do names.append(known_future_column(c['name'])) -%}
    {%- endfor -%}
    {{- return(names) -}}
{%- endmacro %}

{#- The quoted column that carries the known-future covariate `name` from staging to the mart. -#}
{% macro known_future_column(name) -%}
    {{- return('"kf__' ~ name ~ '"') -}}
{%- endmacro %}

{#-
    A week's value of a known-future covariate with aggregate `agg` over the rows of `column`
    (a number; NaN and infinity count as no value): `last` is the latest row's (by event_ts).
    The mart aggregates a source's rows and its plan's alike.
-#}
{% macro known_future_agg(agg, column) -%}
    {%- set v = 'case when isfinite(' ~ column ~ ') then ' ~ column ~ ' end' -%}
    {%- if agg == 'last' -%}
        arg_max({{ v }}, event_ts) filter (where isfinite({{ column }}))
    {%- else -%}
        {{ {'mean': 'avg', 'min': 'min', 'max': 'max', 'sum': 'sum'}[agg] }}({{ v }})
    {%- endif -%}
{%- endmacro %}
