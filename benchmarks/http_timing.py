"""What the HTTP benchmarks (`bench_serve.py`, `bench_load_serve.py`) share: their server
options, the release they serve, the server they start (or the `--url` they are given), the
timed window of requests with its p50/p99, and the JSON + Markdown report they write.

Imported after the benchmark script has put the repository on `sys.path`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def add_server_args(p: argparse.ArgumentParser, *, url_help: str) -> None:
    """--config, --release, --url, --seconds, --warmup and --out-dir."""
    p.add_argument("--config", default=str(REPO / "darkhorse.yaml"))
    p.add_argument("--release", help="bento tag to serve (default: the config's newest release)")
    p.add_argument("--url", help=url_help)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--out-dir", default=str(REPO / "data" / "bench"))


def release_tag(args: argparse.Namespace) -> str | None:
    """The bento to serve: `--release`, else the config's newest release; None with `--url`.
    Exits with status 2 and the reason when the config has no release."""
    from darkhorse.core.env import set_process_defaults

    set_process_defaults()
    if args.url is not None or args.release is not None:
        return args.release
    from darkhorse.app.release import ReleaseError, latest_release
    from darkhorse.core.config import load_config

    try:
        return latest_release(load_config(args.config))
    except ReleaseError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def meta(args: argparse.Namespace, tag: str | None, client: str) -> dict[str, Any]:
    """The report's header: release, machine, server and client."""
    return {
        "release": tag or args.url,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "server": "1 worker" if args.url is None else "external",
        "client": client,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


@contextlib.contextmanager
def server(args: argparse.Namespace, tag: str | None, *, log_prefix: str,
           env: dict[str, str] | None = None) -> Iterator[str]:
    """The base URL to benchmark: `--url`, or a `bentoml serve` of `tag` started on a free
    127.0.0.1 port (its log in a temporary file) and stopped on exit."""
    if args.url is not None:
        yield args.url
        return
    from tests.fixtures.servers import serve

    log_path = Path(tempfile.mkstemp(prefix=log_prefix, suffix=".log")[1])
    with serve(tag, log_path=log_path, env=env) as url:
        yield url


class Window:
    """A timed run: requests start until `warmup + seconds` from now; those started after the
    warm-up count (latency in ms, answers other than 200 as errors)."""

    def __init__(self, seconds: float, warmup: float) -> None:
        self.measure_from = time.perf_counter() + warmup
        self.stop = self.measure_from + seconds
        self.latencies_ms: list[float] = []
        self.errors = 0

    def start(self) -> float | None:
        """The start time of the next request, None once the window is over."""
        t0 = time.perf_counter()
        return None if t0 >= self.stop else t0

    def record(self, t0: float, status_code: int) -> None:
        t1 = time.perf_counter()
        if t0 >= self.measure_from:
            self.latencies_ms.append((t1 - t0) * 1000)
            self.errors += status_code != 200

    def percentiles(self) -> dict[str, float | None]:
        lat = np.array(self.latencies_ms)
        return {"p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
                "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None}


def write_report(out_dir: str | Path, stem: str, meta: dict[str, Any], rows: list[dict[str, Any]], md: str) -> None:
    """`<stem>.json` (meta + rows) and `<stem>.md` under `out_dir`; the Markdown is printed too."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "results": rows}, indent=2))
    (out / f"{stem}.md").write_text(md)
    print(md)
