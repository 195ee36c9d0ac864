"""Cost of the default backtest at the size of a store x department panel.

    python -m benchmarks.accuracy.scale                 # 2,660 series x 143 weeks, 5 windows
    python -m benchmarks.accuracy.scale --series 500    # smaller, for a quick look
    python -m benchmarks.accuracy.scale --store-departments 45x70   # the whole default backtest

`--store-departments STORESxDEPARTMENTS` backtests the suite's store x department generator
(`synthetic.store_sales`; 45 x 70 gives 2,695 series x 143 weeks, `--weeks` another span) instead,
hot sellers included:
the whole default backtest, labels and all. `other` is the wall time outside the members', the
blend's and the hot sellers' own timers (windows, metrics, contributions, decision replay).

A generated panel of that shape (yearly season with its own amplitude and phase per series, a
slow trend, negative-binomial noise, 30% of series sparse, 20% starting late) is backtested with
the configuration's members, backtest and blend settings (3 evaluation + 2 warm-up windows unless
the config says otherwise), forecasts and blend only (hot sellers need labels the generated
panel does not define). Prints wall time, CPU seconds, each model's MASE and seconds and each
member's contribution to the blend. `--peers lightgbm,autoets` also fits the suite's peers
(`benchmarks.accuracy.peers`) at the evaluation origins and prints their MASE and seconds.

`--store-departments 45x70 --export chain.csv` writes that panel as a chain's weekly export
instead (`Store, Dept, Date, Weekly_Sales, IsHoliday`, with 1% of its rows missing and 0.3%
negative) and runs nothing: the file for `darkhorse build` and `darkhorse backtest` of a config
whose source it prints, the product path at the same size.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.accuracy.peers import PEERS, PeerError, parse_peers, score_peers  # noqa: E402
from darkhorse.core.config import load_config  # noqa: E402
from darkhorse.core.schema import DS, ID, Y  # noqa: E402
from training.backtest import run_backtest  # noqa: E402
from training.history import History  # noqa: E402


def panel(n_series: int = 2660, weeks: int = 143, *, seed: int = 0, sparse_share: float = 0.3) -> pd.DataFrame:
    """`unique_id, ds, y`: weekly counts with a yearly season, dense from each series' start."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2021-01-04", periods=weeks, freq="7D")
    t = np.arange(weeks)
    ids, dss, ys = [], [], []
    for i in range(n_series):
        start = 0 if rng.random() < 0.8 else int(rng.integers(10, 100))
        level = np.exp(rng.normal(2.5, 1.2))
        amp, phase, trend = rng.uniform(0, 0.8), rng.uniform(0, 2 * np.pi), rng.normal(0, 0.004)
        mu = level * np.exp(trend * t) * (1 + amp * np.sin(2 * np.pi * t / 52.18 + phase))
        if rng.random() < sparse_share:
            mu = mu / level * rng.uniform(0.05, 0.6)
        y = rng.negative_binomial(5, 5 / (5 + mu)).astype("float64")
        ids.append(np.full(weeks - start, f"s{i:05d}"))
        dss.append(ds[start:])
        ys.append(y[start:])
    return pd.DataFrame({ID: np.concatenate(ids), DS: np.concatenate(dss), Y: np.concatenate(ys)})


def _size(size: str) -> tuple[int, int]:
    stores, _, departments = size.lower().partition("x")
    if not (stores.isdigit() and departments.isdigit()):
        raise SystemExit(f"--store-departments {size!r}: expected STORESxDEPARTMENTS, for example 45x70")
    return int(stores), int(departments)


def store_department_history(size: str, weeks: int = 143) -> History:
    """The suite's store x department panel (`synthetic.store_sales`) of `size` ("45x70") over
    `weeks` weeks."""
    from benchmarks.accuracy.panels import synthetic_store_departments

    stores, departments = _size(size)
    return synthetic_store_departments(n_stores=stores, n_departments=departments, weeks=weeks).history


def write_store_export(size: str, path: Path, weeks: int = 143) -> int:
    """The same generated panel as a chain's export (`synthetic.store_sales.store_export`), for
    `darkhorse build` and `darkhorse backtest`: the product path at this size. Returns its rows."""
    from synthetic.store_sales import store_department_sales, store_export

    stores, departments = _size(size)
    out = store_export(store_department_sales(n_stores=stores, n_departments=departments, weeks=weeks))
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False)
    return len(out)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=REPO / "darkhorse.yaml")
    ap.add_argument("--series", type=int, default=2660)
    ap.add_argument("--weeks", type=int, default=143)
    ap.add_argument("--store-departments", default=None, metavar="STORESxDEPARTMENTS",
                    help="backtest the store x department generator of that size, hot sellers included")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    ap.add_argument("--export", type=Path, default=None, metavar="CSV",
                    help="with --store-departments: write that panel as a chain's weekly export (Store, Dept, Date, "
                         "Weekly_Sales, IsHoliday) for darkhorse build and backtest, and run nothing")
    ap.add_argument("--peers", default="none",
                    help=f"also fit these peers at the evaluation origins (comma-separated subset of {','.join(PEERS)}; "
                         "default none): their MASE, seconds and the blend against each")
    a = ap.parse_args(argv)
    try:
        peers = parse_peers(a.peers)
    except PeerError as e:
        raise SystemExit(str(e)) from None
    if a.export is not None:
        if a.store_departments is None:
            raise SystemExit("--export needs --store-departments STORESxDEPARTMENTS")
        from synthetic.store_sales import export_source

        rows = write_store_export(a.store_departments, a.export, a.weeks)
        source = yaml.safe_dump(export_source(str(a.export)), default_flow_style=True, sort_keys=False, width=10**6)
        print(f"{a.export}: {rows:,} rows; a source for it: {source.strip()}")
        return {"export": str(a.export), "rows": rows}
    cfg = load_config(a.config)
    hot = a.store_departments is not None
    if hot:
        history = store_department_history(a.store_departments, a.weeks)
    else:
        frame = panel(a.series, a.weeks).sort_values([ID, DS]).reset_index(drop=True)
        history = History(frame=frame, labels=pd.DataFrame(columns=[ID, DS, "label"]), covariates=[], snapshot="scale",
                          data_snapshot="scale", first_week=frame[DS].min(), last_week=frame[DS].max())
    n_series, n_weeks = history.frame[ID].nunique(), history.frame[DS].nunique()
    t0 = time.perf_counter()
    r = run_backtest(cfg, history=history, with_hot_sellers=hot, report=False, show_progress=False)
    wall = time.perf_counter() - t0
    usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    m = r.metrics
    timed = sum(m["timings_s"].values())
    out = {
        "series": n_series, "weeks": n_weeks, "windows": len(r.cutoffs), "wall_s": round(wall, 1),
        "cpu_s": round(sum(u.ru_utime + u.ru_stime for u in usage), 1),
        "models": {k: {"mase": v["mase"], "seconds": m["timings_s"].get(k)} for k, v in m["models"].items()},
        "hot_sellers": {"seconds": m["timings_s"].get("hot_sellers"),
                        "average_precision": {k: v["average_precision"] for k, v in m["hot_sellers"].items()}} if hot else None,
        "other_s": round(wall - timed, 1),
        "contributions": m["contributions"], "blend_choice": [c["choice"] for c in m["blend_choice"]],
    }
    print(f"{n_series} series x {n_weeks} weeks, {out['windows']} windows: wall {wall:.1f} s, CPU {out['cpu_s']} s")
    for k, v in out["models"].items():
        c = m["contributions"].get(k, {})
        delta = c.get("delta")
        worth = "" if delta is None else f"  worth to the blend {delta:+.4f}" + ("" if c.get("in_blend", True) else " (kept out of it)")
        print(f"  {k:16s} MASE {v['mase']:.4f}  {v['seconds']:7.1f} s{worth}")
    if hot:
        ap_ = ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} -" for k, v in out["hot_sellers"]["average_precision"].items())
        print(f"  hot sellers {out['hot_sellers']['seconds']:.1f} s; AP: {ap_}")
    print(f"  other (outside those timers) {out['other_s']:.1f} s")
    if peers:
        rec, _ = score_peers(history, r.forecasts, r.series_metrics, peers, horizon=cfg.panel.horizon_weeks,
                             seed=cfg.training.seed)
        out["peers"] = rec
        for k, v in rec.items():
            d = v["blend_vs"]
            vs = f"  blend - it {d['diff']:+.4f} +- {d['se']:.4f} ({d['pct']:+.2f}%)" if d else ""
            print(f"  peer {k:11s} MASE {v['mase']:.4f}  {v['seconds']:7.1f} s (evaluation origins only){vs}")
    if a.json:
        a.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
