"""Benchmark of the load routes over HTTP: `/v1/load/forecast` and `/v1/load/observe` for one
series, p50/p99 latency side by side with the framework's floor.

Starts `bentoml serve <release>` (the newest release of a config with a `request_log` source,
or `--release TAG`) on a free 127.0.0.1 port with its load state in a temporary folder (the
observations this benchmark appends never reach the deployment's buffers), or uses `--url` of
a running one, and drives it from this process, one client at a time (the latency of one
series' requests, not the server's throughput), for `--seconds` per scenario after a warm-up:

* ``reference``: `GET /livez`, the framework's floor on this machine;
* ``load_forecast``: `POST /v1/load/forecast`, the first series, 12 intervals, 3 quantiles,
  asked again and again: after the first, the stream answers from its cache (a series' forecast
  is computed once per state of its buffer);
* ``load_forecast_fresh``: the same forecast right after an observe of one new interval (the
  observe is not timed): every timed forecast refreshes the model on the changed buffer and
  computes, the work a forecast costs once per new interval in production;
* ``load_observe``: `POST /v1/load/observe`, the same series, one new interval per request
  (each request appends: its timestamp is the interval after the previous one).

Reports p50/p99, each as a ratio to the reference's, and the intervals each scenario appended to
the series' buffer (`appended`, warm-up included), and writes `load_serve.json` and
`load_serve.md` under `--out-dir` (default data/bench). A benchmark, not a test: nothing is
asserted, the client shares the machine's cores with the server.

    python benchmarks/bench_load_serve.py --config examples/request_load/darkhorse.yaml
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import http_timing  # noqa: E402
from darkhorse.serving import collector  # noqa: E402


def _series(client, url: str) -> tuple[str, pd.Timestamp, str]:
    """The release's first load series, its last buffered interval and grain (from a forecast:
    its first interval is the one after the buffer's end)."""
    r = client.post(f"{url}/v1/load/forecast", json={"series_id": "?", "horizon": 1})
    body = r.json()
    if r.status_code != 400 or body.get("field") != "series_id" or "known:" not in body.get("error", ""):
        raise SystemExit(f"the release serves no load series: {body.get('error', body)}")
    known = body["error"].split("known:", 1)[1].strip().strip("[]").split(",")[0].strip().strip("'\"")
    fc = client.post(f"{url}/v1/load/forecast", json={"series_id": known, "horizon": 1}).json()
    start = pd.Timestamp(fc["intervals"][0]["start"])
    return known, start - pd.Timedelta(fc["grain"]), fc["grain"]


def measure(client, method: str, path: str, body: Callable[[int], dict | None], *, seconds: float,
            warmup: float, before: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Latency of `method path` with `body(k)` for the k-th request; `before(k)`, when given,
    runs ahead of each request, untimed."""
    window, k = http_timing.Window(seconds, warmup), 0
    while True:
        if before is not None:
            before(k)
        if (t0 := window.start()) is None:
            break
        payload = body(k)
        r = client.request(method, path, json=payload) if payload is not None else client.request(method, path)
        window.record(t0, r.status_code)
        k += 1
    return {"requests": len(window.latencies_ms), "errors": int(window.errors), **window.percentiles()}


def run(url: str, *, seconds: float, warmup: float) -> list[dict[str, Any]]:
    import httpx

    with httpx.Client(base_url=url, timeout=30) as client:
        sid, last, grain = _series(client, url)
        step = pd.Timedelta(grain)
        appended = 0  # intervals this run has observed: each observe appends the next one

        def observation(_k: int) -> dict[str, Any]:
            nonlocal appended
            appended += 1
            return {"series_id": sid, "timestamps": [(last + appended * step).isoformat()], "values": [100.0]}

        def observe(k: int) -> None:
            r = client.post("/v1/load/observe", json=observation(k))
            if r.status_code != 200:
                raise SystemExit(f"observe before a fresh forecast failed: {r.status_code} {r.text[:200]}")

        forecast = {"series_id": sid, "horizon": 12, "quantiles": [0.1, 0.5, 0.9]}
        plan = {
            "reference": ("GET", "/livez", lambda _k: None, None),
            "load_forecast": ("POST", "/v1/load/forecast", lambda _k: forecast, None),
            "load_forecast_fresh": ("POST", "/v1/load/forecast", lambda _k: forecast, observe),
            "load_observe": ("POST", "/v1/load/observe", observation, None),
        }
        collector.settle()  # the client must not measure its own collector's pauses: settled as the server's
        rows = []
        for name, (method, path, body, before) in plan.items():
            start = appended
            res = measure(client, method, path, body, seconds=seconds, warmup=warmup, before=before)
            rows.append({"scenario": name, "series_id": sid, **res, "appended": appended - start})
            print(f"  {name:<20} p50 {res['p50_ms']:7.2f} ms  p99 {res['p99_ms']:7.2f} ms  "
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
        "| scenario | p50 ms | p99 ms | p50 / reference | p99 / reference | requests | errors | intervals appended |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['scenario']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['p50_vs_reference']:.1f} | "
                     f"{r['p99_vs_reference']:.1f} | {r['requests']} | {r['errors']} | {r['appended']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    http_timing.add_server_args(
        p, url_help="benchmark a server that is already running at this URL (its state is appended to)")
    args = p.parse_args(argv)

    tag = http_timing.release_tag(args)
    meta = http_timing.meta(
        args, tag, f"httpx, one client, keep-alive, {args.seconds:g}s per scenario after {args.warmup:g}s warm-up")
    print(f"benchmarking the load routes of {meta['release']}", flush=True)
    with contextlib.ExitStack() as stack:
        state = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_load_state_"))
        env = {"DARKHORSE_LOAD_STATE": state, "DARKHORSE_CONFIG": str(Path(args.config).resolve())}
        url = stack.enter_context(http_timing.server(args, tag, log_prefix="bench_load_serve_", env=env))
        rows = run(url, seconds=args.seconds, warmup=args.warmup)
    http_timing.write_report(args.out_dir, "load_serve", meta, rows, markdown(rows, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
