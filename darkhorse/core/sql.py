"""Small SQL builders shared by the preflight, the gate, the feature store and the benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def sql_str(value: str | Path) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_list(paths: str | Path | list[str] | list[Path]) -> str:
    """A SQL list of string literals (file paths for DuckDB's readers)."""
    if isinstance(paths, str | Path):
        paths = [paths]
    return "[" + ", ".join(sql_str(p) for p in paths) + "]"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# an ISO 8601 value that carries its offset after the time (`Z`, `+01:00`, `-0500`, `+01`)
ISO_OFFSET = r"\d:\d\d(:\d\d(\.\d+)?)?\s*(Z|[+-]\d\d(:?\d\d)?)$"
_SPACED_OFFSET = r"\s+([+-]\d\d:?\d\d|Z)$"  # `10:22:11 +0100`: the space dropped before DuckDB reads it


def parse_timestamp(expr: str, fmt: str | None = None, tz: str | None = "UTC") -> str:
    """A naive UTC timestamp from a text (or typed) value, as the dbt macro `parse_timestamp`
    computes it: strptime with `fmt` when given (a `%z` / `%Z` format reads each value's own
    offset), otherwise ISO 8601 (a value ending in an offset is read at it); any other value read
    in `tz`; converted to UTC; null when unparseable. tests/test_sql.py renders the macro and
    compares."""
    text = f"cast({expr} as varchar)"
    if fmt and ("%z" in fmt or "%Z" in fmt):
        return f"timezone('UTC', try_strptime({text}, {sql_str(fmt)}))"
    parsed = f"try_strptime({text}, {sql_str(fmt)})" if fmt else f"try_cast({expr} as timestamp)"
    if tz is not None and tz.upper() != "UTC":
        parsed = f"timezone('UTC', timezone({sql_str(tz)}, {parsed}))"
    if fmt:
        return parsed
    aware = f"timezone('UTC', try_cast(regexp_replace({text}, {sql_str(_SPACED_OFFSET)}, '\\1') as timestamptz))"
    return f"case when regexp_matches({text}, {sql_str(ISO_OFFSET)}) then {aware} else {parsed} end"


def number_text(expr: str, decimal: str = ".", thousands: str | None = None) -> str:
    """A CSV number's text as DuckDB casts it, as the dbt macro `number_text` builds it: the
    `thousands` grouping dropped, a decimal comma made a point (a point then left makes the
    value unparseable); `expr` unchanged by default. tests/test_sql.py renders the macro and
    compares."""
    if decimal == "." and not thousands:
        return expr
    text = f"trim(cast({expr} as varchar))"
    if thousands:
        text = f"replace({text}, {sql_str(thousands)}, '')"
    if decimal == ",":
        text = f"replace(replace({text}, '.', '#'), ',', '.')"
    return text


# the words a known-future flag may be written in, and their value (macro `flag_number`)
FLAG_WORDS = {"true": 1.0, "yes": 1.0, "y": 1.0, "false": 0.0, "no": 0.0, "n": 0.0}


def flag_number(expr: str) -> str:
    """A known-future cell's text as a number, as the dbt macro `flag_number` reads it: a number as
    itself, true/false, yes/no, y/n (any case, blanks trimmed) as 1/0, anything else null
    (tests/test_sql.py renders the macro and compares)."""
    words = " ".join(f"when {sql_str(w)} then {v}" for w, v in FLAG_WORDS.items())
    return f"coalesce(try_cast({expr} as double), case lower(trim({expr})) {words} end)"


def raw_reader(fmt: str, files: str | Path | list[str] | list[Path], *, name: Any = "source",
               encoding: str = "utf-8") -> str:
    """The DuckDB table function reading raw files as the dbt macro `read_raw` does:
    parquet typed, csv all text, jsonl one `json_line` per line, excel the text copies of a
    workbook's sheets; each adds `filename` (the excel copies carry it)
    (tests/test_sql.py renders the macro and compares)."""
    listed = sql_list(files)
    if fmt == "parquet":
        return f"read_parquet({listed}, filename = true, union_by_name = true)"
    if fmt == "csv":
        encoded = f", encoding = {sql_str(encoding)}" if encoding != "utf-8" else ""
        return (
            f"read_csv({listed}, header = true, all_varchar = true, filename = true, union_by_name = true, "
            f"ignore_errors = true{encoded})"
        )
    if fmt == "excel":
        return f"read_parquet({listed}, union_by_name = true)"
    if fmt == "jsonl":
        return (
            f"read_csv({listed}, columns = {{'json_line': 'VARCHAR'}}, header = false, "
            "delim = chr(31), quote = '', escape = '', auto_detect = false, filename = true, "
            "max_line_size = 67108864)"
        )
    raise ValueError(f"source '{name}': unknown format {fmt!r}")


def wide_cells(relation: str, regex: str, number_pattern: str) -> str:
    """The cells of a wide table (darkhorse.core.wide) as rows, as the dbt macro `wide_cells`
    builds them: the columns that are not periods, `period_column` (the column's name), `cell`
    (its text) and `first_number` (the smallest last number of the period columns' names, read
    from the header); blank cells left out. tests/test_sql.py renders the macro and compares."""
    period = f"c -> regexp_full_match(c, {sql_str(regex)})"
    number = f"try_cast(regexp_extract(column_name, {sql_str(number_pattern)}, 1) as bigint)"
    return (
        f"select * from (unpivot (select columns(c -> not regexp_full_match(c, {sql_str(regex)})), "
        f"columns({period})::varchar from {relation}) on columns({period}) into name period_column value cell) "
        f"cross join (select min({number}) as first_number from (describe {relation}) "
        f"where regexp_full_match(column_name, {sql_str(regex)})) "
        "where trim(cell) <> ''"
    )


def wide_period_date(first_date: str, step: int, number_pattern: str) -> str:
    """The date of a wide cell's period (`period_column`, `first_number` of `wide_cells`), as
    the dbt macro `wide_period_date` builds it."""
    return (
        f"(date {sql_str(first_date)} + cast({step} * (try_cast(regexp_extract(period_column, "
        f"{sql_str(number_pattern)}, 1) as bigint) - first_number) as integer))"
    )
