"""Replay of the replica plan on the three shipped request traces, against the two plans a
platform team runs without a forecast.

For each trace (data/raw/request_load/): the load per interval (complete intervals only, gaps
as zeros, like dbt's `series_intervals`), then over the evaluation window (the trace's last
intervals):

* rolling forecasts (training.load.replay): every interval's forecast made at its decision
  time t - lead, every `refit` intervals; members (seasonal naive over a day and a week, MSTL,
  the global XGBoost and LSTM) trained at the window's start and again a week on, refreshed on
  the history up to each origin between (the local ones refitted), the ensemble's weights
  learned on the members' held-out windows at each training;
* the DarkHorse plan from each member's and the ensemble's quantiles: replicas =
  ceil(q_0.95 / throughput) (darkhorse.serving.capacity.forecast_plan);
* the reactive autoscaler at 70% target utilisation on the last closed interval, same lead and
  cooldown; and the same autoscaler at the highest target whose violations do not exceed the
  ensemble plan's ("same SLO": what it costs to reach the same violations by reacting);
* static provisioning at the peak of the history before the window.

Throughput per replica is set so the history's peak needs 20 replicas. Reports violations
(intervals whose load exceeds capacity), replica-hours and scaling actions per plan, with the
forecasts' MAE, MASE (scaled by the history's daily seasonal naive, as the M4 guide scales
by the grain's season) and the share of intervals above their q95; writes JSON and a plot of the last
replayed day per trace under --out-dir.

    python benchmarks/bench_load.py                 # all three traces
    python benchmarks/bench_load.py --traces elb    # one
    python benchmarks/bench_load.py --latency       # in-process p50/p99 of the load routes' work
    python benchmarks/bench_load.py --fit-threads   # the XGBoost member's fit: one thread vs every core
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from darkhorse.core.env import set_process_defaults  # noqa: E402
from darkhorse.core.schema import DS, ID, Y, quantile_columns  # noqa: E402
from darkhorse.serving import capacity  # noqa: E402
from training.device import cpu_threads  # noqa: E402
from training.load import LoadFrameError, create, rolling_forecasts  # noqa: E402

RAW = REPO / "data" / "raw" / "request_load"
LEVELS = tuple(round(x, 2) for x in np.arange(0.05, 0.96, 0.05))
SLO_QUANTILE = 0.95
PEAK_REPLICAS = 20


@dataclass(frozen=True)
class Trace:
    name: str
    file: str
    timestamp: str
    count: str | None  # None: one row per request
    freq: str
    eval_intervals: int
    refit: int
    lead: int
    cooldown: int


TRACES = {
    "elb": Trace("elb", "elb_request_count_8c0756.csv", "timestamp", "value", "5min", 2 * 288, 12, 1, 3),
    "nyc_taxi": Trace("nyc_taxi", "nyc_taxi.csv", "timestamp", "value", "30min", 14 * 48, 48, 1, 2),
    "azure_llm": Trace("azure_llm", "AzureLLMInferenceTrace_conv.csv", "TIMESTAMP", None, "1min", 20, 5, 1, 2),
}


def interval_load(trace: Trace) -> pd.DataFrame:
    """`unique_id, ds, y`: the trace's load per complete interval, dense (the dbt panel's rules:
    the partial first interval and the interval holding the last timestamp are left out)."""
    raw = pd.read_csv(RAW / trace.file)
    ts = pd.to_datetime(raw[trace.timestamp])
    counts = raw[trace.count].astype("float64") if trace.count else pd.Series(1.0, index=raw.index)
    start = ts.dt.floor(trace.freq)
    first = ts.min().floor(trace.freq)
    first = first if first == ts.min() else first + pd.Timedelta(trace.freq)
    last = ts.max().floor(trace.freq) - pd.Timedelta(trace.freq)
    per = counts.groupby(start).sum()
    spine = pd.date_range(first, last, freq=trace.freq)
    y = per.reindex(spine, fill_value=0.0)
    return pd.DataFrame({ID: trace.name, DS: spine, Y: y.to_numpy()})


def _members(trace: Trace, n_history: int, names: list[str] | None = None) -> dict[str, Any]:
    per_day = int(pd.Timedelta("1D") / pd.Timedelta(trace.freq))
    members = {"seasonal_naive_day": lambda: create("seasonal_naive", period="day")}
    if n_history > 7 * per_day:
        members["seasonal_naive_week"] = lambda: create("seasonal_naive", period="week")
    members["mstl"] = lambda: create("mstl")
    if n_history > 3 * per_day:  # the global models need a few days of windows
        members["xgboost"] = lambda: create("xgboost")
        members["lstm"] = lambda: create("lstm", seq_days=[0.5, 1.0], max_windows=5_000, epochs=20)
    return {k: v for k, v in members.items() if names is None or k in names}


def replay(trace: Trace, names: list[str] | None = None) -> dict[str, Any]:
    load = interval_load(trace)
    n = len(load)
    eval_start = load[DS].iloc[n - trace.eval_intervals]
    history = load[Y].to_numpy()[: n - trace.eval_intervals]
    members = _members(trace, len(history), names)
    t0 = time.perf_counter()
    fc = rolling_forecasts(
        load, freq=trace.freq, members=members, eval_start=eval_start, lead=trace.lead,
        refit_every=trace.refit, quantiles=LEVELS, retrain_every=7 * int(pd.Timedelta("1D") / pd.Timedelta(trace.freq)),
    )
    forecast_seconds = time.perf_counter() - t0
    actual = fc[Y].to_numpy()
    hours = pd.Timedelta(trace.freq) / pd.Timedelta("1h")
    throughput = max(history.max(), 1.0) / PEAK_REPLICAS
    settings = capacity.PlanSettings(
        throughput=throughput, quantile=SLO_QUANTILE, min_replicas=1, max_replicas=10 * PEAK_REPLICAS,
        lead=trace.lead, cooldown=trace.cooldown, target_utilisation=0.7,
    )
    rows: list[dict[str, Any]] = []

    def add(name: str, plan: capacity.Plan, **extra: Any) -> capacity.Outcome:
        out = capacity.evaluate(plan, actual, interval_hours=hours)
        rows.append({"plan": name, **asdict(out), **extra})
        return out

    per_day = int(pd.Timedelta("1D") / pd.Timedelta(trace.freq))
    lag = per_day if len(history) > per_day else 1  # MASE scaled by the daily seasonal naive (M4 style)
    scale = float(np.mean(np.abs(history[lag:] - history[:-lag])))
    outcomes = {}
    for m in [*members, "ensemble"]:
        q = fc[quantile_columns(m, LEVELS)].to_numpy()
        plan = capacity.forecast_plan(np.array(LEVELS), q, settings)
        outcomes[m] = add(
            f"darkhorse ({m})", plan,
            expected_violations=round(plan.expected_over_capacity, 1),
            mae=float(np.mean(np.abs(actual - fc[m].to_numpy()))),
            mase=float(np.mean(np.abs(actual - fc[m].to_numpy())) / scale),
            above_q95=float(np.mean(actual > fc[f"{m}-q95"].to_numpy())),
        )
    before = history[-(trace.lead + 1):]
    add("reactive (70% target)", capacity.reactive_plan(actual, settings, history=before))
    # the reactive scaler at the same SLO: the highest target with no more violations
    goal = outcomes["ensemble"].violations
    for target in np.arange(1.0, 0.04, -0.05):
        s = capacity.PlanSettings(**{**asdict(settings), "target_utilisation": round(float(target), 2)})
        plan = capacity.reactive_plan(actual, s, history=before)
        if capacity.evaluate(plan, actual, interval_hours=hours).violations <= goal:
            add(f"reactive, same SLO ({target:.0%} target)", plan)
            break
    else:
        rows.append({"plan": "reactive, same SLO", "note": "no target down to 5% reaches it"})
    add("static peak", capacity.static_plan(history, len(actual), settings))
    plans = {
        "DarkHorse (ensemble, q0.95)": capacity.forecast_plan(
            np.array(LEVELS), fc[quantile_columns("ensemble", LEVELS)].to_numpy(), settings),
        "reactive (70% target)": capacity.reactive_plan(actual, settings, history=before),
        "static peak": capacity.static_plan(history, len(actual), settings),
    }
    replayed_day = {"fc": fc, "plans": plans}
    return {
        "_day": replayed_day,
        "trace": trace.name, "freq": trace.freq, "intervals": n, "eval_intervals": len(actual),
        "eval_start": str(eval_start), "lead": trace.lead, "cooldown": trace.cooldown, "refit": trace.refit,
        "throughput_per_replica": throughput, "slo_quantile": SLO_QUANTILE,
        "forecast_seconds": round(forecast_seconds, 1), "rows": rows, "weights": fc.attrs.get("weights", [])[:1],
    }


def plot_day(result: dict[str, Any], path: Path) -> Path:
    """The last replayed day: load, the ensemble's forecast and its 5-95% interval, and the
    capacity of the forecast plan, the reactive autoscaler and static peak."""
    from matplotlib.figure import Figure

    fc, plans = result["_day"]["fc"], result["_day"]["plans"]
    per_day = int(pd.Timedelta("1D") / pd.Timedelta(result["freq"]))
    last = fc.iloc[-per_day:]
    fig = Figure(figsize=(10, 4.2), dpi=100)
    ax = fig.add_subplot()
    ax.fill_between(last[DS], last["ensemble-q5"], last["ensemble-q95"], color="tab:blue", alpha=0.18,
                    label="forecast 5-95%")
    ax.plot(last[DS], last["ensemble"], color="tab:blue", lw=1, label="forecast (ensemble)")
    ax.plot(last[DS], last[Y], color="black", lw=1.2, label="load")
    styles = {"DarkHorse (ensemble, q0.95)": "tab:green", "reactive (70% target)": "tab:orange", "static peak": "tab:gray"}
    for name, plan in plans.items():
        ax.step(last[DS], plan.capacity[-per_day:], where="mid", color=styles[name], lw=1.4, label=f"capacity: {name}")
    ax.set_title(f"{result['trace']}: the last replayed day ({result['freq']} intervals, lead {result['lead']})")
    ax.set_ylabel("requests per interval")
    ax.legend(loc="upper left", fontsize=7, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def render(result: dict[str, Any]) -> str:
    head = (
        f"{result['trace']} ({result['freq']}, last {result['eval_intervals']} of {result['intervals']} intervals, "
        f"lead {result['lead']}, cooldown {result['cooldown']}, refit every {result['refit']}, "
        f"{result['throughput_per_replica']:.1f} per replica per interval, forecasts {result['forecast_seconds']} s)"
    )
    lines = [head, f"{'plan':<38} {'violations':>10} {'exp.viol':>8} {'replica-h':>10} {'actions':>8} {'util':>6} {'MAE':>9} {'MASE':>6} {'>q95':>6}"]
    for r in result["rows"]:
        if "violations" not in r:
            lines.append(f"{r['plan']:<38} {r.get('note', '')}")
            continue
        lines.append(
            f"{r['plan']:<38} {r['violations']:>10d} {r.get('expected_violations', ''):>8} {r['replica_hours']:>10.1f} "
            f"{r['scaling_actions']:>8d} {r['mean_utilisation']:>6.2f} "
            f"{'' if 'mae' not in r else format(r['mae'], '.1f'):>9} {'' if 'mase' not in r else format(r['mase'], '.3f'):>6} "
            f"{'' if 'above_q95' not in r else format(r['above_q95'], '.3f'):>6}"
        )
    return "\n".join(lines)


def latency(n: int = 300) -> dict[str, dict[str, float]]:
    """In-process p50/p99 (ms) of the load routes' work for one series (the ELB trace at 5 min,
    28 days of buffer at most): observe one interval, forecast 12 intervals, plan 12 intervals.
    The route's work only: no HTTP, no JSON (bench_serve measures the served API)."""
    import tempfile

    from darkhorse.core.config import LoadPlanConfig
    from darkhorse.serving import api
    from darkhorse.serving.load import LoadRoutes, LoadStream

    load = interval_load(TRACES["elb"])
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as state:
        routes = LoadRoutes(LoadStream.open(state, load, freq="5min"), LoadPlanConfig(throughput_per_replica=20))
        start = load[DS].iloc[-1] + pd.Timedelta("5min")
        calls = {
            "observe": lambda k: routes.observe(api.LoadObserveRequest(
                series_id="elb", timestamps=[start + k * pd.Timedelta("5min")], values=[100.0])),
            "forecast": lambda k: routes.forecast(api.LoadForecastRequest(series_id="elb", horizon=12)),
            "plan": lambda k: routes.plan(api.LoadPlanRequest(series_id="elb", horizon=12)),
        }
        for name, call in calls.items():
            times = []
            for k in range(n):
                t0 = time.perf_counter()
                call(k)
                times.append((time.perf_counter() - t0) * 1000)
            out[name] = {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99))}
    return out


def fit_threads(trace: Trace, repeats: int = 2) -> dict[str, Any]:
    """Seconds of one default fit and forecast of the global XGBoost member on the trace's whole
    history, on one thread and on every core (`training.device.cpu_threads`, at least 2), `repeats` times
    each, alternating; and the largest difference between the two forecasts (XGBoost builds the
    same trees whatever the thread count, so it should be 0)."""
    load = interval_load(trace)
    per_day = int(pd.Timedelta("1D") / pd.Timedelta(trace.freq))
    h = min(12, per_day)
    counts = (1, max(2, cpu_threads()))  # on one core: what a second thread costs
    seconds: dict[int, list[float]] = {n: [] for n in counts}
    forecasts: dict[int, np.ndarray] = {}
    for _ in range(repeats):
        for n in counts:
            t0 = time.perf_counter()
            try:
                fc = create("xgboost", n_jobs=n).fit(load, freq=trace.freq, horizon=h).predict(h=h)
            except LoadFrameError as e:
                return {"trace": trace.name, "skipped": str(e)}
            seconds[n].append(time.perf_counter() - t0)
            forecasts[n] = fc.select_dtypes("number").to_numpy()
    best = {n: min(v) for n, v in seconds.items()}
    return {
        "trace": trace.name, "intervals": len(load), "threads": list(counts),
        "seconds": {str(n): v for n, v in seconds.items()},
        "ratio": best[counts[-1]] / best[1],
        "max_difference": float(np.abs(forecasts[counts[-1]] - forecasts[1]).max()),
    }


def _json(o: Any) -> Any:
    return str(o) if isinstance(o, pd.Timestamp) else float(o)


def main(argv: list[str] | None = None) -> int:
    set_process_defaults()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", nargs="+", choices=sorted(TRACES), default=list(TRACES))
    parser.add_argument("--out-dir", type=Path, default=REPO / "data" / "bench" / "load")
    parser.add_argument("--members", nargs="+", default=None,
                        help="members of the replay (default: every one the trace's history allows)")
    parser.add_argument("--latency", action="store_true", help="only the in-process latency of the load routes")
    parser.add_argument("--fit-threads", action="store_true",
                        help="only the XGBoost member's fit on one thread against every core, per trace")
    args = parser.parse_args(argv)
    if args.fit_threads:
        for name in args.traces:
            r = fit_threads(TRACES[name])
            if "skipped" in r:
                print(f"{name:<10} skipped: {r['skipped']}")
                continue
            secs = "  ".join(f"{n} thread(s) {', '.join(f'{x:.2f}' for x in v)} s" for n, v in r["seconds"].items())
            print(f"{name:<10} {r['intervals']:>6} intervals  {secs}  ratio {r['ratio']:.2f} (best of each)  "
                  f"largest forecast difference {r['max_difference']:.3g}")
        return 0
    if args.latency:
        for name, v in latency().items():
            print(f"{name:<9} p50 {v['p50_ms']:.2f} ms  p99 {v['p99_ms']:.2f} ms")
        return 0
    results = []
    for name in args.traces:
        result = replay(TRACES[name], args.members)
        print(render(result), "\n", flush=True)
        print(f"plot: {plot_day(result, args.out_dir / f'replay_{name}.png')}")
        results.append({k: v for k, v in result.items() if k != "_day"})
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "load_replay.json").write_text(json.dumps(results, indent=2, default=_json))
    print(f"written {args.out_dir / 'load_replay.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
