"""The frames the gate validates, read with DuckDB into pandas.

Great Expectations 1.x validates pandas frames here (it has no working DuckDB datasource), so
every check starts as a DuckDB query:

- raw sources: a sample of at most `gate.sample_rows` rows per source, read with the same
  readers as the dbt staging models (`dbt_project/macros/read_raw.sql`): Parquet typed and
  unioned by name, CSV as text, JSON Lines as one text column per line. Mapped columns keep
  the user's names (blank text is missing, as staging treats it); derived columns named
  `<role>__<what>` hold what staging would make of them (`timestamp__parses`,
  `timestamp__utc`, `quantity__number`, ...);
- staging events: a sample of the kept events of `int_events_classified`, plus one row per
  source of full-table counts computed in SQL (request logs counted in `int_requests_classified`);
- marts: the candidate Parquet files in full, plus the cross-row frames (one row per
  item-week key, one row per label week, one row per mart against the last publish).

Every function returns a pandas DataFrame; none writes anything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from darkhorse.core import sql
from darkhorse.core.config import (
    AmazonReviewsSource,
    CatalogSource,
    Config,
    OrderLinesSource,
    RequestLogSource,
    SalesSource,
)
from darkhorse.core.marts import LOAD_MARTS, PANEL_MARTS, mart_path
from darkhorse.core.sql import quote_ident as ident
from darkhorse.core.sql import sql_str

SAMPLE_SEED = 20240101
# quarantine reasons that are no fault of the data: a second copy of a row, a configured
# non-product code; they do not count in a source's quarantined share
NOT_FAULTS = "('duplicate', 'non_product_code')"
_EPOCH_FACTOR = {"s": 1_000_000, "ms": 1_000, "us": 1}


# --------------------------------------------------------------------------- sql helpers



def connect(database: Path | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory connection, or a read-only one on a DuckDB file; session time zone UTC."""
    con = (
        duckdb.connect(str(database), read_only=True) if database is not None else duckdb.connect()
    )
    con.execute("set TimeZone = 'UTC'")
    con.execute("set enable_progress_bar = false")
    return con


def _sample(con: duckdb.DuckDBPyConnection, query: str, rows: int, total: int | None = None) -> str:
    """At most `rows` rows of `query`, each row drawn with the same chance (all when fewer).

    A seeded Bernoulli sample streams in one parallel pass (a reservoir sample of the same
    size took four times as long on the shipped data); the limit caps its random excess.
    `total`, the rows of `query` when already known, saves a counting pass.
    """
    if total is None:
        total = con.sql(f"select count(*) from ({query})").fetchall()[0][0]
    if total <= rows:
        return query
    percent = 100.0 * rows / total
    return (
        f"select * from ({query}) using sample {percent:.9f} percent (bernoulli, {SAMPLE_SEED}) "
        f"limit {int(rows)}"
    )


def widen_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """Widen numbers to int64 / float64 and naive timestamps to UTC-aware, in place.

    Great Expectations compares only int64, float64 and nanosecond or time-zone-aware
    timestamps vectorized; other dtypes (int32, nullable Int64, microsecond timestamps) fall
    back to a Python call per value, ten times slower on the panel.
    """
    for name, dtype in frame.dtypes.items():
        if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
            continue
        if pd.api.types.is_integer_dtype(dtype):
            has_na = bool(frame[name].isna().any())
            frame[name] = frame[name].astype("float64" if has_na else "int64")
        elif pd.api.types.is_float_dtype(dtype) and dtype != "float64":
            frame[name] = frame[name].astype("float64")
        elif pd.api.types.is_datetime64_dtype(dtype) and not isinstance(dtype, pd.DatetimeTZDtype):
            frame[name] = frame[name].dt.tz_localize("UTC")
    return frame


# --------------------------------------------------------------------------- raw sources
def raw_reader(config: Config, source: Any) -> str:
    """The DuckDB table function that reads a source, as the dbt macro `read_raw` does."""
    return sql.raw_reader(source.resolved_format(), config.read_paths(source), name=source.name,
                          encoding=getattr(source, "encoding", "utf-8"))


def _text(expr: str) -> str:
    return f"nullif(trim(cast({expr} as varchar)), '')"


def _tabular_sample(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    source: Any,
    timestamp: tuple[str, str | None, str | None] | None,
    numbers: list[str],
    rows: int,
    total: int | None,
) -> pd.DataFrame:
    """At most `rows` rows of a table: the mapped columns as text, then whether the dating
    column (`timestamp`: role, format, zone; None for a catalogue) and each of `numbers` parse,
    and their parsed values."""
    reader = raw_reader(config, source)
    present = {r[0] for r in con.sql(f"describe select * from {reader}").fetchall()}
    roles = source.mapped_columns()
    select: list[str] = []
    for name in dict.fromkeys(roles.values()):
        if name in present:
            select.append(f"{_text(ident(name))} as {ident(name)}")
    ts_role, ts_fmt, ts_zone = timestamp or (None, None, None)
    ts_col = roles.get(ts_role) if ts_role else None
    if ts_col in present:
        parsed = sql.parse_timestamp(ident(ts_col), ts_fmt, ts_zone)
        select.append(
            f"case when {_text(ident(ts_col))} is null then null "
            f"else {parsed} is not null end as {ident(ts_role + '__parses')}"
        )
        select.append(f"{parsed} as {ident(ts_role + '__utc')}")
    for role in numbers:
        col = roles.get(role)
        if col in present:
            number = f"try_cast({sql.number_text(ident(col), source.decimal, source.thousands)} as double)"
            select.append(
                f"case when {_text(ident(col))} is null then null "
                f"else {number} is not null end as {ident(role + '__parses')}"
            )
            select.append(f"{number} as {ident(role + '__number')}")
    if not select:
        select = ["1 as no_mapped_column"]
    query = _sample(con, f"select * from {reader}", rows, total)
    return con.sql(f"select {', '.join(select)} from ({query})").df()


def _wide_sales_sample(
    con: duckdb.DuckDBPyConnection, config: Config, source: SalesSource, rows: int, total: int | None
) -> pd.DataFrame:
    """A wide sales table's filled cells as the staging model reads them (darkhorse.core.wide):
    the item's columns, then `date__*` of the cell's period and `quantity__*` of its text."""
    assert source.wide is not None
    wide = source.wide.dbt_var(source.granularity)
    cells = f"with raw as (select * from {raw_reader(config, source)}) " + sql.wide_cells(
        "raw", wide["regex"], wide["number_pattern"]
    )
    if wide["first_date"]:
        day = sql.wide_period_date(wide["first_date"], wide["step_days"], wide["number_pattern"])
        parsed = f"cast({day} as timestamp)"
    else:
        parsed = sql.parse_timestamp("period_column", source.date_format, None)
    select = [f"{_text(ident(c))} as {ident(c)}" for c in dict.fromkeys(source.mapped_columns().values())]
    cell = sql.number_text("cell", source.decimal, source.thousands)
    select += [
        f"{parsed} is not null as date__parses",
        f"{parsed} as date__utc",
        f"try_cast({cell} as double) is not null as quantity__parses",
        f"try_cast({cell} as double) as quantity__number",
    ]
    return con.sql(f"select {', '.join(select)} from ({_sample(con, cells, rows, total)})").df()


def _json_sample(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    source: Any,
    rows: int,
    total: int | None,
    parsed: Any = None,
) -> pd.DataFrame:
    """At most `rows` lines of a JSON Lines source: `is_json_object`, each mapped key's value as
    text (cut to 64 characters: titles and lists are long, only their presence is checked), and
    the columns `parsed(field)` adds (`field(key)`: that key's value as text)."""
    reader = raw_reader(config, source)
    lines = _sample(
        con,
        f"select json_line from {reader} where json_line is not null and trim(json_line) <> ''",
        rows,
        total,
    )
    keys = list(dict.fromkeys(source.mapped_columns().values()))
    paths = ", ".join(sql_str("$." + ident(k)) for k in keys)

    def field(key: str) -> str:
        return f"fields[{keys.index(key) + 1}]"

    select = ["is_json_object"]
    select += [f"left({field(k)}, 64) as {ident(k)}" for k in keys]
    select += parsed(field) if parsed is not None else []
    return con.sql(
        f"""
        with lines as ({lines}),
        checked as (
            select
                json_line,
                coalesce(json_type(case when json_valid(json_line) then json_line else 'null' end)
                    = 'OBJECT', false) as is_json_object,
            from lines
        ),
        extracted as (
            select
                is_json_object,
                json_extract_string(case when is_json_object then json_line else '{{}}' end,
                    [{paths}]) as fields,
            from checked
        )
        select {", ".join(select)} from extracted
        """
    ).df()


def _reviews_sample(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    source: AmazonReviewsSource,
    rows: int,
    total: int | None,
) -> pd.DataFrame:
    roles = source.mapped_columns()
    factor = _EPOCH_FACTOR[source.timestamp_unit]

    def parsed(field: Any) -> list[str]:
        ts = field(roles["timestamp"])
        found = [
            f"case when {ts} is null then null "
            f"else try_cast({ts} as double) is not null end as timestamp__parses",
            f"try(make_timestamp(cast(try_cast({ts} as double) * {factor} as bigint))) "
            "as timestamp__utc",
        ]
        for role in ("rating", "helpful_votes"):
            if role in roles:
                found.append(f"try_cast({field(roles[role])} as double) as {ident(role + '__number')}")
        return found

    return _json_sample(con, config, source, rows, total, parsed)


def raw_sample(config: Config, source: Any, rows: int, total: int | None = None) -> pd.DataFrame:
    """At most `rows` rows of a raw source: mapped columns as text plus parsed roles.

    `total`: the source's row count (non-blank lines for JSON Lines) when already known.
    """
    con = connect()
    try:
        if isinstance(source, AmazonReviewsSource):
            return _reviews_sample(con, config, source, rows, total)
        if isinstance(source, CatalogSource) and source.resolved_format() == "jsonl":
            return _json_sample(con, config, source, rows, total)
        if isinstance(source, CatalogSource):
            return _tabular_sample(con, config, source, None, [], rows, total)
        if isinstance(source, OrderLinesSource):
            return _tabular_sample(
                con,
                config,
                source,
                ("timestamp", source.timestamp_format, source.timezone),
                ["quantity", "unit_price"],
                rows,
                total,
            )
        if isinstance(source, SalesSource) and source.wide is not None:
            return _wide_sales_sample(con, config, source, rows, total)
        if isinstance(source, SalesSource):
            return _tabular_sample(
                con,
                config,
                source,
                ("date", source.date_format, None),
                ["quantity", "price"],
                rows,
                total,
            )
        if isinstance(source, RequestLogSource):
            return _tabular_sample(
                con,
                config,
                source,
                ("timestamp", source.timestamp_format, source.timezone),
                ["count"],
                rows,
                total,
            )
        raise TypeError(f"unknown source kind: {source!r}")
    finally:
        con.close()


def raw_row_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Raw rows dbt read per source name (item sources and the catalogue), from `rpt_source_row_counts`."""
    try:
        found = con.sql(
            "select source_name, sum(n_rows) from rpt_source_row_counts group by source_name"
        ).fetchall()
    except duckdb.Error:
        return {}
    return {name: int(n) for name, n in found}


# --------------------------------------------------------------------------- staging events
def staging_events_sample(con: duckdb.DuckDBPyConnection, rows: int) -> pd.DataFrame:
    """At most `rows` kept events of `int_events_classified` (the panel's input)."""
    kept = """
        select source_name, source_kind, event_type, item_id, customer_id, event_at,
               week_start, quantity, unit_price, revenue, rating, helpful_votes
        from int_events_classified
        where quarantine_reason is null
    """
    return con.sql(_sample(con, kept, rows)).df()


def staging_events_by_source(con: duckdb.DuckDBPyConnection, config: Config) -> pd.DataFrame:
    """One row per source: full-table counts of what was read, kept and what kept rows break."""
    return _rows_by_source(con, config, "int_events_classified")


def request_log_by_source(con: duckdb.DuckDBPyConnection, config: Config) -> pd.DataFrame:
    """`staging_events_by_source`'s columns for the request-log source (no row without one):
    rows read, kept, the share set aside for a bad value, kept rows outside the valid window."""
    if not has_load(config):
        return con.sql(
            "select cast(null as varchar) as source_name, 0 as rows_read, 0 as rows_kept, "
            "0.0 as quarantined_share, 0 as kept_outside_valid_window, '' as reasons where false"
        ).df()
    return _rows_by_source(con, config, "int_requests_classified")


def catalog_by_source(con: duckdb.DuckDBPyConnection, config: Config) -> pd.DataFrame:
    """`staging_events_by_source`'s columns for the catalogue (its records are not dated: none
    is outside the valid window)."""
    return _rows_by_source(con, config, "int_catalog_classified", dated=False)


def _rows_by_source(
    con: duckdb.DuckDBPyConnection, config: Config, classified: str, *, dated: bool = True
) -> pd.DataFrame:
    """Per source of the `classified` model (one row per raw row with its quarantine reason):
    rows read, kept, the share quarantined for a fault, kept rows outside the valid window (of
    `dated` rows; 0 otherwise), and the reasons with their counts."""
    valid_from = sql_str(config.panel.valid_from.isoformat())
    valid_until = sql_str(config.panel.valid_until.isoformat())
    outside = f"""count(*) filter (
                where is_kept and (event_ts is null
                    or event_ts < cast({valid_from} as timestamp)
                    or event_ts >= cast({valid_until} as timestamp))
            )""" if dated else "0"
    return con.sql(
        f"""
        with classified as (
            select *, quarantine_reason is null as is_kept from {classified}
        )
        , reasons as (
            select source_name, quarantine_reason, count(*) as n
            from classified
            where quarantine_reason is not null and quarantine_reason not in {NOT_FAULTS}
            group by all
        )
        select
            source_name,
            count(*) as rows_read,
            count(*) filter (where is_kept) as rows_kept,
            count(*) filter (where quarantine_reason not in {NOT_FAULTS}) / count(*)
                as quarantined_share,
            {outside} as kept_outside_valid_window,
            coalesce((
                select string_agg(quarantine_reason || ' ' || n, ', ' order by n desc, quarantine_reason)
                from reasons r where r.source_name = classified.source_name
            ), '') as reasons,
        from classified
        group by source_name
        order by source_name
        """
    ).df()


def sources_by_name(con: duckdb.DuckDBPyConnection, config: Config) -> pd.DataFrame:
    """One row per configured source with its full-table counts: the item sources
    (`staging_events_by_source`, when the config has one), the catalogue and the request log."""
    parts = []
    if has_items(config):
        parts.append(staging_events_by_source(con, config))
    if config.catalog is not None:
        parts.append(catalog_by_source(con, config))
    if has_load(config):
        parts.append(request_log_by_source(con, config))
    if not parts:
        return request_log_by_source(con, config)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def source_row_changes(
    sources: pd.DataFrame, previous: Mapping[str, Any] | None
) -> pd.DataFrame:
    """One row per source: kept rows now and at the last publish, and the relative change
    (null for a source the last publish did not record, and on the first publish).

    `sources` is `staging_events_by_source`; `previous` the last published manifest, whose
    `source_rows` is {source: {"read": n, "kept": n}}.
    """
    before = (previous or {}).get("source_rows") or {}
    now = dict(zip(sources["source_name"], sources["rows_kept"], strict=True))
    # a source of the last publish with no row at all now (an empty file) kept 0 rows
    now.update({name: 0 for name in before if name not in now})
    records = []
    for name, kept in now.items():
        prev = (before.get(name) or {}).get("kept")
        prev = prev if isinstance(prev, int | float) and not isinstance(prev, bool) else None
        records.append(
            {
                "source_name": name,
                "rows_kept": int(kept),
                "previous_rows_kept": prev,
                "kept_change": (int(kept) - prev) / prev if prev else None,
            }
        )
    frame = pd.DataFrame.from_records(
        records, columns=["source_name", "rows_kept", "previous_rows_kept", "kept_change"]
    )
    frame["previous_rows_kept"] = frame["previous_rows_kept"].astype("Float64")
    frame["kept_change"] = frame["kept_change"].astype("float64")
    return frame


def vanished_items(
    con: duckdb.DuckDBPyConnection, candidate_marts: Path, previous_marts: Path | None
) -> pd.DataFrame:
    """One row per item of the last published panel: `item_id`, `in_candidate` (whether the
    candidate's panel still has it). Empty on the first publish."""
    before = mart_path(previous_marts, "item_weeks") if previous_marts is not None else None
    if before is None or not before.is_file():
        return pd.DataFrame({"item_id": pd.Series(dtype="object"), "in_candidate": pd.Series(dtype="bool")})
    return con.sql(
        f"""
        with previous as (select distinct item_id from read_parquet({sql_str(str(before))})),
        now as (select distinct item_id from {_parquet(candidate_marts, "item_weeks")})
        select previous.item_id, now.item_id is not null as in_candidate
        from previous left join now using (item_id)
        order by in_candidate, previous.item_id
        """
    ).df()


def week_coverage(
    con: duckdb.DuckDBPyConnection, candidate_marts: Path, previous_marts: Path | None
) -> pd.DataFrame:
    """One row: the panel's first and last week now and at the last publish, and the weeks
    lost at either end (0 when it starts no later and ends no earlier; 0 on the first publish)."""
    now = con.sql(
        f"select min(week_start), max(week_start) from {_parquet(candidate_marts, 'item_weeks')}"
    ).fetchall()[0]
    before = mart_path(previous_marts, "item_weeks") if previous_marts is not None else None
    prev = (
        con.sql(f"select min(week_start), max(week_start) from read_parquet({sql_str(str(before))})").fetchall()[0]
        if before is not None and before.is_file()
        else (None, None)
    )

    def weeks(a: Any, b: Any) -> int:
        return max(0, (pd.Timestamp(b) - pd.Timestamp(a)).days // 7) if a is not None and b is not None else 0

    return pd.DataFrame(
        [
            {
                "first_week": now[0],
                "last_week": now[1],
                "previous_first_week": prev[0],
                "previous_last_week": prev[1],
                "weeks_lost_at_start": weeks(prev[0], now[0]),
                "weeks_lost_at_end": weeks(now[1], prev[1]),
            }
        ]
    )


def vanished_series(
    con: duckdb.DuckDBPyConnection, candidate_marts: Path, previous_marts: Path | None
) -> pd.DataFrame:
    """One row per load series of the last published interval panel: `series_id`, its last
    published interval and `in_candidate` (whether the candidate's panel still has it).
    Empty on the first publish, or when the last publish had no interval panel."""
    before = mart_path(previous_marts, "series_intervals") if previous_marts is not None else None
    if before is None or not before.is_file():
        return pd.DataFrame(
            {
                "series_id": pd.Series(dtype="object"),
                "previous_last_interval": pd.Series(dtype="datetime64[us, UTC]"),
                "in_candidate": pd.Series(dtype="bool"),
            }
        )
    return con.sql(
        f"""
        with previous as (
            select series_id, max(interval_start) as previous_last_interval
            from read_parquet({sql_str(str(before))}) group by series_id
        ),
        now as (select distinct series_id from {_parquet(candidate_marts, "series_intervals")})
        select previous.series_id, previous.previous_last_interval,
               now.series_id is not null as in_candidate
        from previous left join now using (series_id)
        order by in_candidate, previous.series_id
        """
    ).df()


def interval_coverage(
    con: duckdb.DuckDBPyConnection, candidate_marts: Path, previous_marts: Path | None, grain_minutes: int
) -> pd.DataFrame:
    """One row per load series in both the candidate and the last publish: its first and last
    interval now and then, and the intervals (of `grain_minutes`) lost at either end (0 when it
    starts no later and ends no earlier). Empty on the first publish; a series gone altogether
    is `vanished_series`' row."""
    before = mart_path(previous_marts, "series_intervals") if previous_marts is not None else None
    if before is None or not before.is_file():
        before_sql = (
            "select cast(null as varchar) as series_id, cast(null as timestamptz) as interval_start where false"
        )
    else:
        before_sql = f"select series_id, interval_start from read_parquet({sql_str(str(before))})"
    return con.sql(
        f"""
        with now as (
            select series_id, min(interval_start) as first_interval, max(interval_start) as last_interval
            from {_parquet(candidate_marts, "series_intervals")} group by series_id
        ),
        previous as (
            select series_id, min(interval_start) as previous_first_interval,
                   max(interval_start) as previous_last_interval
            from ({before_sql}) group by series_id
        )
        select
            series_id, first_interval, last_interval, previous_first_interval, previous_last_interval,
            cast(greatest(0, datediff('minute', previous_first_interval, first_interval)) / {int(grain_minutes)}
                as bigint) as intervals_lost_at_start,
            cast(greatest(0, datediff('minute', last_interval, previous_last_interval)) / {int(grain_minutes)}
                as bigint) as intervals_lost_at_end,
        from now join previous using (series_id)
        order by series_id
        """
    ).df()


# --------------------------------------------------------------------------- marts
def has_items(config: Config) -> bool:
    """Whether the config has an item source (the weekly panel has rows to gate)."""
    return any(not isinstance(s, RequestLogSource) for s in config.sources)


def has_load(config: Config) -> bool:
    """Whether the config has a request_log source (the interval panel has rows to gate)."""
    return any(isinstance(s, RequestLogSource) for s in config.sources)


def gated_marts(config: Config) -> tuple[str, ...]:
    """The marts whose rows the gate counts and compares with the last publish: the weekly
    panel's with an item source, the interval panel with a request log."""
    return (PANEL_MARTS if has_items(config) else ()) + (LOAD_MARTS if has_load(config) else ())


def _parquet(candidate_marts: Path, mart: str) -> str:
    return f"read_parquet({sql_str(str(mart_path(candidate_marts, mart)))})"


def item_weeks(con: duckdb.DuckDBPyConnection, candidate_marts: Path) -> pd.DataFrame:
    """The whole panel."""
    return con.sql(f"select * from {_parquet(candidate_marts, 'item_weeks')}").df()


def series_intervals(con: duckdb.DuckDBPyConnection, candidate_marts: Path) -> pd.DataFrame:
    """The whole interval load panel."""
    return con.sql(f"select * from {_parquet(candidate_marts, 'series_intervals')}").df()


def item_week_labels(
    con: duckdb.DuckDBPyConnection, candidate_marts: Path, config: Config
) -> pd.DataFrame:
    """The whole label mart, with the week's close and the horizon's close to check stamps."""
    horizon_days = 7 * (config.panel.horizon_weeks + 1)
    return con.sql(
        f"""
        select
            *,
            timezone('UTC', cast(week_start + interval 7 day as timestamp)) as week_close,
            timezone('UTC', cast(week_start + interval {horizon_days} day as timestamp))
                as horizon_close,
        from {_parquet(candidate_marts, "item_week_labels")}
        """
    ).df()


def label_weeks(
    con: duckdb.DuckDBPyConnection, candidate_marts: Path, config: Config
) -> pd.DataFrame:
    """One row per origin week: candidates, hot sellers and their share against the target.

    - `n_candidates`: eligible items with a known label (the label's population), counted;
      `n_candidates_reported`: what the mart's own `n_candidates` column says;
    - `hot_seller_share` = hot sellers / candidates (null without candidates);
    - `hot_sellers_missing`: how many fewer hot sellers than the rule gives:
      min(ceil((1 - q) * n), candidates with growth above 0) - hot sellers, at least 0;
    - `target_share`: the smallest share the rule can give, 1 - quantile rounded up to whole
      items (ceil((1 - q) * n) / n); `share_above_target` = share - target_share;
    - `weeks_after`: complete weeks of data after the origin week (the panel's last week is
      the data's last complete week); `known_labels_past_data_end`: known labels in a week
      whose horizon runs past that last week (0 where it does not).
    """
    frame = con.sql(
        f"""
        with labels as (
            select * from {_parquet(candidate_marts, "item_week_labels")}
        ),
        panel_end as (
            select max(week_start) as last_week from {_parquet(candidate_marts, "item_weeks")}
        )
        select
            labels.week_start,
            count(*) filter (where is_eligible and is_label_known) as n_candidates,
            count(*) filter (where is_eligible and is_label_known and is_hot_seller)
                as n_hot_sellers,
            count(*) filter (where is_eligible and is_label_known and growth_score > 0)
                as n_growing,
            count(*) filter (where is_label_known) as n_labels_known,
            coalesce(max(n_candidates), 0) as n_candidates_reported,
            datediff('week', labels.week_start, any_value(panel_end.last_week)) as weeks_after,
        from labels
        cross join panel_end
        group by labels.week_start
        order by labels.week_start
        """
    ).df()
    share_of_items = round(1.0 - config.panel.hot_seller_quantile, 9)
    n = frame["n_candidates"].astype("float64")
    with_candidates = n > 0
    share = (frame["n_hot_sellers"] / n).where(with_candidates)
    target = pd.Series(
        [math.ceil(round(share_of_items * x, 9)) / x if x > 0 else math.nan for x in n],
        index=frame.index,
    )
    frame["hot_seller_share"] = share.round(12)
    frame["target_share"] = target.round(12)
    frame["share_above_target"] = (share - target).round(12)
    # the rule gives ceil((1 - q) * n) hot sellers, but never one whose growth is 0: a week in
    # which fewer items grow at all has fewer hot sellers, and that is not a fault
    floor_count = pd.Series(
        [min(math.ceil(round(share_of_items * x, 9)), g) for x, g in zip(n, frame["n_growing"], strict=True)],
        index=frame.index,
    )
    frame["hot_sellers_missing"] = (floor_count - frame["n_hot_sellers"]).clip(lower=0).where(with_candidates)
    past_end = frame["weeks_after"] < config.panel.horizon_weeks
    frame["known_labels_past_data_end"] = frame["n_labels_known"].where(past_end, 0)
    return frame


def row_counts(
    con: duckdb.DuckDBPyConnection, candidate_marts: Path, marts: tuple[str, ...] = PANEL_MARTS
) -> dict[str, int]:
    """Rows of each of `marts` (default: the weekly panel's) in the candidate."""
    return {
        mart: int(
            con.sql(f"select count(*) from {_parquet(candidate_marts, mart)}").fetchall()[0][0]
        )
        for mart in marts
    }


def row_count_changes(
    counts: Mapping[str, int], previous: Mapping[str, Any] | None
) -> pd.DataFrame:
    """One row per mart: rows now, rows at the last publish, relative change (null if unknown).

    `previous` is the last published manifest ({"row_counts": {"item_weeks": N, ...}, ...}) or
    None on the first publish; non-numeric entries are ignored.
    """
    before = (previous or {}).get("row_counts") or {}
    records = []
    for mart, rows in counts.items():
        prev = before.get(mart)
        prev = prev if isinstance(prev, int | float) and not isinstance(prev, bool) else None
        change = (rows - prev) / prev if prev else None
        records.append(
            {"mart": mart, "rows": rows, "previous_rows": prev, "row_count_change": change}
        )
    frame = pd.DataFrame.from_records(records)
    frame["previous_rows"] = frame["previous_rows"].astype("Float64")
    frame["row_count_change"] = frame["row_count_change"].astype("float64")
    return frame
