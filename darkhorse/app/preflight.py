"""Check every configured raw source before dbt touches it.

The files exist and are files, text files are whole (a gzip stream that ends early) and UTF-8
throughout, workbooks open (their sheets are copied as text here: darkhorse/app/workbooks.py),
the mapped columns are there, timestamps parse and are in the configured unit.
Problems that would make the whole source meaningless stop the run with a message naming the
source, file, line and column; row-level problems are left to dbt, which quarantines the rows
(each with its reason). CSV lines with too many or too few columns are found here (DuckDB's
reject table, with the reader options dbt uses) and handed to dbt as quarantine rows with
their line numbers (`SourceCheck.rejected`, dbt var `rejected_lines`).
"""

from __future__ import annotations

import codecs
import contextlib
import glob
import gzip
import json
import statistics
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from darkhorse.app.workbooks import WorkbookSourceError, copy_workbooks
from darkhorse.core.config import (
    AmazonReviewsSource,
    CatalogSource,
    Config,
    SalesSource,
    plan_format,
)
from darkhorse.core.errors import DarkHorseError
from darkhorse.core.sql import (
    flag_number,
    number_text,
    parse_timestamp,
    quote_ident,
    raw_reader,
    sql_str,
)
from darkhorse.core.wide import WideLayoutError, period_columns, period_dates, step_days

SAMPLE_LINES = 2000
# malformed CSV lines handed to dbt as quarantine rows at most (they travel as a dbt var on
# its command line, each line's text cut to MAX_LINE_TEXT characters); more are refused
MAX_REJECTED_LINES = 300
MAX_LINE_TEXT = 200
_CHUNK = 8 << 20


class SourceError(DarkHorseError, ValueError):
    """A raw source cannot be used as configured; the message names source, file and column."""


@dataclass
class SourceCheck:
    name: str
    kind: str
    files: list[str]
    columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # CSV lines the reader skips: [file, line number, error, text]
    rejected: list[list[Any]] = field(default_factory=list)
    # the source's plan files (config `plan`): inputs of the build as much as `files`
    plan_files: list[str] = field(default_factory=list)


def _expand(config: Config, source: Any, patterns: list[str] | None = None) -> list[str]:
    """The files of a source's paths (or of `patterns`: its plan's), globs expanded."""
    files: list[str] = []
    for pattern in config.source_paths(source) if patterns is None else patterns:
        matched = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        existing = [f for f in matched if Path(f).is_file()]
        if not existing:
            folders = [f for f in matched if Path(f).is_dir()]
            if folders:
                raise SourceError(
                    f"source '{source.name}': {folders[0]} is a folder, not a file; give a file "
                    f"or a glob of files (e.g. '{folders[0].rstrip('/')}/*.csv')"
                )
            raise SourceError(f"source '{source.name}': no file found at {pattern}")
        files.extend(existing)
    return files


def _encoding(source: Any) -> str:
    """A source's text encoding (a CSV source may declare latin-1 or utf-16; JSON Lines are UTF-8)."""
    return getattr(source, "encoding", "utf-8")


def _check_text(source: Any, file: str) -> int:
    """Read a text file (CSV or JSON Lines, gzip or not) through: the gzip stream must be
    whole and every byte text in the source's encoding (UTF-8 unless declared). Returns the
    file's size in bytes after decompression; raises SourceError naming the file and the line."""
    name = source.name
    line = 1
    size = 0
    encoding = _encoding(source)
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    hint = ("declare the source's encoding if it is ISO-8859-1 or Windows text (encoding: latin-1), or re-encode "
            "it as UTF-8, e.g. with iconv" if hasattr(source, "encoding") else "re-encode it, e.g. with iconv")
    try:
        opener = gzip.open if file.endswith(".gz") else open
        with opener(file, "rb") as fh:
            while chunk := fh.read1(_CHUNK):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as e:
                    at = line + chunk[: max(e.start, 0)].count(b"\n")
                    bad = chunk[e.start : e.start + 1].hex() if e.start >= 0 else "?"
                    raise SourceError(
                        f"source '{name}' file {file} line {at}: byte 0x{bad} is not {encoding.upper()} "
                        f"(the file must be {encoding.upper()} text; {hint})"
                    ) from None
                line += chunk.count(b"\n")
                size += len(chunk)
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                raise SourceError(
                    f"source '{name}' file {file} line {line}: the file ends inside a {encoding.upper()} "
                    "character (cut short?)"
                ) from None
    except EOFError:
        raise SourceError(
            f"source '{name}' file {file}: the gzip stream ends early, after line {line} "
            "(the file is truncated: copy or download it again)"
        ) from None
    except (gzip.BadGzipFile, zlib.error) as e:
        raise SourceError(f"source '{name}' file {file}: not a valid gzip file ({e})") from None
    except OSError as e:
        raise SourceError(f"source '{name}': cannot read {file}: {e}") from None
    return size


def _rejected_lines(con: duckdb.DuckDBPyConnection, source: Any, file: str) -> list[list[Any]]:
    """Lines of a CSV file the staging reader skips (wrong number of columns): [file, line,
    error, text] each, from DuckDB's reject table with the same reader options."""
    # one file at a time: the reject table does not go with union_by_name
    reader = raw_reader("csv", file, encoding=_encoding(source)).replace("union_by_name = true", "union_by_name = false")[: -len(")")]
    reader += ", store_rejects = true, rejects_table = 'dh_rejects', rejects_scan = 'dh_scans')"
    try:
        con.sql(f"select count(*) from {reader}").fetchall()
        found = con.sql(
            "select distinct line, error_type, csv_line from dh_rejects order by line"
        ).fetchall()
    except duckdb.Error as e:
        raise SourceError(f"source '{source.name}' file {file}: cannot read it as CSV: {e}") from None
    finally:
        con.execute("drop table if exists dh_rejects; drop table if exists dh_scans")
    lines: dict[int, list[Any]] = {}
    for number, error, text in found:
        lines.setdefault(int(number), [file, int(number), str(error).lower(), (text or "")[:MAX_LINE_TEXT]])
    return list(lines.values())


def _csv_lines(con: duckdb.DuckDBPyConnection, source: Any, file: str, where: str) -> list[list[Any]]:
    """A CSV file read through (whole, text in the source's encoding, not empty), and the lines
    its reader skips (`_rejected_lines`)."""
    if _check_text(source, file) == 0:
        raise SourceError(f"{where}: file is empty (no header, no rows)")
    return _rejected_lines(con, source, file)


def _first_lines(rejected: list[list[Any]]) -> str:
    """The first five skipped lines, as messages name them."""
    return ", ".join(f"line {r[1]} ({r[2]})" for r in rejected[:5])


def _tabular_columns(con: duckdb.DuckDBPyConnection, fmt: str, file: str, encoding: str = "utf-8") -> list[str]:
    reader = raw_reader(fmt, file, encoding=encoding)
    try:
        return [r[0] for r in con.sql(f"describe select * exclude (filename) from {reader}").fetchall()]
    except duckdb.Error as e:
        raise SourceError(f"cannot read {file} as {fmt}: {e}") from None


def _readable(config: Config, source: Any, check: SourceCheck) -> list[tuple[str, str]]:
    """(the file named in messages, the file read) of each of the source's files: a workbook is
    read through its text copy (darkhorse/app/workbooks.py), brought up to date here."""
    if source.resolved_format() != "excel":
        return [(f, f) for f in check.files]
    try:
        copies, notes = copy_workbooks(config, source, check.files)
    except WorkbookSourceError as e:
        raise SourceError(str(e)) from None
    check.notes += notes
    return list(zip(check.files, copies, strict=True))


def _check_tabular(config: Config, source: Any, check: SourceCheck) -> None:
    fmt = source.resolved_format()
    con = duckdb.connect()
    required = source.mapped_columns()
    periods: list[str] = []  # a wide sales table's period columns over its files
    readable = _readable(config, source, check)
    for file, read in readable:
        if fmt == "csv":
            rejected = _csv_lines(con, source, file, f"source '{source.name}': {file}")
            first = _first_lines(rejected)
            if len(rejected) > MAX_REJECTED_LINES:
                raise SourceError(
                    f"source '{source.name}' file {file}: {len(rejected):,} malformed lines "
                    f"(wrong number of columns; at most {MAX_REJECTED_LINES} are quarantined), "
                    f"e.g. {first}; is the delimiter or quoting right?"
                )
            if rejected:
                check.notes.append(
                    f"{len(rejected)} malformed line(s) of {Path(file).name} will be quarantined: {first}"
                )
                check.rejected += rejected
        present = _tabular_columns(con, fmt, read, _encoding(source))
        check.columns = present
        missing = {role: col for role, col in required.items() if col not in present}
        if missing:
            listing = ", ".join(f"'{c}' (mapped as {r})" for r, c in missing.items())
            raise SourceError(
                f"source '{source.name}' file {file}: missing column(s) {listing}; "
                f"the file has {present}. Fix `columns:` in the config (optional roles can be null)."
            )
        if isinstance(source, SalesSource) and source.wide is not None:
            periods += [c for c in _wide_periods(source, file, present, required) if c not in periods]
    if isinstance(source, SalesSource) and source.wide is not None:
        check.notes.append(_wide_dates(con, source, check.files[0], periods))
        return
    dating = source.time_column()
    if dating is None:  # a catalogue's rows are not dated
        return
    # timestamps must parse with the configured format on a sample
    ts_col, ts_fmt = dating
    reader = raw_reader(fmt, readable[0][1], encoding=_encoding(source))
    quoted = quote_ident(ts_col)
    parse = parse_timestamp(quoted, ts_fmt, tz=None)
    n, ok = con.sql(
        f"select count(*), count({parse}) from (select {quoted} from {reader} "
        f"where {quoted} is not null limit {SAMPLE_LINES})"
    ).fetchall()[0]
    if n and ok == 0:
        how = f"format {ts_fmt!r}" if ts_fmt else "ISO 8601"
        sample = con.sql(f"select cast({quoted} as varchar) from {reader} limit 1").fetchall()[0][0]
        raise SourceError(
            f"source '{source.name}' file {check.files[0]}: column '{ts_col}' does not parse "
            f"as {how} (e.g. {sample!r}); set the source's timestamp/date format"
        )
    if n and ok < n:
        check.notes.append(f"{n - ok} of {n} sampled '{ts_col}' values do not parse")


def _wide_periods(source: SalesSource, file: str, present: list[str], required: dict[str, str]) -> list[str]:
    """A wide table's period columns in one file: some, and none of them an item column."""
    assert source.wide is not None
    periods = period_columns(present, source.wide.periods)
    if not periods:
        shown = ", ".join(repr(c) for c in present[:12]) + (", ..." if len(present) > 12 else "")
        raise SourceError(
            f"source '{source.name}' file {file}: no column matches wide.periods {source.wide.periods!r} "
            f"(the file has {shown}); the glob must match whole column names"
        )
    clash = sorted({c for c in required.values() if c in periods})
    if clash:
        raise SourceError(
            f"source '{source.name}' file {file}: wide.periods {source.wide.periods!r} also matches the "
            f"mapped column(s) {clash}; narrow the glob to the period columns"
        )
    return periods


def _wide_dates(con: duckdb.DuckDBPyConnection, source: SalesSource, file: str, periods: list[str]) -> str:
    """Check that every period column has a date by the wide rule; a note of the span read."""
    assert source.wide is not None
    if source.wide.first_date is not None:
        try:
            dated = period_dates(periods, source.wide.first_date, step_days(source.granularity))
        except WideLayoutError as e:
            raise SourceError(f"source '{source.name}' file {file}: {e}") from None
        days = sorted(dated.values())
    else:
        parse = parse_timestamp("name", source.date_format, tz=None)
        listed = ", ".join(f"({sql_str(c)})" for c in periods)
        parsed = con.sql(f"select name, cast({parse} as date) from (values {listed}) as t(name)").fetchall()
        bad = [name for name, day in parsed if day is None]
        if bad:
            how = f"format {source.date_format!r}" if source.date_format else "ISO 8601"
            raise SourceError(
                f"source '{source.name}' file {file}: period column {bad[0]!r} is not a date ({how}); "
                f"without wide.first_date each period column's name is its date ({len(bad)} of "
                f"{len(periods)} are not), or set first_date to count periods by the names' last number"
            )
        days = sorted(day for _, day in parsed)
    return (f"{len(periods)} period columns read as {source.granularity} periods from {days[0]} "
            f"to {days[-1]}")


def _open_text(path: str):
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


_UNIT_RANGE = {"s": (1e8, 1e11), "ms": (1e11, 1e14), "us": (1e14, 1e17)}


def _json_records(source: Any, file: str, check: SourceCheck) -> tuple[list[dict], set[str]] | None:
    """The JSON objects among the first SAMPLE_LINES non-blank lines of a JSON Lines file and the
    keys they hold (also `check.columns`); None when it has no line (noted). Malformed lines are
    noted with their line numbers (dbt quarantines them); a file without one JSON object is
    refused."""
    _check_text(source, file)
    valid: list[dict] = []
    malformed: list[int] = []
    n_lines = 0
    try:
        with _open_text(file) as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                n_lines += 1
                try:
                    rec = json.loads(line)
                except ValueError:
                    rec = None
                if isinstance(rec, dict):
                    valid.append(rec)
                else:
                    malformed.append(number)
                if n_lines >= SAMPLE_LINES:
                    break
    except (OSError, EOFError, zlib.error) as e:
        raise SourceError(f"source '{source.name}': cannot read {file}: {e}") from None
    if n_lines == 0:
        check.notes.append(f"{file} is empty")
        return None
    if not valid:
        raise SourceError(
            f"source '{source.name}' file {file}: none of the first {n_lines} lines is a "
            "JSON object; is it JSON Lines (one record per line)?"
        )
    if malformed:
        shown = ", ".join(str(n) for n in malformed[:5])
        check.notes.append(
            f"{len(malformed)} of the first {n_lines} lines of {Path(file).name} "
            f"are malformed (they will be quarantined): line {shown}"
        )
    keys = set().union(*(r.keys() for r in valid))
    check.columns = sorted(keys)
    return valid, keys


def _check_reviews(source: AmazonReviewsSource, check: SourceCheck) -> None:
    cols = source.columns
    for file in check.files:
        sample = _json_records(source, file, check)
        if sample is None:
            continue
        valid, keys = sample
        for role in ("item_id", "timestamp"):
            key = getattr(cols, role)
            if key not in keys:
                raise SourceError(
                    f"source '{source.name}' file {file}: required key '{key}' (mapped as {role}) "
                    f"is in none of the first {len(valid)} records; keys seen: {sorted(keys)}"
                )
        stamps = []
        for r in valid:
            with contextlib.suppress(TypeError, ValueError):
                stamps.append(float(r.get(cols.timestamp)))
        if not stamps:
            raise SourceError(
                f"source '{source.name}' file {file}: column '{cols.timestamp}' holds no epoch "
                "numbers in the first records"
            )
        med = statistics.median(stamps)
        lo, hi = _UNIT_RANGE[source.timestamp_unit]
        if not lo <= med < hi:
            guess = next((u for u, (a, b) in _UNIT_RANGE.items() if a <= med < b), None)
            hint = f"; the values look like {guess}: set timestamp_unit: {guess}" if guess else ""
            raise SourceError(
                f"source '{source.name}' file {file}: column '{cols.timestamp}' is out of range "
                f"for timestamp_unit {source.timestamp_unit} (median {med:.0f}){hint}"
            )


def _check_catalog(config: Config, source: CatalogSource, check: SourceCheck) -> None:
    """A catalogue: JSON Lines records holding the mapped keys (each in some record of each
    file's sample), or a table checked as the other tables are, without dates."""
    if source.resolved_format() != "jsonl":
        _check_tabular(config, source, check)
        return
    roles = source.mapped_columns()
    for file in check.files:
        sample = _json_records(source, file, check)
        if sample is None:
            continue
        valid, keys = sample
        absent = [f"'{key}' (mapped as {role})" for role, key in roles.items() if key not in keys]
        if absent:
            raise SourceError(
                f"source '{source.name}' file {file}: key(s) {', '.join(absent)} in none of the first "
                f"{len(valid)} records; keys seen: {sorted(keys)[:20]}. Fix `columns:` in the config "
                "(optional roles can be null)."
            )


def _check_plan(config: Config, source: Any, check: SourceCheck) -> None:
    """A source's plan files (config `plan`): every row must name its item, carry a date that
    parses as the source's dates do, and give numbers (or flag words) in the known_future
    columns it holds; a plan is the user's own short file, so a bad row stops the build (no
    quarantine) with the file, line, column and value."""
    files = check.plan_files = _expand(config, source, config.plan_paths(source))
    fmt = plan_format(files[0]) or "csv"
    con = duckdb.connect()
    items = source.columns.item_id
    items = [items] if isinstance(items, str) else list(items)
    date_col, date_fmt = source.time_column()
    tz = getattr(source, "timezone", "UTC")
    planned = {c.column: c.feature for c in source.known_future if c.column}
    for file in files:
        where = f"source '{source.name}' plan file {file}"
        if fmt == "csv":
            bad = _csv_lines(con, source, file, where)
            if bad:  # a plan row is not quarantined: the file is the user's own, to mend
                raise SourceError(f"{where}: {len(bad)} malformed line(s), e.g. {_first_lines(bad)}")
        present = _tabular_columns(con, fmt, file, _encoding(source))
        missing = [c for c in (*items, date_col) if c not in present]
        if missing:
            raise SourceError(f"{where}: missing column(s) {missing} (the source's item and date columns); "
                              f"the file has {present}")
        given = [c for c in planned if c in present]
        if not given:
            raise SourceError(f"{where}: none of the known_future columns {sorted(planned)}; the file has {present}")
        n, first, last = _check_plan_rows(con, source, file, fmt, where, items, (date_col, date_fmt, tz), given)
        rows = f"{n:,} row(s) dated {first:%Y-%m-%d} to {last:%Y-%m-%d}" if n else "no rows, nothing planned"
        check.notes.append(f"plan {Path(file).name}: {', '.join(planned[c] for c in given)}; {rows}")


def _check_plan_rows(
    con: duckdb.DuckDBPyConnection, source: Any, file: str, fmt: str, where: str,
    items: list[str], dating: tuple[str, str | None, str], given: list[str],
) -> tuple[int, Any, Any]:
    """Raise SourceError naming the first rows of a plan file that the mart could not read;
    else return its rows and first and last dates."""
    date_col, date_fmt, tz = dating
    text = {c: f"cast({quote_ident(c)} as varchar)" for c in (*items, date_col, *given)}
    blank = {c: f"({e} is null or trim({e}) = '')" for c, e in text.items()}
    number = {c: flag_number(f"cast({number_text(quote_ident(c), source.decimal, source.thousands)} as varchar)")
              for c in given}
    label = {c: sql_str(f"{c}: ") for c in text}
    parsed = parse_timestamp(quote_ident(date_col), date_fmt, tz)
    checks = [
        *(f"case when {blank[c]} then {label[c]} || 'no item id' end" for c in items),
        f"case when {blank[date_col]} then {label[date_col]} || 'no date' "
        f"when {parsed} is null then {label[date_col]} || {text[date_col]} || ' does not parse' end",
        *(f"case when {blank[c]} then null when {number[c]} is null then {label[c]} || {text[c]} || ' is not a number' "
          f"when not isfinite({number[c]}) then {label[c]} || {text[c]} || ' is not finite' end" for c in given),
    ]
    reader = raw_reader(fmt, file, encoding=_encoding(source))
    # one scan: the rows, their dates' range, and the first reasons with their row numbers
    n, first, last, found = con.sql(
        f"select count(*), min(day), max(day), "
        f"flatten(list(list_transform(reasons, r -> {{'n': n, 'reason': r}}) order by n) "
        f"filter (where len(reasons) > 0))[1:6] "
        f"from (select row_number() over () as n, {parsed} as day, "
        f"list_filter([{', '.join(checks)}], x -> x is not null) as reasons from {reader})"
    ).fetchall()[0]
    if found:
        # a CSV's first line is its header
        at = [f"{'line' if fmt == 'csv' else 'row'} {f['n'] + (1 if fmt == 'csv' else 0)} ({f['reason']})"
              for f in found[:5]]
        raise SourceError(f"{where}: {', '.join(at)}{' and more' if len(found) > 5 else ''}")
    return n, first, last


def preflight(config: Config) -> list[SourceCheck]:
    """Check every configured source; raise SourceError naming the first unusable one."""
    checks = []
    for source in config.sources:
        check = SourceCheck(source.name, source.kind, _expand(config, source))
        if isinstance(source, AmazonReviewsSource):
            _check_reviews(source, check)
        elif isinstance(source, CatalogSource):
            _check_catalog(config, source, check)
        else:
            _check_tabular(config, source, check)
        if getattr(source, "plan", None):
            _check_plan(config, source, check)
        checks.append(check)
    return checks
