"""Benchmark of the load routes over HTTP: `/v1/load/forecast` and `/v1/load/observe` for one
series, p50/p99 latency side by side with the framework's floor.

Starts `bentoml serve <release>` (the newest release of a config with a `request_log` source,
or `--release TAG`) on a free 127.0.0.1 port with its load state in a temporary folder (the
observations this benchmark appends never reach the deployment's buffers), or uses `--url` of
a running one, and drives it from this process, one client at a time (the latency of one
series' requests, not the server's throughput), for `--seconds` per scenario after a warm-up:

* ``reference``: `GET /livez`, the framework's floor on this machine;
* ``load_forecast``: `POST /v1/load/forecast`, the first series, 12 intervals, 3 quantiles;
* ``load_observe``: `POST /v1/load/observe`, the same series, one new interval per request
  (each request appends: its timestamp is the interval after the previous one).

Reports p50/p99, each as a ratio to the reference's, and writes `load_serve.json` and
`load_serve.md` under `--out-dir` (default data/bench). A benchmark, not a test: nothing is
asserted, the client shares the machine's cores with the server.

    python benchmarks/bench_load_serve.py --config examples/request_load/darkhorse.yaml
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.fixtures.servers import serve  # noqa: E402


def _series(client, url: str) -> tuple[str, pd.Timestamp, str]:
    """The release's first load series, its last buffered interval and grain (from a forecast:
    its first interval is the one after the buffer's end)."""
    r = client.post(f"{url}/v1/load/forecast", json={"series_id": "?", "horizon": 1})
    body = r.json()
    if r.status_code != 400 or body.get("field") != "series_id":
        raise SystemExit(f"the release serves no load series: {body.get('error', body)}")
    known = body["error"].split("known:", 1)[1].strip().strip("[]").split(",")[0].strip().strip("'\"")
    fc = client.post(f"{url}/v1/load/forecast", json={"series_id": known, "horizon": 1}).json()
    start = pd.Timestamp(fc["intervals"][0]["start"])
    return known, start - pd.Timedelta(fc["grain"]), fc["grain"]


def measure(client, method: str, path: str, body: Callable[[int], dict | None], *, seconds: float,
            warmup: float) -> dict[str, Any]:
    latencies, errors, k = [], 0, 0
    start = time.perf_counter()
    measure_from, stop = start + warmup, start + warmup + seconds
    while True:
        t0 = time.perf_counter()
        if t0 >= stop:
            break
        payload = body(k)
        r = client.request(method, path, json=payload) if payload is not None else client.request(method, path)
        t1 = time.perf_counter()
        k += 1
        if t0 >= measure_from:
            latencies.append((t1 - t0) * 1000)
            errors += r.status_code != 200
    lat = np.array(latencies)
    return {"requests": len(lat), "errors": int(errors),
            "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99))}


def run(url: str, *, seconds: float, warmup: float) -> list[dict[str, Any]]:
    import httpx

    with httpx.Client(base_url=url, timeout=30) as client:
        sid, last, grain = _series(client, url)
        step = pd.Timedelta(grain)
        plan = {
            "reference": ("GET", "/livez", lambda k: None),
            "load_forecast": ("POST", "/v1/load/forecast",
                              lambda k: {"series_id": sid, "horizon": 12, "quantiles": [0.1, 0.5, 0.9]}),
            "load_observe": ("POST", "/v1/load/observe",
                             lambda k: {"series_id": sid, "timestamps": [(last + (k + 1) * step).isoformat()],
                                        "values": [100.0]}),
        }
        gc.collect()
        gc.freeze()
        rows = []
        for name, (method, path, body) in plan.items():
            res = measure(client, method, path, body, seconds=seconds, warmup=warmup)
            rows.append({"scenario": name, "series_id": sid, **res})
            print(f"  {name:<14} p50 {res['p50_ms']:7.2f} ms  p99 {res['p99_ms']:7.2f} ms  "
                  f"({res['requests']} requests, {res['errors']} errors)", flush=True)
    ref = rows[0]
    for r in rows:
        r["p50_vs_reference"] = r["p50_ms"] / ref["p50_ms"]
        r["p99_vs_reference"] = r["p99_ms"] / ref["p99_ms"]
    return rows


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"# Load routes over HTTP: {meta['release']}", "",
        f"{meta['machine']}; server: `bentoml serve` ({meta['server']}); client: {meta['client']}; "
        f"series `{rows[0]['series_id']}`.", "",
        "| scenario | p50 ms | p99 ms | p50 / reference | p99 / reference | requests | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['scenario']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['p50_vs_reference']:.1f} | "
                     f"{r['p99_vs_reference']:.1f} | {r['requests']} | {r['errors']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(REPO / "darkhorse.yaml"))
    p.add_argument("--release", help="bento tag to serve (default: the config's newest release)")
    p.add_argument("--url", help="benchmark a server that is already running at this URL (its state is appended to)")
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--out-dir", default=str(REPO / "data" / "bench"))
    args = p.parse_args(argv)

    from darkhorse.core.env import set_offline_defaults

    set_offline_defaults()
    tag = args.release
    if args.url is None and tag is None:
        from darkhorse.app.release import ReleaseError, latest_release
        from darkhorse.core.config import load_config

        try:
            tag = latest_release(load_config(args.config))
        except ReleaseError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    meta = {
        "release": tag or args.url,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "server": "1 worker" if args.url is None else "external",
        "client": f"httpx, one client, keep-alive, {args.seconds:g}s per scenario after {args.warmup:g}s warm-up",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    print(f"benchmarking the load routes of {meta['release']}", flush=True)
    with contextlib.ExitStack() as stack:
        url = args.url
        if url is None:
            state = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_load_state_"))
            log_path = Path(tempfile.mkstemp(prefix="bench_load_serve_", suffix=".log")[1])
            env = {"DARKHORSE_LOAD_STATE": state, "DARKHORSE_CONFIG": str(Path(args.config).resolve())}
            url = stack.enter_context(serve(tag, log_path=log_path, env=env))
        rows = run(url, seconds=args.seconds, warmup=args.warmup)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "load_serve.json").write_text(json.dumps({"meta": meta, "results": rows}, indent=2))
    md = markdown(rows, meta)
    (out / "load_serve.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
