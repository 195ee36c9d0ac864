"""Benchmark of the served release: latency and throughput over HTTP on loopback.

Starts `bentoml serve <release>` (the newest release of the config, or `--release TAG`) on a
free 127.0.0.1 port, or uses `--url` of a running one, and drives it from this process with
`--concurrency` clients (asyncio + httpx, keep-alive) for `--seconds` per scenario after a
warm-up:

* ``reference``: `GET /livez`, the framework's floor on this machine (every ratio is against it);
* ``forecast_1``: `POST /v1/forecast`, 1 item, the full horizon, 3 quantiles;
* ``forecast_1_plan``: the same with a what-if plan row (its first week, the release's first
  known-future covariate set to 1), only for a release whose members read such covariates: the
  members that read the plan forecast the asked item again;
* ``allocate_1000_plan``: the allocation below with such a row for one of its items (the members
  that read the plan forecast the 1,000 items again, their period quantiles recomputed);
* ``hot_sellers_20``: `POST /v1/hot-sellers`, the top 20 by the final score;
* ``hot_sellers_20_plan``: the same with the plan row (the planned item scored again from its
  forecasts under it: the blend's and every member's, the classifiers' feature rows; every item
  ranked again);
* ``allocate_1000``: `POST /v1/allocate`, newsvendor, 1,000 items, capacity binding;
* ``balance_1000``: `POST /v1/allocate`, balance, 1,000 items over 16 nodes.

Reports p50/p99 latency, requests per second and errors, and writes JSON and Markdown under
`--out-dir` (default data/bench). The goal for `allocate_1000` is p99 <= 50 ms; it is
reported, not asserted: the load client shares the machine's cores with the server.

    python benchmarks/bench_serve.py                        # newest release of darkhorse.yaml
    python benchmarks/bench_serve.py --seconds 5 --concurrency 1 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import http_timing  # noqa: E402
from darkhorse.serving import collector  # noqa: E402

GOAL_P99_MS = 50.0


def scenarios(url: str, n_items: int = 1000) -> dict[str, tuple[str, str, dict | None]]:
    """name -> (method, path, json body), built from the release's own items."""
    import httpx

    info = httpx.post(f"{url}/v1/release", json={}, timeout=30).json()
    ranked = httpx.post(f"{url}/v1/hot-sellers", json={"k": 5000, "score": "final"}, timeout=60).json()["items"]
    items = [r["item"] for r in ranked]
    if len(items) < n_items:
        raise SystemExit(f"the release has {len(items)} ranked items; the allocate scenario needs {n_items} (--items)")
    rng = np.random.default_rng(0)
    chosen = [items[i] for i in rng.choice(len(items), n_items, replace=False)]
    fc = httpx.post(f"{url}/v1/forecast", json={"items": chosen, "horizon": 1, "quantiles": [0.5]}, timeout=60).json()
    demand = sum(f["weeks"][0]["point"] for f in fc["forecasts"])
    body = [{"id": i, "underage_cost": float(rng.uniform(1, 5)), "overage_cost": 1.0} for i in chosen]
    planned = {}
    if info.get("known_future"):  # the release reads known-future covariates: a what-if forecast too
        first = httpx.post(f"{url}/v1/forecast", json={"items": [items[0]], "horizon": 1}, timeout=60).json()
        row = {"item": items[0], "week": first["forecasts"][0]["weeks"][0]["week"],
               "values": {info["known_future"][0]: 1.0}}
        planned["forecast_1_plan"] = ("POST", "/v1/forecast",
                                      {"items": [items[0]], "horizon": info["horizon"], "plan": [row]})
    allocate = {"mode": "newsvendor", "capacity": round(0.7 * demand, 1), "items": body}
    hot = {"k": 20, "score": "final"}
    if planned:  # the same allocation with the plan row moved to one of its items; the ranking under the row
        planned[f"allocate_{n_items}_plan"] = ("POST", "/v1/allocate", {**allocate, "plan": [{**row, "item": chosen[0]}]})
        planned["hot_sellers_20_plan"] = ("POST", "/v1/hot-sellers", {**hot, "plan": [row]})
    return {
        "reference": ("GET", "/livez", None),
        "forecast_1": ("POST", "/v1/forecast", {"items": [items[0]], "horizon": info["horizon"]}),
        "hot_sellers_20": ("POST", "/v1/hot-sellers", hot),
        **planned,
        f"allocate_{n_items}": ("POST", "/v1/allocate", allocate),
        f"balance_{n_items}": ("POST", "/v1/allocate", {"mode": "balance", "nodes": 16, "items": [{"id": i} for i in chosen]}),
    }


async def _load(url: str, method: str, path: str, body: dict | None, *, concurrency: int, seconds: float, warmup: float):
    import httpx

    payload = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        window = http_timing.Window(seconds, warmup)

        async def worker() -> None:
            while (t0 := window.start()) is not None:
                r = await client.request(method, path, content=payload, headers=headers)
                window.record(t0, r.status_code)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    lat = np.array(window.latencies_ms)
    return {
        "requests": len(lat), "errors": window.errors, "rps": len(lat) / seconds,
        **window.percentiles(),
        "mean_ms": float(lat.mean()) if len(lat) else None,
        "bytes_in": len(payload or b""),
    }


def run(url: str, *, concurrency: list[int], seconds: float, warmup: float, n_items: int = 1000) -> list[dict[str, Any]]:
    rows = []
    plan = scenarios(url, n_items)
    collector.settle()  # the client must not measure its own collector's pauses: settled as the server's
    for name, (method, path, body) in plan.items():
        for c in concurrency:
            res = asyncio.run(_load(url, method, path, body, concurrency=c, seconds=seconds, warmup=warmup))
            rows.append({"scenario": name, "concurrency": c, **res})
            print(f"  {name:<14} c={c:<3} p50 {res['p50_ms']:7.2f} ms  p99 {res['p99_ms']:7.2f} ms  "
                  f"{res['rps']:8.1f} req/s  errors {res['errors']}", flush=True)
    ref = {r["concurrency"]: r for r in rows if r["scenario"] == "reference"}
    for r in rows:
        base = ref.get(r["concurrency"])
        r["p50_vs_reference"] = r["p50_ms"] / base["p50_ms"] if base and base["p50_ms"] else None
        r["rps_vs_reference"] = r["rps"] / base["rps"] if base and base["rps"] else None
    return rows


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"# Serving benchmark: {meta['release']}", "",
        f"{meta['machine']}; server: `bentoml serve` ({meta['server']}); client: {meta['client']}.", "",
        "| scenario | concurrency | p50 ms | p99 ms | req/s | errors | p50 / reference | req/s / reference |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['concurrency']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['rps']:.1f} | "
            f"{r['errors']} | {r['p50_vs_reference']:.2f} | {r['rps_vs_reference']:.3f} |"
        )
    goal = [r for r in rows if r["scenario"] == "allocate_1000"]
    if not goal:
        return "\n".join(lines) + "\n"
    lines += ["", f"Goal: allocate_1000 p99 <= {GOAL_P99_MS:.0f} ms: " + ", ".join(
        f"c={r['concurrency']}: {r['p99_ms']:.1f} ms ({'met' if r['p99_ms'] <= GOAL_P99_MS else 'missed'})" for r in goal)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    http_timing.add_server_args(p, url_help="benchmark a server that is already running at this URL")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4], help="keep-alive clients, one run each")
    p.add_argument("--items", type=int, default=1000, help="items per allocate request")
    args = p.parse_args(argv)

    tag = http_timing.release_tag(args)
    meta = http_timing.meta(args, tag, f"httpx async, keep-alive, {args.seconds:g}s per run after {args.warmup:g}s warm-up")
    print(f"benchmarking {meta['release']}", flush=True)
    with http_timing.server(args, tag, log_prefix="bench_serve_") as url:
        rows = run(url, concurrency=args.concurrency, seconds=args.seconds, warmup=args.warmup, n_items=args.items)
    http_timing.write_report(args.out_dir, "serve", meta, rows, markdown(rows, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
