{#-
    A DuckDB table function reading a raw source in place (files are never modified).
    - parquet: typed columns, union by name over several files;
    - csv: every column as text, so that casts in staging can set unparseable values aside, in
      the source's `encoding` (UTF-8 unless `latin-1` or `utf-16` is declared);
      a line with too many or too few columns is skipped here and quarantined with its line
      number (macro `rejected_lines`);
    - jsonl: one text column `json_line` per line (gzip detected from the extension), so a
      malformed line becomes a quarantined row instead of failing or vanishing;
    - excel: the Parquet copies of a workbook's sheets (darkhorse/app/workbooks.py): every cell
      as text, as a CSV reads, and `filename` naming the workbook and the sheet.
    Every reader adds `filename` (the excel copies carry theirs).
-#}
{% macro read_raw(kind) -%}
    {%- set src = raw_source(kind) -%}
    {%- if src is none -%}
        {#- models of unconfigured kinds are disabled, but dbt still renders them while parsing -#}
        {%- if execute -%}
            {{ exceptions.raise_compiler_error("raw source kind '" ~ kind ~ "' is not configured (var raw_sources)") }}
        {%- endif -%}
        {%- do return("(select null as json_line, null as filename)") -%}
    {%- endif -%}
    {{- read_files(src['paths'], src.get('format', 'parquet'), src.get('encoding', 'utf-8'), kind) -}}
{%- endmacro %}

{#-
    A source's plan files (config `plan`, dbt var raw_sources.<kind>.plan): CSV or Parquet, read
    as read_raw reads the source's own files of that format. The preflight checked every row.
-#}
{% macro read_plan(kind) -%}
    {%- set plan = (raw_source(kind) or {}).get('plan') -%}
    {%- if plan is none -%}
        {%- if execute -%}
            {{ exceptions.raise_compiler_error("raw source kind '" ~ kind ~ "' has no plan (var raw_sources)") }}
        {%- endif -%}
        {%- do return("(select null as filename)") -%}
    {%- endif -%}
    {{- read_files(plan['paths'], plan['format'], (raw_source(kind) or {}).get('encoding', 'utf-8'), kind) -}}
{%- endmacro %}

{#- The DuckDB table function of files `paths` in format `fmt` (read_raw's readers). -#}
{% macro read_files(paths, fmt, encoding, kind) -%}
    {%- set files -%}
        [{%- for p in paths -%}'{{ p | replace("'", "''") }}'{{ ", " if not loop.last }}{%- endfor -%}]
    {%- endset -%}
    {%- if fmt == 'parquet' -%}
        read_parquet({{ files }}, filename = true, union_by_name = true)
    {%- elif fmt == 'csv' -%}
        read_csv({{ files }}, header = true, all_varchar = true, filename = true, union_by_name = true,
                 ignore_errors = true
                 {%- if encoding != 'utf-8' %}, encoding = '{{ encoding }}'{% endif %})
    {%- elif fmt == 'excel' -%}
        read_parquet({{ files }}, union_by_name = true)
    {%- elif fmt == 'jsonl' -%}
        read_csv({{ files }}, columns = {'json_line': 'VARCHAR'}, header = false, delim = chr(31),
                 quote = '', escape = '', auto_detect = false, filename = true,
                 max_line_size = 67108864)
    {%- else -%}
        {{ exceptions.raise_compiler_error("raw source '" ~ kind ~ "': unknown format '" ~ fmt ~ "'") }}
    {%- endif -%}
{%- endmacro %}
