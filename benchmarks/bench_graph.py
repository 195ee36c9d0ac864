"""Benchmark of the product graph and item text marts (dbt) on synthetic reviews.

For each size, synthetic Amazon Reviews 2023 JSON Lines (`synthetic.generator`, with the
planted graph effects of `spread=True` unless `--plain`) are generated once (reused across
runs), and `dbt run` builds the graph marts with everything they need (staging, the classified
events, the weekly panel and labels, `fct_item_edges`, `fct_item_graph_features`,
`fct_item_week_texts`) into a fresh DuckDB file in its own subprocess. Per size it prints and
writes (JSON) the wall seconds of each model from dbt's run_results, the total, the process
peak RSS and the marts' row counts.

    nice -n 10 python benchmarks/bench_graph.py --rows 1000000 10000000 --out-dir data/bench/graph
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import yaml

REPO = Path(__file__).resolve().parents[1]
SELECT = ["+fct_item_edges", "+fct_item_graph_features", "+fct_item_week_texts"]
MARTS = ("item_edges", "item_graph_features", "item_week_texts", "item_weeks")


def _reviews(out_dir: Path, rows: int, spread: bool) -> Path:
    from synthetic.generator import generate_reviews

    path = out_dir / f"reviews_{rows}{'_spread' if spread else ''}.jsonl.gz"
    if not path.exists():
        t0 = time.perf_counter()
        generate_reviews(path, rows=rows, seed=0, spread=spread)
        print(f"generated {rows:,} reviews in {time.perf_counter() - t0:.0f} s: {path}", flush=True)
    return path


def _config(work: Path, sources: list[dict[str, Any]]) -> Path:
    doc = {
        "sources": sources,
        "paths": {"data_dir": str(work / "data"), "duckdb": str(work / "data" / "bench.duckdb"),
                  "marts": str(work / "data" / "marts"), "dbt_project": str(REPO / "dbt_project")},
    }
    path = work / "darkhorse.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def build_marts(work: Path, sources: list[dict[str, Any]]) -> tuple[Path, dict[str, Any]]:
    """dbt run of the graph marts and their parents for `sources` into `work`/marts; the
    folder and the timings."""
    from darkhorse.app.dbt_runner import run_dbt
    from darkhorse.core.config import load_config

    work = work.resolve()  # dbt resolves a relative --target-path against its project folder
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    cfg = load_config(_config(work, sources))
    marts, target = work / "marts", work / "target"
    t0 = time.perf_counter()
    ok = run_dbt(cfg, ["run", "--select", *SELECT, "--target-path", str(target)], marts_dir=marts)
    wall = time.perf_counter() - t0
    if not ok:
        raise SystemExit(f"dbt run failed in {work} (see dbt's output above)")
    results = json.loads((target / "run_results.json").read_text())
    models = {r["unique_id"].split(".")[-1]: round(r["execution_time"], 2) for r in results["results"]}
    counts = {m: duckdb.sql(f"select count(*) from '{marts / m}.parquet'").fetchall()[0][0] for m in MARTS}
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    graph_s = sum(v for k, v in models.items() if k in ("int_item_edges", "fct_item_edges", "fct_item_graph_features",
                                                        "fct_item_week_texts"))
    return marts, {"wall_s": round(wall, 1), "graph_marts_s": round(graph_s, 1), "models_s": models,
                   "rows_out": counts, "peak_rss_mb": round(peak)}


def run_size(out_dir: Path, rows: int, *, spread: bool) -> dict[str, Any]:
    reviews = _reviews(out_dir, rows, spread)
    work = out_dir / f"run_{rows}{'_spread' if spread else ''}"
    _, info = build_marts(work, [{"name": "reviews", "kind": "amazon_reviews", "path": str(reviews)}])
    return {"rows": rows, "spread": spread, **info}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    p.add_argument("--out-dir", type=Path, default=REPO / "data" / "bench" / "graph")
    p.add_argument("--plain", action="store_true", help="reviews without the planted graph effects")
    args = p.parse_args(argv)
    args.out_dir = args.out_dir.resolve()  # the generated config names its sources relative to itself
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for rows in args.rows:
        r = run_size(args.out_dir, rows, spread=not args.plain)
        out.append(r)
        print(json.dumps(r), flush=True)
    print(f"\n{'reviews':>12} {'dbt run s':>10} {'graph marts s':>14} {'edges s':>8} {'features s':>11} "
          f"{'texts s':>8} {'edge rows':>11} {'feature rows':>13} {'peak MB':>8}")
    for r in out:
        m = r["models_s"]
        print(f"{r['rows']:>12,} {r['wall_s']:>10} {r['graph_marts_s']:>14} {m.get('fct_item_edges', 0):>8} "
              f"{m.get('fct_item_graph_features', 0):>11} {m.get('fct_item_week_texts', 0):>8} "
              f"{r['rows_out']['item_edges']:>11,} {r['rows_out']['item_graph_features']:>13,} {r['peak_rss_mb']:>8}")
    (args.out_dir / "bench_graph.json").write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
