"""Benchmark of the feature store: point-in-time training sets and online lookups.

On a synthetic panel written with the published marts' schema (`item_weeks`, `items`,
`item_week_labels`; microsecond UTC timestamps), by default 2,000 items x 156 weeks:

* ``pit``: `darkhorse.core.features.historical_features` (Feast, DuckDB offline store) for N entity
  rows (random items, random cutoff instants), 100k and 1M by default; each size runs in a
  fresh process so its wall time and peak RSS are its own;
* ``training``: `training.dataset.build_training_set` for every item at every origin week
  (features + labels + 12 weekly targets);
* ``online``: `darkhorse.core.features.online_features` (what the service calls) and the bare
  `FeatureStore.get_online_features` for 1 and 100 items, p50/p99 over `--calls` calls, on the
  sqlite online store and on Redis (a `redis-server` started on a free loopback port).

Prints a table and writes JSON (and Markdown) under `--out-dir` (default data/bench).

    python benchmarks/bench_features.py                       # everything, default sizes
    python benchmarks/bench_features.py --rows 100000 --calls 200 --skip-redis

The synthetic-panel writer (`write_synthetic_marts`) and the Redis launcher (`redis_server`)
are also used by the tests.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
if (
    str(REPO) not in sys.path
):  # run as a script: make `darkhorse`, `training`, `benchmarks` importable
    sys.path.insert(0, str(REPO))

os.environ.setdefault("FEAST_USAGE", "False")

UTC = dt.UTC
TS = pa.timestamp("us", tz="UTC")

ITEM_WEEKS_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("week_start", pa.date32()),
        ("available_at", TS),
        ("units", pa.float64()),
        ("returned_units", pa.float64()),
        ("revenue", pa.float64()),
        ("n_events", pa.int64()),
        ("customers", pa.int64()),
        ("helpful_votes", pa.float64()),
        ("verified_ratio", pa.float64()),
        ("mean_rating", pa.float64()),
        ("units_lookback_sum", pa.float64()),
        ("units_12w_sum", pa.float64()),
        ("revenue_lookback_sum", pa.float64()),
        ("customers_lookback_sum", pa.float64()),
        ("weeks_since_first_event", pa.int32()),
        ("week_of_year", pa.int32()),
    ]
)
LABELS_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("week_start", pa.date32()),
        ("available_at", TS),
        ("label_available_at", TS),
        ("units_lookback_sum", pa.float64()),
        ("units_future_sum", pa.float64()),
        ("growth_score", pa.float64()),
        ("is_eligible", pa.bool_()),
        ("is_label_known", pa.bool_()),
        ("n_candidates", pa.int64()),
        ("growth_rank", pa.int64()),
        ("is_hot_seller", pa.bool_()),
    ]
)
ITEMS_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("source_name", pa.string()),
        ("source_kind", pa.string()),
        ("description", pa.string()),
        ("first_event_at", TS),
        ("last_event_at", TS),
        ("first_week", pa.date32()),
        ("first_available_at", TS),
        ("last_active_week", pa.date32()),
        ("n_weeks", pa.int64()),
        ("n_active_weeks", pa.int64()),
        ("total_units", pa.float64()),
        ("total_returned_units", pa.float64()),
        ("total_revenue", pa.float64()),
        ("median_unit_price", pa.float64()),
        ("n_customers", pa.int64()),
        ("n_regions", pa.int64()),
        ("primary_region", pa.string()),
        ("n_variants", pa.int64()),
    ]
)
# weekly feature columns and the sentinel a leakage test plants in "future" weeks
SENTINEL_FLOAT = 1e9
SENTINEL_INT = 999_999_999
SENTINEL_INT32 = 2_000_000_000


# --------------------------------------------------------------------------- synthetic panel
def _rolling(cum: np.ndarray, window: int) -> np.ndarray:
    """Sum over the last `window` columns (current included) from a cumulative sum."""
    out = cum.copy()
    out[:, window:] -= cum[:, :-window]
    return out


def synthetic_marts(
    *,
    n_items: int,
    n_weeks: int,
    start: dt.date = dt.date(2021, 1, 4),
    seed: int = 0,
    lookback: int = 4,
    horizon: int = 12,
    quantile: float = 0.95,
    launch_share: float = 0.3,
    sentinel_after: dt.datetime | None = None,
) -> dict[str, pd.DataFrame]:
    """A dense weekly panel with the marts' columns: `item_weeks`, `item_week_labels`, `items`.

    Weeks start on `start` (a Monday); `launch_share` of the items start later than the first
    week. With `sentinel_after`, every weekly feature of a week closing after that instant is
    replaced by a sentinel (`SENTINEL_FLOAT`, `SENTINEL_INT`, `SENTINEL_INT32`): any sentinel in
    a feature joined at an earlier cutoff is a leak.
    """
    if start.weekday() != 0:
        raise ValueError("start must be a Monday")
    rng = np.random.default_rng(seed)
    weeks = np.arange(n_weeks)
    first = np.where(
        rng.random(n_items) < launch_share, rng.integers(1, max(2, n_weeks // 2), n_items), 0
    )
    active = weeks[None, :] >= first[:, None]
    rate = rng.gamma(1.5, 4.0, n_items)
    season = 1 + 0.3 * np.sin(2 * np.pi * weeks / 52.0)
    surge = np.where(rng.random(n_items) < 0.05, rng.integers(0, n_weeks, n_items), n_weeks + 1)
    boost = 1 + 3.0 * (weeks[None, :] >= surge[:, None])
    units = rng.poisson(rate[:, None] * season[None, :] * boost).astype("float64") * active
    returned = np.minimum(rng.poisson(0.05 * units), units)
    price = rng.uniform(1, 50, n_items).round(2)
    revenue = (units * price[:, None]).round(2)
    n_events = (units > 0) * np.maximum(1, (units * 0.8).astype("int64"))
    customers = np.minimum(n_events, rng.poisson(0.7 * units).astype("int64"))
    has_reviews = n_events > 0
    helpful = np.where(has_reviews, rng.poisson(2.0, units.shape), np.nan).astype("float64")
    verified = np.where(has_reviews, rng.uniform(0, 1, units.shape).round(3), np.nan)
    rating = np.where(has_reviews, rng.uniform(1, 5, units.shape).round(2), np.nan)

    cu = np.cumsum(units, axis=1)
    units_lb = _rolling(cu, lookback)
    units_12 = _rolling(cu, 12)
    rev_lb = _rolling(np.cumsum(revenue, axis=1), lookback).round(2)
    cust_lb = _rolling(np.cumsum(customers, axis=1), lookback).astype("float64")
    future = np.full(units.shape, np.nan)
    if n_weeks > horizon:
        future[:, : n_weeks - horizon] = cu[:, horizon:] - cu[:, : n_weeks - horizon]

    week_start = pd.to_datetime(start) + pd.to_timedelta(weeks * 7, unit="D")
    close = (week_start + pd.Timedelta(days=7)).tz_localize("UTC")
    ii, ww = np.nonzero(active)
    ids = np.array([f"I{i:06d}" for i in range(n_items)], dtype=object)

    iw = pd.DataFrame(
        {
            "item_id": ids[ii],
            "week_start": week_start[ww].date,
            "available_at": close[ww],
            "units": units[ii, ww],
            "returned_units": returned[ii, ww].astype("float64"),
            "revenue": revenue[ii, ww],
            "n_events": n_events[ii, ww].astype("int64"),
            "customers": customers[ii, ww].astype("int64"),
            "helpful_votes": helpful[ii, ww],
            "verified_ratio": verified[ii, ww],
            "mean_rating": rating[ii, ww],
            "units_lookback_sum": units_lb[ii, ww],
            "units_12w_sum": units_12[ii, ww],
            "revenue_lookback_sum": rev_lb[ii, ww],
            "customers_lookback_sum": cust_lb[ii, ww],
            "weeks_since_first_event": (ww - first[ii]).astype("int32"),
            "week_of_year": week_start[ww].isocalendar().week.to_numpy().astype("int32"),
        }
    )
    if sentinel_after is not None:
        late = (iw["available_at"] > pd.Timestamp(sentinel_after)).to_numpy()
        for f in ITEM_WEEKS_SCHEMA:
            if f.name in ("item_id", "week_start", "available_at"):
                continue
            value = (
                SENTINEL_FLOAT
                if pa.types.is_floating(f.type)
                else SENTINEL_INT32
                if f.type == pa.int32()
                else SENTINEL_INT
            )
            iw.loc[late, f.name] = value

    lab = pd.DataFrame(
        {
            "item_id": ids[ii],
            "week_start": week_start[ww].date,
            "available_at": close[ww],
            "label_available_at": close[ww] + pd.Timedelta(weeks=horizon),
            "units_lookback_sum": units_lb[ii, ww],
            "units_future_sum": future[ii, ww],
        }
    )
    lab["growth_score"] = (lab["units_future_sum"] / horizon) / np.maximum(
        lab["units_lookback_sum"] / lookback, 1.0
    )
    lab["is_eligible"] = lab["units_lookback_sum"] >= 1
    lab["is_label_known"] = lab["units_future_sum"].notna()
    cand = lab["is_eligible"] & lab["is_label_known"]
    lab["n_candidates"] = cand.groupby(lab["week_start"]).transform("sum").astype("int64")
    rank = (
        lab["growth_score"]
        .where(cand)
        .groupby(lab["week_start"])
        .rank(method="min", ascending=False)
    )
    lab["growth_rank"] = rank.astype("Int64")
    cut = np.ceil(np.round((1 - quantile) * lab["n_candidates"], 9))
    hot = cand & (lab["growth_score"] > 0) & (rank <= cut)
    lab["is_hot_seller"] = hot.astype("boolean").where(lab["is_label_known"], pd.NA)

    first_week = week_start[first]
    last_active = np.where(
        units.any(axis=1), n_weeks - 1 - np.argmax(units[:, ::-1] > 0, axis=1), first
    )
    items = pd.DataFrame(
        {
            "item_id": ids,
            "source_name": "synthetic",
            "source_kind": np.where(np.arange(n_items) % 2 == 0, "amazon_reviews", "sales"),
            "description": [f"synthetic item {i}" for i in range(n_items)],
            "first_event_at": first_week.tz_localize("UTC") + pd.Timedelta(hours=9),
            "last_event_at": week_start[last_active].tz_localize("UTC") + pd.Timedelta(hours=17),
            "first_week": first_week.date,
            "first_available_at": (first_week + pd.Timedelta(days=7)).tz_localize("UTC"),
            "last_active_week": week_start[last_active].date,
            "n_weeks": (n_weeks - first).astype("int64"),
            "n_active_weeks": (units > 0).sum(axis=1).astype("int64"),
            "total_units": units.sum(axis=1),
            "total_returned_units": returned.sum(axis=1).astype("float64"),
            "total_revenue": revenue.sum(axis=1).round(2),
            "median_unit_price": price,
            "n_customers": customers.sum(axis=1).astype("int64"),
            "n_regions": np.int64(1),
            "primary_region": "GB",
            "n_variants": np.int64(1),
        }
    )
    return {"item_weeks": iw, "item_week_labels": lab, "items": items}


def write_synthetic_marts(marts_dir: Path, **kwargs: Any) -> dict[str, pd.DataFrame]:
    """Write `synthetic_marts(**kwargs)` as Parquet into `marts_dir`; returns the frames."""
    marts_dir = Path(marts_dir)
    marts_dir.mkdir(parents=True, exist_ok=True)
    frames = synthetic_marts(**kwargs)
    schemas = {
        "item_weeks": ITEM_WEEKS_SCHEMA,
        "item_week_labels": LABELS_SCHEMA,
        "items": ITEMS_SCHEMA,
    }
    for name, df in frames.items():
        table = pa.Table.from_pandas(df, schema=schemas[name], preserve_index=False)
        pq.write_table(table, marts_dir / f"{name}.parquet")
    return frames


def publish_snapshot(
    data_dir: Path, run_id: str, **kwargs: Any
) -> tuple[Path, dict[str, pd.DataFrame]]:
    """Write synthetic marts to `data_dir/published/<run_id>` and point `data_dir/marts` at it
    the way the publish step does (a relative symlink switched with one rename)."""
    target = data_dir / "published" / run_id
    frames = write_synthetic_marts(target, **kwargs)
    link = data_dir / "marts"
    tmp = data_dir / f".marts.{run_id}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(os.path.relpath(target, data_dir), tmp, target_is_directory=True)
    os.replace(tmp, link)
    return target, frames


# --------------------------------------------------------------------------- redis
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_server_binary(*, install: bool = True) -> tuple[str | None, str]:
    """(path of redis-server or None, how it was found: 'present', 'installed' or why not)."""
    found = shutil.which("redis-server")
    if found:
        return found, "present"
    if not install:
        return None, "redis-server is not installed"
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return (
            None,
            "redis-server is not installed and installing it needs root (apt-get install redis-server)",
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    proc = subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "redis-server"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    found = shutil.which("redis-server")
    if found:
        return found, "installed"
    return None, f"apt-get install redis-server failed: {proc.stderr.strip()[-400:]}"


@contextlib.contextmanager
def redis_server(binary: str = "redis-server", *, port: int | None = None) -> Iterator[str]:
    """Run a throwaway redis-server on 127.0.0.1 (no persistence); yields 'host:port'."""
    import redis

    port = port or free_port()
    workdir = tempfile.mkdtemp(prefix="darkhorse-redis-")
    proc = subprocess.Popen(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
            "--protected-mode",
            "yes",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 15
        while True:
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(
                        f"redis-server did not start on port {port}: {err}"
                    ) from None
                time.sleep(0.05)
        client.close()
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------- bench cases
def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _workspace_config(work: Path, *, items: int, weeks: int, seed: int):
    """A config in `work` (data/marts a published synthetic snapshot), applied + materialized
    on sqlite once; reused by every case."""
    import yaml

    from darkhorse.core.config import load_config

    cfg_path = work / "darkhorse.yaml"
    if not cfg_path.exists():
        work.mkdir(parents=True, exist_ok=True)
        doc = {
            "project": "darkhorse",
            "sources": [{"name": "synthetic", "kind": "amazon_reviews", "path": "raw.jsonl"}],
            "paths": {
                "data_dir": str(work / "data"),
                "duckdb": str(work / "data" / "dh.duckdb"),
                "marts": str(work / "data" / "marts"),
                "dbt_project": str(REPO / "dbt_project"),
            },
            "feast": {"repo": str(REPO / "feature_repo")},
        }
        publish_snapshot(work / "data", "bench", n_items=items, n_weeks=weeks, seed=seed)
        cfg_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_config(cfg_path)


def case_pit(work: Path, rows: int, seed: int) -> dict[str, Any]:
    from darkhorse.core import features

    cfg = _workspace_config(work, items=0, weeks=0, seed=seed)
    rss0 = _peak_rss_mb()
    store = features.feature_store(cfg)
    lo, hi = features.data_time_range(cfg)
    rng = np.random.default_rng(seed)
    items = pd.read_parquet(
        features.published_marts_dir(cfg) / "items.parquet", columns=["item_id"]
    )["item_id"]
    span = (hi - lo).total_seconds()
    ent = pd.DataFrame(
        {
            "item_id": items.to_numpy()[rng.integers(0, len(items), rows)],
            "event_timestamp": pd.Timestamp(lo)
            + pd.to_timedelta(rng.uniform(0, span, rows).round(), unit="s"),
        }
    )
    t0 = time.perf_counter()
    out = features.historical_features(cfg, ent, store=store)
    secs = time.perf_counter() - t0
    return {
        "case": "pit",
        "entity_rows": rows,
        "seconds": round(secs, 2),
        "rows_per_s": round(rows / secs),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "rss_before_mb": round(rss0, 1),
        "rows_with_features": int(out["units"].notna().sum()),
    }


def case_training(work: Path, every: int, seed: int) -> dict[str, Any]:
    from darkhorse.core import features
    from training.dataset import build_training_set

    cfg = _workspace_config(work, items=0, weeks=0, seed=seed)
    store = features.feature_store(cfg)  # feast imported and the registry read outside the timing
    rss0 = _peak_rss_mb()
    weeks = pd.read_parquet(
        features.published_marts_dir(cfg) / "item_weeks.parquet", columns=["week_start"]
    )
    origins = sorted(weeks["week_start"].unique())[::every]
    t0 = time.perf_counter()
    ts = build_training_set(cfg, origins=origins, store=store)
    secs = time.perf_counter() - t0
    return {
        "case": "training",
        "origins": len(origins),
        "entity_rows": len(ts),
        "seconds": round(secs, 2),
        "rows_per_s": round(len(ts) / secs),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "rss_before_mb": round(rss0, 1),
        "n_without_history": ts.n_without_history,
    }


def _percentiles(samples: list[float]) -> dict[str, float]:
    a = np.array(samples) * 1000
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p99_ms": round(float(np.percentile(a, 99)), 3),
        "mean_ms": round(float(a.mean()), 3),
    }


def case_online(
    work: Path, calls: int, seed: int, *, store_kind: str, redis: str | None
) -> list[dict[str, Any]]:
    from darkhorse.core import features

    if store_kind == "redis":
        os.environ["DARKHORSE_ONLINE_STORE"] = "redis"
        os.environ["DARKHORSE_REDIS"] = redis or ""
    cfg = _workspace_config(work, items=0, weeks=0, seed=seed)
    store = features.feature_store(cfg)
    mat = 0.0
    if store_kind == "redis":
        t0 = time.perf_counter()
        features.materialize(cfg, store=store)
        mat = time.perf_counter() - t0
    items = pd.read_parquet(
        features.published_marts_dir(cfg) / "items.parquet", columns=["item_id"]
    )["item_id"].to_numpy()
    rng = np.random.default_rng(seed)
    service = store.get_feature_service(features.SERVING_SERVICE)
    results = []
    for n in (1, 100):
        for api in ("online_features", "feast"):
            batches = [list(items[rng.integers(0, len(items), n)]) for _ in range(calls + 10)]
            samples = []
            for k, batch in enumerate(batches):
                t0 = time.perf_counter()
                if api == "feast":
                    store.get_online_features(
                        features=service, entity_rows=[{"item_id": i} for i in batch]
                    ).to_dict()
                else:
                    features.online_features(cfg, batch, store=store)
                if k >= 10:  # the first calls warm caches up
                    samples.append(time.perf_counter() - t0)
            results.append(
                {
                    "case": "online",
                    "store": store_kind,
                    "api": api,
                    "items": n,
                    "calls": calls,
                    **_percentiles(samples),
                    **({"materialize_s": round(mat, 2)} if mat else {}),
                }
            )
    return results


def _run_child(args: list[str]) -> Any:
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench case {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--weeks", type=int, default=156)
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--training-every", type=int, default=1, help="every Nth week is an origin")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-redis", action="store_true")
    ap.add_argument("--out-dir", type=Path, default=REPO / "data" / "bench")
    ap.add_argument("--work-dir", type=Path, default=None, help="keep the synthetic panel here")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--arg", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a.case:  # a child process: one case, JSON on the last stdout line
        work = Path(a.work_dir)
        with contextlib.redirect_stdout(sys.stderr):
            if a.case == "pit":
                res: Any = case_pit(work, int(a.arg), a.seed)
            elif a.case == "training":
                res = case_training(work, int(a.arg), a.seed)
            else:
                kind, _, redis = a.arg.partition("@")
                res = case_online(work, a.calls, a.seed, store_kind=kind, redis=redis or None)
        print(json.dumps(res))
        return 0

    from darkhorse.core import features

    work = a.work_dir or Path(tempfile.mkdtemp(prefix="darkhorse-bench-features-"))
    t0 = time.perf_counter()
    cfg = _workspace_config(work, items=a.items, weeks=a.weeks, seed=a.seed)
    gen_s = time.perf_counter() - t0
    n_rows = pq.read_metadata(features.published_marts_dir(cfg) / "item_weeks.parquet").num_rows
    t0 = time.perf_counter()
    features.apply(cfg)
    apply_s = time.perf_counter() - t0
    mat = features.materialize(cfg)
    print(
        f"synthetic panel: {a.items:,} items x {a.weeks} weeks = {n_rows:,} rows in {work} "
        f"({gen_s:.1f}s); apply {apply_s:.2f}s, materialize sqlite {mat['seconds']:.2f}s",
        flush=True,
    )

    results: list[dict[str, Any]] = []
    common = ["--work-dir", str(work), "--seed", str(a.seed), "--calls", str(a.calls)]
    for rows in a.rows:
        results.append(_run_child(["--case", "pit", "--arg", str(rows), *common]))
        print(
            f"  pit {rows:,}: {results[-1]['seconds']}s, peak {results[-1]['peak_rss_mb']} MB",
            flush=True,
        )
    results.append(_run_child(["--case", "training", "--arg", str(a.training_every), *common]))
    print(
        f"  training set {results[-1]['entity_rows']:,} rows: {results[-1]['seconds']}s", flush=True
    )
    results.extend(_run_child(["--case", "online", "--arg", "sqlite", *common]))
    redis_note = "skipped (--skip-redis)"
    if not a.skip_redis:
        binary, how = redis_server_binary()
        if binary is None:
            redis_note = f"skipped: {how}"
        else:
            redis_note = f"redis-server {how}"
            with redis_server(binary) as conn:
                results.extend(_run_child(["--case", "online", "--arg", f"redis@{conn}", *common]))

    meta = {
        "when": dt.datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "panel": {"items": a.items, "weeks": a.weeks, "rows": n_rows},
        "apply_s": round(apply_s, 2),
        "materialize_sqlite_s": mat["seconds"],
        "redis": redis_note,
    }
    lines = ["| case | size | seconds | rows/s | peak RSS MB (before) |", "|---|---|---|---|---|"]
    for r in results:
        if r["case"] in ("pit", "training"):
            lines.append(
                f"| {r['case']} | {r['entity_rows']:,} rows | {r['seconds']} | {r['rows_per_s']:,} | "
                f"{r['peak_rss_mb']} ({r['rss_before_mb']}) |"
            )
    lines += [
        "",
        "| online store | api | items/call | p50 ms | p99 ms | mean ms |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        if r["case"] == "online":
            lines.append(
                f"| {r['store']} | {r['api']} | {r['items']} | {r['p50_ms']} | {r['p99_ms']} | {r['mean_ms']} |"
            )
    table = "\n".join(lines)
    print(f"\n{meta['machine']}; {meta['redis']}\n\n{table}")
    a.out_dir.mkdir(parents=True, exist_ok=True)
    (a.out_dir / "features.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=2)
    )
    (a.out_dir / "features.md").write_text(f"# Feature store benchmark\n\n{meta}\n\n{table}\n")
    print(f"\nwritten: {a.out_dir / 'features.json'}, {a.out_dir / 'features.md'}")
    if a.work_dir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
