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

The synthetic panel comes from synthetic/marts.py and the Redis launcher from
tests/fixtures/servers.py (the tests use both too).
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
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
if (
    str(REPO) not in sys.path
):  # run as a script: make `darkhorse`, `training`, `benchmarks` importable
    sys.path.insert(0, str(REPO))

from darkhorse.core.env import set_process_defaults  # noqa: E402

set_process_defaults()

from synthetic.marts import publish_snapshot  # noqa: E402
from tests.fixtures.servers import redis_server, redis_server_binary  # noqa: E402


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
        cfg.marts_dir / "items.parquet", columns=["item_id"]
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
        cfg.marts_dir / "item_weeks.parquet", columns=["week_start"]
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
        cfg.marts_dir / "items.parquet", columns=["item_id"]
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
    n_rows = pq.read_metadata(cfg.marts_dir / "item_weeks.parquet").num_rows
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
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
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
