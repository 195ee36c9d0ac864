"""Benchmark of the weekly item panel: the dbt project against two hand-written references.

For each size, synthetic Amazon Reviews 2023 JSON Lines are generated once (reused across
runs) and the weekly panel (``item_weeks`` + ``item_week_labels``) is built three ways, each
in a fresh subprocess so that wall time and peak memory belong to one implementation:

* ``dbt``: ``darkhorse.app.dbt_runner.run_dbt(config, ["run"])`` on a config written for the file,
  i.e. ``dbt run`` of the whole project (staging, intermediate and every mart, no tests);
* ``floor``: one hand-written DuckDB statement (a temp table from one CTE chain, then two
  ``COPY ... TO parquet``), the same semantics with no dbt and minimal materialization;
* ``pandas``: the way a data scientist would write it (``pd.read_json`` on chunks of lines,
  ``groupby``, a dense weekly reindex, ``rolling`` / ``shift`` windows, ``rank`` per week).

The three outputs are then compared row by row (same rows, values within 1e-9, same labels)
and a table of wall seconds and peak RSS is printed and written (JSON and Markdown).

    python benchmarks/bench_panel.py --rows 1000000 10000000 --out-dir data/bench

Semantics the references share with the dbt models (see ``dbt_project/models``):

* a line is a record when it is a JSON object; other lines (malformed, arrays, blank) are set
  aside; a record is kept when ``parent_asin`` is non-blank, ``timestamp`` is an epoch in ms
  inside ``[valid_from, valid_until)`` and ``rating`` is absent or in [1, 5];
* copies of a review (same item, variant, reviewer, raw timestamp, raw rating, title) count once;
* weeks start on ``panel.week_start``; a partial first or last week of the data is left out;
* each item is dense from its first week with a review to the last complete week;
* past windows (``lookback_weeks``, 12) include the current week; the future is the next
  ``horizon_weeks`` weeks, null where it runs past the data; growth score, eligibility and the
  top ``1 - hot_seller_quantile`` label with ties at the cut as in ``fct_item_week_labels``.

The pandas reference parses values (not raw text): two copies of a review that differ only in
how a number is written (``5`` / ``5.0``) count once there and twice in SQL. Generated data
never writes a number two ways.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import itertools
import json
import math
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make `darkhorse` and `benchmarks` importable
    sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402

from darkhorse.core.config import WEEKDAYS  # noqa: E402
from darkhorse.core.env import OFFLINE_ENV  # noqa: E402
from darkhorse.core.marts import ITEM_WEEKS_COLUMNS, LABEL_COLUMNS  # noqa: E402
from darkhorse.core.sql import sql_list, sql_str  # noqa: E402

IMPLEMENTATIONS = ("floor", "dbt", "pandas")
MARTS = ("item_weeks", "item_week_labels")
KEYS = ("item_id", "week_start")
# keys of an Amazon Reviews 2023 record (the defaults of AmazonReviewsColumns)
REVIEW_KEYS = {
    "item_id": "parent_asin",
    "variant_id": "asin",
    "timestamp": "timestamp",
    "rating": "rating",
    "title": "title",
    "customer_id": "user_id",
    "helpful_votes": "helpful_vote",
    "verified": "verified_purchase",
}
DEFAULT_SEED = 0
DEFAULT_TIMEOUT_S = 3 * 3600
# peak RSS of the pandas build per input row when no smaller size of the same run measured it
# (about 1.5 KB per row at 1M rows on CPython 3.12, pandas 2.3); used to refuse a run that
# cannot fit in memory before it starts
PANDAS_BYTES_PER_ROW_GUESS = 1600
TOLERANCE = 1e-9


# --------------------------------------------------------------------------- panel parameters
def panel_params(panel: Any = None) -> dict[str, Any]:
    """The panel parameters (a darkhorse PanelConfig, a dict, or None for the defaults)."""
    if panel is None:
        from darkhorse.core.config import PanelConfig

        panel = PanelConfig()
    if not isinstance(panel, dict):
        panel = panel.model_dump(mode="json")
    p = dict(panel)
    p["valid_from"] = str(p["valid_from"])
    p["valid_until"] = str(p["valid_until"])
    p["week_start"] = str(p["week_start"]).lower()
    if p["week_start"] not in WEEKDAYS:
        raise ValueError(f"week_start must be one of {WEEKDAYS}, got {p['week_start']!r}")
    return p


# --------------------------------------------------------------------------- floor (DuckDB)
def _week_sql(expr: str, week_start: str) -> str:
    """First day (a date) of the week holding `expr` (same expression as the week_start macro)."""
    offset = WEEKDAYS.index(week_start)
    if offset == 0:
        return f"cast(date_trunc('week', cast({expr} as timestamp)) as date)"
    return (
        f"cast(date_trunc('week', cast({expr} as timestamp) - interval {offset} day)"
        f" + interval {offset} day as date)"
    )


def floor_sql(paths: str | Path | list[str | Path], panel: Any = None) -> str:
    """One statement building the whole panel (every column of both marts) as temp table `panel`."""
    p = panel_params(panel)
    lookback = int(p["lookback_weeks"])
    horizon = int(p["horizon_weeks"])
    week = lambda e: _week_sql(e, p["week_start"])  # noqa: E731
    json_paths = ", ".join(
        sql_str(f'$."{REVIEW_KEYS[k]}"')
        for k in (
            "item_id",
            "variant_id",
            "timestamp",
            "rating",
            "title",
            "customer_id",
            "helpful_votes",
            "verified",
        )
    )
    return f"""
create or replace temp table panel as
with
fields as (
    -- every line as text; a line that is not JSON gives null (try), one that is not an
    -- object gives null fields: either way it has no item and is set aside below
    select try(json_extract_string(json_line, [{json_paths}])) as f
    from read_csv({sql_list(paths)}, columns = {{'json_line': 'VARCHAR'}}, header = false,
                  delim = chr(31), quote = '', escape = '', auto_detect = false,
                  max_line_size = 67108864)
),
typed as (
    select
        nullif(trim(f[1]), '') as item_id,
        nullif(trim(f[2]), '') as variant_id,
        f[3] as timestamp_raw,
        try(make_timestamp(cast(try_cast(f[3] as double) * 1000 as bigint))) as event_ts,
        f[4] as rating_raw,
        try_cast(f[4] as double) as rating,
        f[5] as title,
        nullif(trim(f[6]), '') as customer_id,
        coalesce(try_cast(f[7] as integer), 0) as helpful_votes,
        try_cast(f[8] as boolean) as is_verified,
    from fields
),
kept as (
    -- valid reviews, each copy of a review once
    select
        item_id,
        customer_id,
        first(event_ts) as event_ts,
        first(rating) as rating,
        first(helpful_votes) as helpful_votes,
        first(is_verified) as is_verified,
    from typed
    where item_id is not null
        and event_ts >= timestamp '{p["valid_from"]}'
        and event_ts < timestamp '{p["valid_until"]}'
        and (rating_raw is null or rating between 1 and 5)
    group by item_id, variant_id, customer_id, timestamp_raw, rating_raw, title
),
coverage as (
    select
        min(date_trunc('day', event_ts)) as data_start,
        max(date_trunc('day', event_ts)) + interval 1 day as data_end,
    from kept
),
calendar as (
    select
        case
            when cast({week("data_start")} as timestamp) = data_start then {week("data_start")}
            else cast({week("data_start")} + interval 7 day as date)
        end as first_week,
        cast({week("data_end")} - interval 7 day as date) as last_week,
    from coverage
),
aggregated as (
    select
        item_id,
        week_start,
        count(*) as n_events,
        count(distinct customer_id) as customers,
        sum(helpful_votes) as helpful_votes,
        count(is_verified) as n_verified_known,
        count(*) filter (where is_verified) as n_verified,
        sum(rating) as rating_sum,
        count(rating) as n_ratings,
    from (select *, {week("event_ts")} as week_start from kept)
    where week_start between (select first_week from calendar) and (select last_week from calendar)
    group by item_id, week_start
),
spine as (
    select
        item_id,
        first_week,
        cast(unnest(generate_series(
            cast(first_week as timestamp),
            cast((select last_week from calendar) as timestamp),
            interval 7 day
        )) as date) as week_start,
    from (select item_id, min(week_start) as first_week from aggregated group by item_id)
),
dense as (
    select
        spine.item_id,
        spine.week_start,
        spine.first_week,
        cast(coalesce(aggregated.n_events, 0) as double) as units,
        cast(0 as double) as returned_units,
        cast(0 as double) as revenue,
        coalesce(aggregated.n_events, 0) as n_events,
        coalesce(aggregated.customers, 0) as customers,
        coalesce(aggregated.helpful_votes, 0) as helpful_votes,
        coalesce(aggregated.n_verified_known, 0) as n_verified_known,
        coalesce(aggregated.n_verified, 0) as n_verified,
        coalesce(aggregated.rating_sum, 0) as rating_sum,
        coalesce(aggregated.n_ratings, 0) as n_ratings,
    from spine
    left join aggregated using (item_id, week_start)
),
windowed as (
    select
        *,
        sum(units) over past_lookback as units_lookback_sum,
        sum(units) over past_12 as units_12w_sum,
        sum(revenue) over past_lookback as revenue_lookback_sum,
        sum(customers) over past_lookback as customers_lookback_sum,
        sum(units) over next_weeks as units_next_sum,
        count(*) over next_weeks as n_next_weeks,
    from dense
    window
        past_lookback as (partition by item_id order by week_start
                          rows between {lookback - 1} preceding and current row),
        past_12 as (partition by item_id order by week_start
                    rows between 11 preceding and current row),
        next_weeks as (partition by item_id order by week_start
                       rows between 1 following and {horizon} following)
),
scored as (
    select
        *,
        case when n_next_weeks = {horizon} then units_next_sum end as units_future_sum,
        units_lookback_sum >= {p["min_past_activity"]} as is_eligible,
    from windowed
),
growth as (
    select
        *,
        units_future_sum is not null as is_label_known,
        (units_future_sum / {horizon})
            / greatest(units_lookback_sum / {lookback}, {p["growth_floor"]}) as growth_score,
    from scored
),
ranked as (
    select
        *,
        is_eligible and is_label_known as is_candidate,
        rank() over (partition by week_start, is_eligible and is_label_known
                     order by growth_score desc) as growth_rank_all,
        -- count(case ...), not count(*) filter (...): beside the rank window above, DuckDB
        -- 1.5 takes minutes over a few million rows for the filtered form (about a second
        -- for this one)
        count(case when is_eligible and is_label_known then 1 end)
            over (partition by week_start) as n_candidates,
    from growth
)
select
    item_id,
    week_start,
    timezone('UTC', cast(week_start + interval 7 day as timestamp)) as available_at,
    timezone('UTC', cast(week_start + interval {7 * (horizon + 1)} day as timestamp))
        as label_available_at,
    units,
    returned_units,
    revenue,
    n_events,
    customers,
    helpful_votes,
    cast(n_verified as double) / nullif(cast(n_verified_known as double), 0) as verified_ratio,
    cast(rating_sum as double) / nullif(cast(n_ratings as double), 0) as mean_rating,
    units_lookback_sum,
    units_12w_sum,
    revenue_lookback_sum,
    customers_lookback_sum,
    cast(datediff('week', first_week, week_start) as integer) as weeks_since_first_event,
    cast(weekofyear(week_start) as integer) as week_of_year,
    units_future_sum,
    growth_score,
    is_eligible,
    is_label_known,
    n_candidates,
    case when is_candidate then growth_rank_all end as growth_rank,
    case
        when not is_label_known then null
        when not is_eligible then false
        else growth_score > 0
            and growth_rank_all <= ceil(round((1 - {p["hot_seller_quantile"]}) * n_candidates, 9))
    end as is_hot_seller,
from ranked
"""


def run_floor(
    paths: str | Path | list[str | Path],
    out_dir: str | Path,
    panel: Any = None,
    *,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> dict[str, Any]:
    """Build the panel with one DuckDB statement; write item_weeks / item_week_labels parquet."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        # the settings the dbt profile uses
        con.execute("set TimeZone = 'UTC'")
        con.execute("set preserve_insertion_order = false")
        if threads:
            con.execute(f"set threads = {int(threads)}")
        if memory_limit:
            con.execute(f"set memory_limit = {sql_str(memory_limit)}")
        con.execute(floor_sql(paths, panel))
        for mart, columns in (
            ("item_weeks", ITEM_WEEKS_COLUMNS),
            ("item_week_labels", LABEL_COLUMNS),
        ):
            target = out / f"{mart}.parquet"
            con.execute(
                f"copy (select {', '.join(columns)} from panel) to {sql_str(target)} "
                "(format parquet)"
            )
        rows, hot = con.sql(
            "select count(*), count(*) filter (where is_hot_seller) from panel"
        ).fetchone()
    finally:
        con.close()
    return {"panel_rows": rows, "hot_sellers": hot, "marts": str(out)}


# --------------------------------------------------------------------------- pandas
def _read_reviews_chunk(lines: list[str]):
    """A DataFrame of the JSON objects among `lines` and the number of lines set aside."""
    import pandas as pd

    lines = [line for line in lines if line.strip()]
    if not lines:
        return pd.DataFrame(), 0
    try:
        return pd.read_json(
            io.StringIO("".join(lines)), lines=True, dtype=False, convert_dates=False
        ), 0
    except (ValueError, TypeError, AttributeError):
        # at least one line is not a JSON object: parse this chunk line by line
        records = []
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                records.append(rec)
        return pd.DataFrame.from_records(records), len(lines) - len(records)


def _clean_reviews(chunk, params: dict[str, Any]):
    """The valid reviews of a chunk, typed, with only the columns the panel needs."""
    import numpy as np
    import pandas as pd

    chunk = chunk.reindex(columns=list(REVIEW_KEYS.values()))
    df = pd.DataFrame(index=chunk.index)
    for role in ("item_id", "variant_id", "customer_id"):
        df[role] = chunk[REVIEW_KEYS[role]].astype("string").str.strip(" ").replace("", pd.NA)
    df["title"] = chunk[REVIEW_KEYS["title"]].astype("string")
    ts_num = pd.to_numeric(chunk[REVIEW_KEYS["timestamp"]], errors="coerce")
    df["ts_num"] = ts_num
    # epoch ms inside the valid window (to_datetime overflows on absurd values even with
    # errors="coerce", so the window is applied to the numbers first)
    lo, hi = (pd.Timestamp(params[k]).value // 1_000_000 for k in ("valid_from", "valid_until"))
    df["event_ts"] = pd.to_datetime(ts_num.where((ts_num >= lo) & (ts_num < hi)), unit="ms")
    rating_raw = chunk[REVIEW_KEYS["rating"]]
    df["rating"] = pd.to_numeric(rating_raw, errors="coerce")
    df["helpful_votes"] = (
        pd.to_numeric(chunk[REVIEW_KEYS["helpful_votes"]], errors="coerce").round().fillna(0)
    )
    df["is_verified"] = chunk[REVIEW_KEYS["verified"]].map({True: 1.0, False: 0.0})

    valid = (
        df["item_id"].notna()
        & df["event_ts"].notna()
        & (rating_raw.isna() | df["rating"].between(1, 5))
    )
    return df[valid.fillna(False).astype(bool)].astype({"is_verified": np.float64})


def run_pandas(
    path: str | Path,
    out_dir: str | Path,
    panel: Any = None,
    *,
    chunksize: int = 250_000,
) -> dict[str, Any]:
    """Build the panel with pandas; write item_weeks / item_week_labels parquet."""
    import numpy as np
    import pandas as pd

    p = panel_params(panel)
    lookback = int(p["lookback_weeks"])
    horizon = int(p["horizon_weeks"])
    offset = WEEKDAYS.index(p["week_start"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    # read: chunks of lines through pd.read_json, keeping the valid reviews of each chunk
    frames = []
    set_aside = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        while lines := list(itertools.islice(fh, chunksize)):
            chunk, bad = _read_reviews_chunk(lines)
            set_aside += bad
            if len(chunk):
                frames.append(_clean_reviews(chunk, p))
            del chunk, lines
    reviews = pd.concat(frames, ignore_index=True)
    del frames

    # each copy of a review once
    reviews = reviews.drop_duplicates(
        subset=["item_id", "variant_id", "customer_id", "ts_num", "rating", "title"]
    )
    reviews["week_start"] = reviews["event_ts"].dt.normalize() - pd.to_timedelta(
        (reviews["event_ts"].dt.dayofweek - offset) % 7, unit="D"
    )

    # complete weeks only
    data_start = reviews["event_ts"].min().normalize()
    data_end = reviews["event_ts"].max().normalize() + pd.Timedelta(days=1)

    def week_of(ts: pd.Timestamp) -> pd.Timestamp:
        return ts.normalize() - pd.Timedelta(days=(ts.dayofweek - offset) % 7)

    first_week = week_of(data_start)
    if first_week != data_start:
        first_week += pd.Timedelta(days=7)
    last_week = week_of(data_end) - pd.Timedelta(days=7)
    reviews = reviews[reviews["week_start"].between(first_week, last_week)]

    weekly = reviews.groupby(["item_id", "week_start"]).agg(
        n_events=("event_ts", "size"),
        customers=("customer_id", "nunique"),
        helpful_votes=("helpful_votes", "sum"),
        n_verified_known=("is_verified", "count"),
        n_verified=("is_verified", "sum"),
        rating_sum=("rating", "sum"),
        n_ratings=("rating", "count"),
    )
    del reviews

    # dense weekly spine: every item from its first week to the last complete week
    first_weeks = weekly.reset_index().groupby("item_id")["week_start"].min()
    n_weeks = (last_week - first_weeks).dt.days // 7 + 1
    spine_items = first_weeks.index.repeat(n_weeks)
    week_number = pd.Series(1, index=spine_items).groupby(level=0).cumcount().to_numpy()
    spine_weeks = first_weeks.reindex(spine_items).to_numpy() + pd.to_timedelta(
        week_number * 7, unit="D"
    )
    spine = pd.MultiIndex.from_arrays([spine_items, spine_weeks], names=["item_id", "week_start"])
    panel_df = weekly.reindex(spine, fill_value=0)
    del weekly
    panel_df["first_week"] = first_weeks.reindex(spine_items).to_numpy()
    panel_df["units"] = panel_df["n_events"].astype("float64")
    panel_df["returned_units"] = 0.0
    panel_df["revenue"] = 0.0

    # past windows (this week included) and the future window
    by_item = panel_df.groupby(level="item_id", sort=False)
    past = by_item[["units", "revenue", "customers"]].rolling(lookback, min_periods=1).sum()
    past = past.droplevel(0)
    panel_df["units_lookback_sum"] = past["units"]
    panel_df["revenue_lookback_sum"] = past["revenue"]
    panel_df["customers_lookback_sum"] = past["customers"]
    panel_df["units_12w_sum"] = by_item["units"].rolling(12, min_periods=1).sum().droplevel(0)
    future = by_item["units"].shift(-1)
    for k in range(2, horizon + 1):
        future = future + by_item["units"].shift(-k)  # NaN once the window runs past the data
    panel_df["units_future_sum"] = future

    panel_df = panel_df.reset_index()
    week_start = panel_df["week_start"]
    panel_df["available_at"] = (week_start + pd.Timedelta(days=7)).dt.tz_localize("UTC")
    panel_df["label_available_at"] = (
        week_start + pd.Timedelta(days=7 * (horizon + 1))
    ).dt.tz_localize("UTC")
    panel_df["verified_ratio"] = panel_df["n_verified"] / panel_df["n_verified_known"].replace(
        0, np.nan
    )
    panel_df["mean_rating"] = panel_df["rating_sum"] / panel_df["n_ratings"].replace(0, np.nan)
    panel_df["weeks_since_first_event"] = (
        (week_start - panel_df["first_week"]).dt.days // 7
    ).astype("int32")
    panel_df["week_of_year"] = week_start.dt.isocalendar().week.astype("int32")

    # labels: growth score and the top of each week among eligible items with a known future
    panel_df["is_eligible"] = panel_df["units_lookback_sum"] >= p["min_past_activity"]
    panel_df["is_label_known"] = panel_df["units_future_sum"].notna()
    panel_df["growth_score"] = (panel_df["units_future_sum"] / horizon) / np.maximum(
        panel_df["units_lookback_sum"] / lookback, p["growth_floor"]
    )
    candidate = panel_df["is_eligible"] & panel_df["is_label_known"]
    panel_df["n_candidates"] = candidate.groupby(panel_df["week_start"]).transform("sum")
    panel_df["growth_rank"] = (
        panel_df["growth_score"]
        .where(candidate)
        .groupby(panel_df["week_start"])
        .rank(method="min", ascending=False)
        .astype("Int64")
    )
    cut = np.ceil(np.round((1 - p["hot_seller_quantile"]) * panel_df["n_candidates"], 9))
    hot = (panel_df["growth_score"] > 0) & (panel_df["growth_rank"] <= cut).fillna(False)
    panel_df["is_hot_seller"] = pd.Series(pd.NA, index=panel_df.index, dtype="boolean")
    panel_df.loc[panel_df["is_label_known"], "is_hot_seller"] = hot & panel_df["is_eligible"]

    panel_df[list(ITEM_WEEKS_COLUMNS)].to_parquet(out / "item_weeks.parquet", index=False)
    panel_df[list(LABEL_COLUMNS)].to_parquet(out / "item_week_labels.parquet", index=False)
    return {
        "panel_rows": len(panel_df),
        "hot_sellers": int(panel_df["is_hot_seller"].sum()),
        "lines_set_aside": set_aside,
        "marts": str(out),
    }


# --------------------------------------------------------------------------- dbt
def write_dbt_config(
    config_path: str | Path,
    source_paths: str | Path | list[str | Path],
    work_dir: str | Path,
    panel: dict[str, Any] | None = None,
) -> Path:
    """A darkhorse config with one amazon_reviews source; DuckDB file and marts in `work_dir`."""
    import yaml

    work = Path(work_dir).resolve()
    if isinstance(source_paths, str | Path):
        source_paths = [source_paths]
    files = [str(Path(s).resolve()) for s in source_paths]
    doc = {
        "project": "darkhorse",
        "sources": [
            {
                "name": "amazon_reviews",
                "kind": "amazon_reviews",
                "path": files[0] if len(files) == 1 else files,
                "timestamp_unit": "ms",
            }
        ],
        "panel": panel or {},
        "paths": {
            "data_dir": str(work),
            "duckdb": str(work / "darkhorse.duckdb"),
            "marts": str(work / "marts"),
            "dbt_project": str(REPO / "dbt_project"),
        },
    }
    path = Path(config_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def dbt_side_env(work_dir: str | Path) -> dict[str, str]:
    """dbt's target and log folders inside `work_dir` (the project folder stays untouched)."""
    work = Path(work_dir).resolve()
    return {
        "DBT_TARGET_PATH": str(work / "dbt_target"),
        "DBT_LOG_PATH": str(work / "dbt_logs"),
        **OFFLINE_ENV,
    }


def run_dbt_panel(config_path: str | Path, command: tuple[str, ...] = ("run",)) -> dict[str, Any]:
    """`dbt run` of the whole project on a config; the marts land in the config's marts folder."""
    from darkhorse.app.dbt_runner import BuildError, run_dbt
    from darkhorse.core.config import load_config

    config = load_config(config_path)
    os.environ.update(dbt_side_env(config.data_dir))
    if config.duckdb_path.exists():  # a fresh warehouse each time
        config.duckdb_path.unlink()
    # the marts go where the config says (not into a candidate folder a gate would publish)
    if not run_dbt(config, list(command), marts_dir=config.marts_dir):
        raise BuildError(f"dbt {' '.join(command)} failed (see the log)")
    con = duckdb.connect()
    try:
        labels = sql_str(config.marts_dir / "item_week_labels.parquet")
        rows, hot = con.sql(
            f"select count(*), count(*) filter (where is_hot_seller) from read_parquet({labels})"
        ).fetchone()
    finally:
        con.close()
    stats: dict[str, Any] = {"panel_rows": rows, "hot_sellers": hot, "marts": str(config.marts_dir)}
    # where dbt's time went: its execution phase and each model (parse and startup are the rest)
    run_results = Path(os.environ["DBT_TARGET_PATH"]) / "run_results.json"
    with contextlib.suppress(OSError, ValueError, KeyError):
        doc = json.loads(run_results.read_text())
        stats["dbt_elapsed_seconds"] = doc["elapsed_time"]
        stats["dbt_model_seconds"] = {
            r["unique_id"].rsplit(".", 1)[-1]: round(r["execution_time"], 3) for r in doc["results"]
        }
    return stats


# --------------------------------------------------------------------------- comparison
def compare_marts(
    ref_dir: str | Path, other_dir: str | Path, *, tolerance: float = TOLERANCE
) -> dict[str, Any]:
    """Row-by-row comparison of item_weeks and item_week_labels in two folders.

    Rows are matched on (item_id, week_start); numbers agree within `tolerance` (absolute, or
    relative above 1), everything else (booleans, dates, instants) exactly; null only matches
    null. Returns per mart the rows missing on either side and the mismatching rows per column;
    `agree` is true when every count is zero.
    """
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    result: dict[str, Any] = {"agree": True, "marts": {}}
    try:
        for mart, columns in (
            ("item_weeks", ITEM_WEEKS_COLUMNS),
            ("item_week_labels", LABEL_COLUMNS),
        ):
            for side, folder in (("a", ref_dir), ("b", other_dir)):
                con.execute(
                    f"create or replace temp view {side} as select * replace "
                    f"(cast(week_start as date) as week_start) "
                    f"from read_parquet({sql_str(Path(folder) / f'{mart}.parquet')})"
                )
            types = dict(con.sql("select column_name, column_type from (describe a)").fetchall())
            btypes = dict(con.sql("select column_name, column_type from (describe b)").fetchall())
            missing_cols = [c for c in columns if c not in types or c not in btypes]
            checks = []
            in_both = "(a.item_id is not null and b.item_id is not null)"
            for c in columns:
                if c in KEYS or c in missing_cols:
                    continue
                numeric = any(
                    t.startswith(
                        (
                            "DOUBLE",
                            "FLOAT",
                            "DECIMAL",
                            "BIGINT",
                            "INTEGER",
                            "HUGEINT",
                            "SMALLINT",
                            "TINYINT",
                            "UBIGINT",
                            "UINTEGER",
                        )
                    )
                    for t in (types[c], btypes[c])
                ) and not any(t == "BOOLEAN" for t in (types[c], btypes[c]))
                if numeric:
                    x, y = f"cast(a.{c} as double)", f"cast(b.{c} as double)"
                    bad = (
                        f"(({x} is null) <> ({y} is null) or abs({x} - {y}) > "
                        f"{tolerance} * greatest(1, abs({x})))"
                    )
                else:
                    bad = f"(a.{c} is distinct from b.{c})"
                checks.append(f"count(*) filter (where {in_both} and {bad}) as {c}")
            row = con.sql(
                f"""
                select
                    (select count(*) from a) as rows_a,
                    (select count(*) from b) as rows_b,
                    count(*) filter (where b.item_id is null) as only_in_a,
                    count(*) filter (where a.item_id is null) as only_in_b,
                    {", ".join(checks)}
                from a full outer join b
                    on a.item_id = b.item_id and a.week_start = b.week_start
                """
            )
            values = dict(zip(row.columns, row.fetchone(), strict=True))
            mismatches = {
                k: v
                for k, v in values.items()
                if k not in ("rows_a", "rows_b", "only_in_a", "only_in_b") and v
            }
            mart_result = {
                "rows_a": values["rows_a"],
                "rows_b": values["rows_b"],
                "only_in_a": values["only_in_a"],
                "only_in_b": values["only_in_b"],
                "column_mismatches": mismatches,
                "missing_columns": missing_cols,
            }
            if mart == "item_week_labels":
                hot = {}
                for side in ("a", "b"):
                    hot[side] = con.sql(
                        f"select count(*) filter (where is_hot_seller) from {side}"
                    ).fetchone()[0]
                mart_result["hot_sellers_a"] = hot["a"]
                mart_result["hot_sellers_b"] = hot["b"]
            mart_result["agree"] = not (
                values["only_in_a"] or values["only_in_b"] or mismatches or missing_cols
            )
            result["marts"][mart] = mart_result
            result["agree"] = result["agree"] and mart_result["agree"]
    finally:
        con.close()
    return result


def mismatch_examples(
    ref_dir: str | Path, other_dir: str | Path, mart: str, column: str, limit: int = 5
) -> list[tuple]:
    """A few rows where `column` differs between two folders (for a readable report)."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    try:
        a = sql_str(Path(ref_dir) / f"{mart}.parquet")
        b = sql_str(Path(other_dir) / f"{mart}.parquet")
        return con.sql(
            f"""
            select a.item_id, cast(a.week_start as date) as week_start, a.{column} as a, b.{column} as b
            from read_parquet({a}) a join read_parquet({b}) b
              on a.item_id = b.item_id and cast(a.week_start as date) = cast(b.week_start as date)
            where a.{column} is distinct from b.{column}
              and not coalesce(abs(cast(a.{column} as double) - cast(b.{column} as double)) <= {TOLERANCE}, false)
            order by all limit {int(limit)}
            """
        ).fetchall()
    except duckdb.Error:
        return []
    finally:
        con.close()


# --------------------------------------------------------------------------- worker
def _worker(args: argparse.Namespace) -> int:
    """Runs one implementation in this (fresh) process and writes its result as JSON."""
    from darkhorse.core.config import load_config

    config = load_config(args.config)
    out_dir = Path(args.work_dir) / "marts"
    if out_dir.exists():
        shutil.rmtree(out_dir)
    result: dict[str, Any] = {"implementation": args.worker, "ok": False}
    start = time.perf_counter()
    try:
        if args.worker == "floor":
            stats = run_floor(config.source_paths(config.sources[0]), out_dir, config.panel)
        elif args.worker == "pandas":
            stats = run_pandas(config.source_paths(config.sources[0])[0], out_dir, config.panel)
        elif args.worker == "dbt":
            stats = run_dbt_panel(args.config)
        else:
            raise ValueError(f"unknown implementation {args.worker!r}")
        result.update(ok=True, stats=stats)
    except MemoryError:
        result["error"] = "MemoryError: the build does not fit in memory"
    except Exception as e:
        result["error"] = f"{type(e).__name__}: {e}"
    result["inner_seconds"] = time.perf_counter() - start
    # ru_maxrss is in KiB on Linux: this process (floor, pandas) and its largest child (dbt)
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["maxrss_self_mb"] = own.ru_maxrss / 1024
    result["maxrss_children_mb"] = children.ru_maxrss / 1024
    # CPU seconds (user + system) of this process and its children: less sensitive than wall
    # time to other work on the machine
    result["cpu_seconds"] = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    Path(args.result).write_text(json.dumps(result, indent=2, default=str))
    return 0 if result["ok"] else 1


# --------------------------------------------------------------------------- harness
def size_label(rows: int) -> str:
    for unit, div in (("m", 1_000_000), ("k", 1_000)):
        if rows >= div and rows % div == 0:
            return f"{rows // div}{unit}"
    return str(rows)


def log(msg: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {msg}", flush=True)


def ensure_reviews(out_dir: Path, rows: int, seed: int) -> Path:
    """The synthetic file of `rows` reviews, generated once and reused afterwards."""
    path = out_dir / f"reviews_{size_label(rows)}_seed{seed}.jsonl"
    if path.exists():
        log(f"reusing {path} ({path.stat().st_size / 1e6:.0f} MB, generated by an earlier run)")
        return path
    from synthetic.generator import generate_reviews

    log(f"generating {rows:,} synthetic reviews into {path} ...")
    t0 = time.perf_counter()
    summary = generate_reviews(path, rows=rows, seed=seed, progress=sys.stderr.isatty())
    log(
        f"generated {summary['rows']:,} reviews of {summary['items']:,} items "
        f"({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f}s"
    )
    return path


def _tree_rss(proc) -> int:
    import psutil

    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def run_measured(
    impl: str, config_path: Path, work_dir: Path, *, timeout_s: float, label: str
) -> dict[str, Any]:
    """Run one implementation in a fresh subprocess; wall time, peak RSS, result."""
    import psutil

    work_dir.mkdir(parents=True, exist_ok=True)
    result_path = work_dir / "result.json"
    result_path.unlink(missing_ok=True)
    log_path = work_dir / "output.log"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        impl,
        "--config",
        str(config_path),
        "--work-dir",
        str(work_dir),
        "--result",
        str(result_path),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **dbt_side_env(work_dir)}
    load_before = os.getloadavg()[0]
    log(f"[{label}] {impl}: started (load average {load_before:.2f}; output in {log_path})")
    peak_tree = 0
    timed_out = False
    with open(log_path, "w") as log_fh:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=log_fh, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True
        )
        ps = psutil.Process(proc.pid)
        next_note = t0 + 15
        while proc.poll() is None:
            peak_tree = max(peak_tree, _tree_rss(ps))
            now = time.perf_counter()
            if now - t0 > timeout_s:
                timed_out = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # the worker's own process group
                proc.wait()
                break
            if now >= next_note:
                log(
                    f"[{label}] {impl}: running, {now - t0:.0f}s elapsed, "
                    f"RSS now {_tree_rss(ps) / 2**20:.0f} MB (peak {peak_tree / 2**20:.0f} MB)"
                )
                next_note = now + 15
            time.sleep(0.1)
        wall = time.perf_counter() - t0
    out: dict[str, Any] = {
        "implementation": impl,
        "load_average_before": load_before,
        "wall_seconds": wall,
        "peak_tree_rss_mb": peak_tree / 2**20,
        "returncode": proc.returncode,
        "log": str(log_path),
    }
    if result_path.exists():
        res = json.loads(result_path.read_text())
        out.update(
            ok=res["ok"],
            inner_seconds=res["inner_seconds"],
            peak_rss_mb=max(res["maxrss_self_mb"], res["maxrss_children_mb"]),
            cpu_seconds=res.get("cpu_seconds"),
            maxrss_self_mb=res["maxrss_self_mb"],
            maxrss_children_mb=res["maxrss_children_mb"],
            stats=res.get("stats"),
        )
        if not res["ok"]:
            out["error"] = res.get("error")
    else:
        out["ok"] = False
        if timed_out:
            out["error"] = f"timed out after {timeout_s:.0f}s (killed)"
        elif proc.returncode == -signal.SIGKILL:
            out["error"] = (
                f"killed by SIGKILL at {peak_tree / 2**30:.1f} GiB RSS: most likely out of memory"
            )
        else:
            out["error"] = f"exited with status {proc.returncode} without a result (see the log)"
    if out["ok"]:
        log(
            f"[{label}] {impl}: done in {wall:.1f}s, peak RSS {out['peak_rss_mb']:.0f} MB "
            f"(process tree {out['peak_tree_rss_mb']:.0f} MB), "
            f"{out['stats']['panel_rows']:,} panel rows, {out['stats']['hot_sellers']:,} hot sellers"
        )
    else:
        tail = ""
        with contextlib.suppress(OSError):
            tail = "".join(log_path.read_text(errors="replace").splitlines(True)[-15:])
        log(f"[{label}] {impl}: FAILED after {wall:.1f}s: {out['error']}\n{tail}")
    return out


def summarize_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from repeated runs: the median wall time and peak RSS, every run kept."""
    if len(runs) == 1 or not all(r.get("ok") for r in runs):
        out = dict(runs[-1])
    else:
        out = dict(sorted(runs, key=lambda r: r["wall_seconds"])[len(runs) // 2])
        for key in (
            "wall_seconds",
            "peak_rss_mb",
            "peak_tree_rss_mb",
            "inner_seconds",
            "cpu_seconds",
        ):
            out[key] = statistics.median(r[key] for r in runs)
            out[f"{key}_min"] = min(r[key] for r in runs)
            out[f"{key}_max"] = max(r[key] for r in runs)
    out["repeats"] = len(runs)
    if len(runs) > 1:
        out["runs"] = runs
    return out


def pandas_fits(rows: int, bytes_per_row: float) -> tuple[bool, str]:
    """Whether the pandas build should fit in the memory available now."""
    import psutil

    need = rows * bytes_per_row
    avail = psutil.virtual_memory().available
    if need > 0.9 * avail:
        return False, (
            f"estimated peak {need / 2**30:.1f} GiB ({bytes_per_row:.0f} B/row) exceeds 90% of the "
            f"{avail / 2**30:.1f} GiB available"
        )
    return True, f"estimated peak {need / 2**30:.1f} GiB of {avail / 2**30:.1f} GiB available"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _fmt(x: float | None, spec: str = ".1f") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def render_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Weekly panel build: dbt vs DuckDB floor vs pandas",
        "",
        f"Machine: {report['machine']['cpus']} CPUs, {report['machine']['memory_gib']:.1f} GiB RAM, "
        f"{report['machine']['platform']}; duckdb {report['versions']['duckdb']}, "
        f"pandas {report['versions']['pandas']}, dbt-core {report['versions']['dbt-core']}.",
        f"Command: `{report['command']}`",
        "",
        "| rows | implementation | runs | wall s | CPU s | peak RSS MB | tree RSS MB | panel rows "
        "| hot sellers | status |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for size in report["sizes"]:
        for impl in IMPLEMENTATIONS:
            r = size["results"].get(impl)
            if r is None:
                continue
            stats = r.get("stats") or {}
            status = "ok" if r.get("ok") else (r.get("skipped") or r.get("error") or "failed")
            panel_rows = f"{stats['panel_rows']:,}" if stats else "-"
            hot = f"{stats['hot_sellers']:,}" if stats else "-"
            lines.append(
                f"| {size['rows']:,} | {impl} | {r.get('repeats', '-')} | "
                f"{_fmt(r.get('wall_seconds'))} | {_fmt(r.get('cpu_seconds'))} | "
                f"{_fmt(r.get('peak_rss_mb'), '.0f')} | {_fmt(r.get('peak_tree_rss_mb'), '.0f')} | "
                f"{panel_rows} | {hot} | {status} |"
            )
    lines += [
        "",
        "| rows | dbt/floor time | dbt/floor RSS | pandas/dbt time | pandas/dbt RSS | outputs agree |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for size in report["sizes"]:
        r = size["ratios"]
        agree = (
            ", ".join(
                f"{k}: {'yes' if v['agree'] else 'NO'}" for k, v in size["comparisons"].items()
            )
            or "-"
        )
        lines.append(
            f"| {size['rows']:,} | {_fmt(r['dbt_floor_time'], '.2f')} | {_fmt(r['dbt_floor_rss'], '.2f')} | "
            f"{_fmt(r['pandas_dbt_time'], '.2f')} | {_fmt(r['pandas_dbt_rss'], '.2f')} | {agree} |"
        )
    for size in report["sizes"]:
        stats = (size["results"].get("dbt") or {}).get("stats") or {}
        models = stats.get("dbt_model_seconds")
        if models:
            top = ", ".join(
                f"{name} {sec:.1f}s" for name, sec in sorted(models.items(), key=lambda kv: -kv[1])
            )
            lines += [
                "",
                f"dbt at {size['rows']:,} rows: models executed in "
                f"{stats['dbt_elapsed_seconds']:.1f}s of {size['results']['dbt']['wall_seconds']:.1f}s "
                f"wall (the rest: start-up and parsing the project); {top}.",
            ]
    lines += [
        "",
        "wall s: the implementation's subprocess from start to exit (interpreter start, imports "
        "and dbt's parse included), the median of the runs. CPU s: user + system seconds of that "
        "process and its children (less sensitive than wall time to other load on the machine). "
        "peak RSS: the kernel's high-water mark of the process doing the work (the dbt process for "
        "dbt). tree RSS: peak of the sampled sum over the process tree (for dbt: the Python "
        "launcher plus dbt). dbt runs the whole project: besides the two panel "
        "marts it also builds dim_items, fct_events_quarantined and rpt_source_row_counts.",
        "",
    ]
    return "\n".join(lines)


def print_table(report: dict[str, Any]) -> None:
    header = (
        f"{'rows':>12}  {'implementation':<14} {'wall s':>9} {'CPU s':>9} {'peak RSS MB':>12} "
        f"{'tree RSS MB':>12}  status"
    )
    print()
    print(header)
    print("-" * len(header))
    for size in report["sizes"]:
        for impl in IMPLEMENTATIONS:
            r = size["results"].get(impl)
            if r is None:
                continue
            status = "ok" if r.get("ok") else (r.get("skipped") or r.get("error") or "failed")
            print(
                f"{size['rows']:>12,}  {impl:<14} {_fmt(r.get('wall_seconds')):>9} "
                f"{_fmt(r.get('cpu_seconds')):>9} {_fmt(r.get('peak_rss_mb'), '.0f'):>12} {_fmt(r.get('peak_tree_rss_mb'), '.0f'):>12}  {status}"
            )
        r = size["ratios"]
        print(
            f"{'':>12}  ratios: dbt/floor time {_fmt(r['dbt_floor_time'], '.2f')}, "
            f"RSS {_fmt(r['dbt_floor_rss'], '.2f')}; pandas/dbt time {_fmt(r['pandas_dbt_time'], '.2f')}, "
            f"RSS {_fmt(r['pandas_dbt_rss'], '.2f')}"
        )
        for name, comp in size["comparisons"].items():
            print(f"{'':>12}  {name}: {'outputs agree' if comp['agree'] else 'OUTPUTS DIFFER'}")
    print()


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("duckdb", "pandas", "pyarrow", "dbt-core", "dbt-duckdb"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "-"
    out["python"] = platform.python_version()
    return out


def run_benchmark(args: argparse.Namespace) -> int:
    import psutil

    out_dir = Path(args.out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    impls = [i for i in IMPLEMENTATIONS if i in args.impl]
    report: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gib": psutil.virtual_memory().total / 2**30,
            "platform": platform.platform(),
        },
        "versions": _versions(),
        "seed": args.seed,
        "tolerance": TOLERANCE,
        "sizes": [],
    }
    json_path = out_dir / "panel_bench.json"
    md_path = out_dir / "panel_bench.md"

    def save() -> None:
        json_path.write_text(json.dumps(report, indent=2, default=str))
        md_path.write_text(render_markdown(report))

    pandas_bytes_per_row = float(PANDAS_BYTES_PER_ROW_GUESS)
    all_agree = True
    for rows in sorted(args.rows):
        label = size_label(rows)
        log(f"=== size {rows:,} rows ({label}) ===")
        data = ensure_reviews(out_dir, rows, args.seed)
        run_dir = out_dir / "runs" / label
        size_entry: dict[str, Any] = {
            "rows": rows,
            "input": str(data),
            "input_mb": data.stat().st_size / 1e6,
            "results": {},
            "comparisons": {},
            "ratios": dict.fromkeys(
                ("dbt_floor_time", "dbt_floor_rss", "pandas_dbt_time", "pandas_dbt_rss")
            ),
        }
        report["sizes"].append(size_entry)
        for impl in impls:
            work = run_dir / impl
            if impl == "pandas":
                fits, why = pandas_fits(rows, pandas_bytes_per_row)
                reason = None
                if args.skip_pandas_above is not None and rows > args.skip_pandas_above:
                    reason = f"skipped: {rows:,} rows > --skip-pandas-above {args.skip_pandas_above:,}"
                elif not fits and not args.force_pandas:
                    reason = f"skipped: would not fit in memory ({why}); --force-pandas runs it anyway"
                if reason:
                    log(f"[{label}] pandas: {reason}")
                    size_entry["results"][impl] = {"implementation": impl, "ok": False, "skipped": reason}
                    continue
                log(f"[{label}] pandas: {why}")
            if work.exists():
                shutil.rmtree(work)
            config_path = write_dbt_config(work / "darkhorse.yaml", data, work)
            runs = []
            for i in range(args.repeat):
                # every dbt run parses the project from scratch (no saved manifest)
                shutil.rmtree(work / "dbt_target", ignore_errors=True)
                tag = label if args.repeat == 1 else f"{label} run {i + 1}/{args.repeat}"
                runs.append(
                    run_measured(impl, config_path, work, timeout_s=args.timeout, label=tag)
                )
                if not runs[-1].get("ok"):
                    break
            res = summarize_runs(runs)
            size_entry["results"][impl] = res
            if impl == "pandas" and res.get("ok") and res.get("peak_rss_mb"):
                # measured on this run's smaller size: the estimate for the next one
                pandas_bytes_per_row = 1.1 * res["peak_rss_mb"] * 2**20 / rows
            save()

        # compare: every implementation against dbt (or the floor when dbt did not run)
        ok = {i: r for i, r in size_entry["results"].items() if r.get("ok")}
        ref = "dbt" if "dbt" in ok else ("floor" if "floor" in ok else None)
        if ref is not None:
            for impl in ok:
                if impl == ref:
                    continue
                name = f"{impl} vs {ref}"
                log(f"[{label}] comparing {name} ...")
                comp = compare_marts(ok[ref]["stats"]["marts"], ok[impl]["stats"]["marts"])
                comp["reference"], comp["other"] = ref, impl
                if not comp["agree"]:
                    examples = {}
                    for mart, m in comp["marts"].items():
                        for col in m["column_mismatches"]:
                            examples[f"{mart}.{col}"] = [
                                [str(v) for v in row]
                                for row in mismatch_examples(
                                    ok[ref]["stats"]["marts"], ok[impl]["stats"]["marts"], mart, col
                                )
                            ]
                    comp["examples"] = examples
                    all_agree = False
                size_entry["comparisons"][name] = comp
                log(
                    f"[{label}] {name}: {'agree' if comp['agree'] else 'DIFFER'} "
                    + json.dumps(
                        {
                            m: {k: v for k, v in d.items() if k != "agree"}
                            for m, d in comp["marts"].items()
                        },
                        default=str,
                    )
                )

        def metric(impl: str, key: str, results: dict = size_entry["results"]) -> float | None:
            r = results.get(impl) or {}
            return r.get(key) if r.get("ok") else None

        size_entry["ratios"] = {
            "dbt_floor_time": _ratio(
                metric("dbt", "wall_seconds"), metric("floor", "wall_seconds")
            ),
            "dbt_floor_rss": _ratio(metric("dbt", "peak_rss_mb"), metric("floor", "peak_rss_mb")),
            "pandas_dbt_time": _ratio(
                metric("pandas", "wall_seconds"), metric("dbt", "wall_seconds")
            ),
            "pandas_dbt_rss": _ratio(metric("pandas", "peak_rss_mb"), metric("dbt", "peak_rss_mb")),
        }
        save()
    report["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    save()
    print_table(report)
    log(f"results written to {json_path} and {md_path}")
    failed = [
        f"{size['rows']:,} {impl}"
        for size in report["sizes"]
        for impl, r in size["results"].items()
        if not r.get("ok") and not r.get("skipped")
    ]
    if failed:
        log(f"failed: {', '.join(failed)}")
    # 1: an implementation failed or the outputs disagree (skipped runs are not failures)
    return 0 if all_agree and not failed else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows",
        type=int,
        nargs="+",
        default=[1_000_000],
        help="input sizes in review lines (default: 1000000)",
    )
    parser.add_argument(
        "--out-dir",
        default=str(REPO / "data" / "bench"),
        help="generated inputs, outputs and results (default: data/bench)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generator seed")
    parser.add_argument(
        "--impl",
        nargs="+",
        choices=IMPLEMENTATIONS,
        default=list(IMPLEMENTATIONS),
        help="implementations to run (default: all three)",
    )
    parser.add_argument(
        "--skip-pandas-above",
        type=int,
        default=None,
        metavar="N",
        help="do not run pandas on inputs of more than N rows",
    )
    parser.add_argument(
        "--force-pandas",
        action="store_true",
        help="run pandas even where the memory estimate says it will not fit",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run each implementation N times; report the median (default 1)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"per-implementation time limit (default {DEFAULT_TIMEOUT_S}s)",
    )
    # internal: run one implementation in this process
    parser.add_argument("--worker", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--work-dir", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args)
    return run_benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
