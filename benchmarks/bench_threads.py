"""Benchmark: what a DarkHorse process loses when another one shares its cores, under each
OpenMP wait policy and booster thread count.

The unit of work is one backtest origin of the configuration's enabled members (the defaults of
`darkhorse.yaml`: the three XGBoost members, theta, the naive ones), fitted on a synthetic
store x department panel (`synthetic.store_sales`, `--stores` x `--departments`, 143 weeks) and
forecasting 12 weeks with the config's quantiles, in a fresh process. It runs under three settings:

- `spin`: libgomp's own default (OMP_WAIT_POLICY unset: a waiting thread spins before it
  sleeps), boosters on every core;
- `passive`: DarkHorse's default (`darkhorse/core/process.env`), every core;
- `passive-1`: passive, one thread (`DARKHORSE_THREADS=1`: the boosters' and torch's);

and in three situations: `alone` on the cores; `busy`, beside a process that keeps one core busy
(a Python loop); `pair`, beside a second run of the same setting (two DarkHorse processes, the
mean of their two walls). Each round runs every setting in every situation, so a slow spell of
the cores falls on all of them alike. The table gives each cell's median wall seconds and its
ratio to the reference, `spin` alone. A run past `--limit` seconds is stopped and counted at
the limit (shown as `>=`).

A config whose enabled members are the LSTM or the TFT times torch, which loads a copy of
libgomp of its own and reads the same variable: `spin` loads both copies before process.env
applies.

    python benchmarks/bench_threads.py --rounds 3 --out data/bench/threads.json

Run it alone on the machine: it measures contention, so anything else running moves every cell.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from darkhorse.core.env import OPENMP_WAIT, PROCESS_ENV  # noqa: E402
from training.device import THREADS_ENV  # noqa: E402

SETTINGS: dict[str, dict[str, str | None]] = {
    "spin": {OPENMP_WAIT: None},
    "passive": {OPENMP_WAIT: PROCESS_ENV[OPENMP_WAIT]},
    "passive-1": {OPENMP_WAIT: PROCESS_ENV[OPENMP_WAIT], THREADS_ENV: "1"},
}
SITUATIONS = ("alone", "busy", "pair")
REFERENCE = ("spin", "alone")
HORIZON = 12
BUSY_LOOP = "while True:\n    pass\n"


def work(config: Path, stores: int, departments: int, seed: int) -> dict[str, Any]:
    """One origin of the enabled members; the wall seconds of each and of all."""
    import pandas as pd

    from darkhorse.core.config import load_config
    from synthetic.store_sales import store_department_sales
    from training.backtest import build_model

    df = store_department_sales(n_stores=stores, n_departments=departments, seed=seed)
    train = df[df["ds"] <= df["ds"].max() - pd.Timedelta(weeks=HORIZON)]
    forecast = load_config(config).forecast
    out: dict[str, Any] = {"series": int(train["unique_id"].nunique()), "members": {}}
    t0 = time.perf_counter()
    for spec in forecast.enabled():
        t = time.perf_counter()
        build_model(spec).fit(train, horizon=HORIZON).predict(h=HORIZON, quantiles=list(forecast.quantiles))
        out["members"][spec.name] = round(time.perf_counter() - t, 2)
    out["wall_s"] = round(time.perf_counter() - t0, 2)
    return out


def _child(args: argparse.Namespace) -> None:
    if args.setting == "spin":
        # libgomp reads the variable once, when it loads: load every copy a member may use
        # (XGBoost's, which scikit-learn shares, and torch's own for the LSTM and TFT) before any
        # DarkHorse module applies process.env
        os.environ.pop(OPENMP_WAIT, None)
        import xgboost  # noqa: F401

        with contextlib.suppress(ImportError):
            import torch  # noqa: F401
    import training  # noqa: F401  applies process.env, as every DarkHorse process does

    print(json.dumps(work(args.config, args.stores, args.departments, args.seed)), flush=True)


def _env(setting: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop(THREADS_ENV, None)
    for key, value in SETTINGS[setting].items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _start(args: argparse.Namespace, setting: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--setting", setting,
           "--config", str(args.config), "--stores", str(args.stores),
           "--departments", str(args.departments), "--seed", str(args.seed)]
    return subprocess.Popen(cmd, cwd=REPO, env=_env(setting), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen[str], started: float, limit: float) -> tuple[float, bool]:
    """The run's wall seconds, and whether it was stopped at the limit."""
    try:
        out, err = proc.communicate(timeout=max(1.0, limit - (time.perf_counter() - started)))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return limit, True
    if proc.returncode != 0:
        raise RuntimeError(f"the timed run failed (exit {proc.returncode}):\n{err[-2000:]}")
    return float(json.loads(out.strip().splitlines()[-1])["wall_s"]), False


def measure(args: argparse.Namespace, setting: str, situation: str) -> tuple[float, bool]:
    busy = None
    if situation == "busy":
        busy = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
        time.sleep(0.5)
    runs: list[subprocess.Popen[str]] = []
    try:
        started = time.perf_counter()
        runs = [_start(args, setting) for _ in range(2 if situation == "pair" else 1)]
        walls = [_finish(p, started, args.limit) for p in runs]
    finally:  # a failed run leaves nothing behind to slow the next cell
        for p in [*runs, *([busy] if busy is not None else [])]:
            if p.poll() is None:
                p.kill()
                p.wait()
    return statistics.mean(w for w, _ in walls), any(stopped for _, stopped in walls)


def table(cells: dict[tuple[str, str], list[tuple[float, bool]]]) -> tuple[str, list[dict[str, Any]]]:
    ref = statistics.median(w for w, _ in cells[REFERENCE])
    rows, lines = [], ["| setting | situation | median wall s | ratio to spin alone | runs |", "|---|---|---|---|---|"]
    for (setting, situation), runs in cells.items():
        med = statistics.median(w for w, _ in runs)
        stopped = any(s for _, s in runs)
        mark = ">=" if stopped else ""
        rows.append({"setting": setting, "situation": situation, "median_wall_s": round(med, 1),
                     "ratio": round(med / ref, 2), "stopped_at_limit": stopped,
                     "walls_s": [round(w, 1) for w, _ in runs]})
        lines.append(f"| {setting} | {situation} | {mark}{med:.1f} | {mark}{med / ref:.2f} | "
                     f"{', '.join(f'{w:.1f}' for w, _ in runs)} |")
    return "\n".join(lines), rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=REPO / "darkhorse.yaml", help="Its enabled members are timed.")
    ap.add_argument("--stores", type=int, default=6)
    ap.add_argument("--departments", type=int, default=20)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2, help="Runs of each setting in each situation.")
    ap.add_argument("--limit", type=float, default=180.0, help="Seconds after which a run is stopped.")
    ap.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    ap.add_argument("--out", type=Path, help="Write the table's rows as JSON here.")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--setting", choices=list(SETTINGS), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args)
        return
    if "spin" not in args.settings:
        ap.error("--settings must include spin: it is the reference")
    cells: dict[tuple[str, str], list[tuple[float, bool]]] = {
        (s, sit): [] for s in args.settings for sit in SITUATIONS}
    total = len(cells) * args.rounds
    done = 0
    for r in range(1, args.rounds + 1):
        for situation in SITUATIONS:
            for setting in args.settings:
                wall, stopped = measure(args, setting, situation)
                cells[(setting, situation)].append((wall, stopped))
                done += 1
                print(f"[{done}/{total}] round {r}: {setting} {situation} "
                      f"{'>=' if stopped else ''}{wall:.1f} s", flush=True)
    text, rows = table(cells)
    print(f"\none origin of the enabled members of {args.config.name}, {args.stores} stores x "
          f"{args.departments} departments x 143 weeks, h = {HORIZON}; {os.cpu_count()} cores\n")
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"config": str(args.config), "stores": args.stores,
                                        "departments": args.departments, "rounds": args.rounds,
                                        "limit_s": args.limit, "cores": os.cpu_count(), "rows": rows}, indent=2))
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
