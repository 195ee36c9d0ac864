"""Ablations of the multi-task hot-seller model against the other scorers, on the same origins.

Per dataset the graph and text marts and the weekly panel are built by dbt
(`bench_graph.build_marts`): the shipped Online Retail (the repository's darkhorse.yaml source)
and synthetic reviews without and with the planted graph and text effects
(`synthetic.generator.generate_reviews(spread=...)`). At each rolling origin (the last
`--origins` weeks whose labels are known, `--step` weeks apart) every scorer sees only what is
known at the origin:

* `momentum`, the XGBoost `classifier` and the `final` ranking, from
  `training.hot_sellers.score_origin` with the multi-task model enabled (so `multitask` is one
  of the scorers the final ranking may combine) and a naive forecast as the growth forecast;
* `multitask` and its ablations, each trained alone on the same known labels: `no_graph`,
  `no_text`, `single_task` (hot-seller head only), `no_cross_attention`.

It prints hot-seller AP and precision at the top 5% per scorer and dataset (mean over
origins), the multi-task model's fit time and the process's peak memory, and writes them as
JSON.

    nice -n 10 python benchmarks/bench_multitask.py --synthetic-rows 300000 --out-dir data/bench/multitask
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_graph import build_marts
from darkhorse.core.config import load_config
from darkhorse.core.schema import CUTOFF, DS, ID, Y
from training import hot_sellers as hs
from training.metrics import average_precision, top_fraction
from training.multitask.context import GraphText
from training.multitask.scorer import MultiTaskHotSellerScorer

REPO = Path(__file__).resolve().parents[1]
COVARIATES = ("customers", "helpful_votes", "mean_rating", "n_events")
ABLATIONS = {
    "multitask": {},
    "no_graph": {"use_graph": False},
    "no_text": {"use_text": False},
    "single_task": {"multi_task": False},
    "no_cross_attention": {"cross_attention": False},
}
SHOWN = ("momentum", "classifier", "final", *ABLATIONS)


def panel(marts: Path) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The weekly frame (`unique_id, ds, y` + covariates) and the labels of a marts folder."""
    w = duckdb.sql(f"select * from '{marts}/item_weeks.parquet'").df()
    frame = pd.DataFrame({ID: w["item_id"].astype(str), DS: pd.to_datetime(w["week_start"]),
                          Y: w["units"].astype("float64")})
    covs = [c for c in COVARIATES if c in w.columns and w[c].notna().any()]
    for c in covs:
        frame[c] = pd.to_numeric(w[c], errors="coerce").astype("float64").fillna(0.0).to_numpy()
    lab = duckdb.sql(f"select * from '{marts}/item_week_labels.parquet' where is_hot_seller is not null").df()
    labels = pd.DataFrame({ID: lab["item_id"].astype(str), DS: pd.to_datetime(lab["week_start"]),
                           "label": lab["is_hot_seller"].astype("float64"),
                           "label_available_at": lab["label_available_at"]})
    return frame.sort_values([ID, DS], kind="stable").reset_index(drop=True), labels, covs


def naive_forecast(train: pd.DataFrame, cutoff: pd.Timestamp, horizon: int) -> pd.DataFrame:
    last = train[train[DS] == cutoff][[ID, Y]]
    return pd.concat([pd.DataFrame({ID: last[ID], DS: cutoff + pd.Timedelta(weeks=k), "blend": last[Y].to_numpy()})
                      for k in range(1, horizon + 1)], ignore_index=True)


def evaluate(scores: pd.DataFrame, labels: pd.DataFrame, fraction: float = 0.05) -> dict[str, dict[str, float]]:
    lab = labels[[ID, DS, "label"]].rename(columns={DS: CUTOFF})
    df = scores.merge(lab, on=[ID, CUTOFF], how="inner")
    out = {}
    for model, g in df.groupby("model"):
        aps, ps = [], []
        for _, c in g.groupby(CUTOFF):
            s, y = c["score"].to_numpy(dtype="float64"), c["label"].to_numpy(dtype="float64")
            ap = average_precision(s, y)
            if ap is not None:
                aps.append(ap)
                ps.append(top_fraction(s, y, fraction)[0])
        out[str(model)] = {"ap": float(np.mean(aps)) if aps else float("nan"),
                           "p_at_5": float(np.mean(ps)) if ps else float("nan"), "origins": len(aps)}
    return out


def final_choice(cfg) -> dict[str, Any]:
    """The config's settings of the final ranking's choice (`hot_sellers.Settings.from_config`):
    what the backtest and the release learn the combination with."""
    full = hs.Settings.from_config(cfg)
    return {k: getattr(full, k) for k in ("min_labelled_origins", "min_origin_positives", "weight_step", "tie_margin_se")}


def run_dataset(name: str, marts: Path, *, origins: int, step: int, horizon: int, lookback: int,
                params: dict[str, Any], choice_settings: dict[str, Any]) -> dict[str, Any]:
    """Every scorer at each origin; `choice_settings`: how the final ranking learns its
    combination (`final_choice`: the config's, as the backtest and the release learn it)."""
    frame, labels, covs = panel(marts)
    ctx = GraphText.load(marts)
    last_labelled = labels[DS].max()
    cutoffs = [last_labelled - pd.Timedelta(weeks=step * i) for i in range(origins)][::-1]
    mt_params = {**params, "horizon": horizon, "lookback": lookback, "floor": 1.0}
    settings = hs.Settings(lookback=lookback, horizon=horizon, floor=1.0, multitask={**mt_params, "marts_dir": str(marts)},
                           **choice_settings)
    rows, fits = [], []
    for cutoff in cutoffs:
        train = frame[frame[DS] <= cutoff].reset_index(drop=True)
        fc = naive_forecast(train, cutoff, horizon)
        t0 = time.perf_counter()
        s, _ = hs.score_origin(train, fc, labels, cutoff=cutoff, covariates=covs, settings=settings, earlier_scores=rows)
        print(f"  {name} {cutoff.date()}: hot-seller scorers in {time.perf_counter() - t0:.0f} s", flush=True)
        rows.append(s)
        close = pd.Timestamp(cutoff + pd.Timedelta(weeks=1), tz="UTC")
        known = labels[labels["label_available_at"] <= close]
        for variant, flags in ABLATIONS.items():
            if variant == "multitask":
                continue  # scored inside score_origin above
            t0, c0 = time.perf_counter(), time.process_time()
            m = MultiTaskHotSellerScorer(**mt_params, **flags).fit(train, known, covariates=covs, cutoff=cutoff, context=ctx)
            p = m.predict_proba(train, covariates=covs, cutoff=cutoff, context=ctx)
            fits.append({"variant": variant, "cutoff": str(cutoff.date()), "wall_s": round(time.perf_counter() - t0, 1),
                         "cpu_s": round(time.process_time() - c0, 1), **{k: m.fit_info_.get(k) for k in ("epochs", "train_rows", "positives")}})
            rows.append(pd.DataFrame({ID: p.index.astype(str), CUTOFF: cutoff, "model": variant, "score": p.to_numpy()}))
            print(f"  {name} {cutoff.date()}: {variant} {fits[-1]['wall_s']} s", flush=True)
    scores = pd.concat(rows, ignore_index=True)
    return {"dataset": name, "cutoffs": [str(c.date()) for c in cutoffs], "metrics": evaluate(scores, labels),
            "ablation_fits": fits, "items": int(frame[ID].nunique()), "weeks": int(frame[DS].nunique())}


def time_full_fit(marts: Path, *, horizon: int, lookback: int, params: dict[str, Any]) -> dict[str, Any]:
    """One fit and prediction of the multi-task model at the last labelled origin: wall and CPU
    seconds and the peak RSS of this process."""
    frame, labels, covs = panel(marts)
    cutoff = labels[DS].max()
    close = pd.Timestamp(cutoff + pd.Timedelta(weeks=1), tz="UTC")
    t0, c0 = time.perf_counter(), time.process_time()
    m = MultiTaskHotSellerScorer(**params, horizon=horizon, lookback=lookback, marts_dir=str(marts))
    m.fit(frame, labels[labels["label_available_at"] <= close], covariates=covs, cutoff=cutoff)
    m.predict_proba(frame, covariates=covs, cutoff=cutoff)
    return {"wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(time.process_time() - c0, 1),
            "fit_info": m.fit_info_, "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", type=Path, default=REPO / "data" / "bench" / "multitask")
    p.add_argument("--datasets", nargs="+", default=["online_retail", "synthetic", "synthetic_spread"])
    p.add_argument("--synthetic-rows", type=int, default=300_000)
    p.add_argument("--synthetic-items", type=int, default=800)
    p.add_argument("--synthetic-weeks", type=int, default=104)
    p.add_argument("--origins", type=int, default=3)
    p.add_argument("--step", type=int, default=4)
    p.add_argument("--params", type=json.loads, default={"max_train_rows": 5000, "max_epochs": 4, "window": 12, "n_threads": 1},
                   help="multi-task hyperparameters (JSON) for every variant")
    p.add_argument("--time-default", action="store_true", help="also time one fit at the default hyperparameters")
    args = p.parse_args(argv)
    args.out_dir = args.out_dir.resolve()  # the generated config names its sources relative to itself
    args.out_dir.mkdir(parents=True, exist_ok=True)
    cfg = load_config(REPO / "darkhorse.yaml")
    horizon, lookback = cfg.panel.horizon_weeks, cfg.panel.lookback_weeks
    results: dict[str, Any] = {"params": args.params, "cpus": os.cpu_count(), "datasets": []}
    built: dict[str, Path] = {}
    for name in args.datasets:
        work = args.out_dir / name
        if (work / "marts" / "item_edges.parquet").exists():
            built[name] = work / "marts"
        elif name == "online_retail":
            src = cfg.sources[0].model_dump(mode="json", exclude_none=True)
            src["path"] = [str(pth) for pth in cfg.source_paths(cfg.sources[0])]
            built[name] = build_marts(work, [src])[0]
        else:
            from synthetic.generator import generate_reviews

            reviews = args.out_dir / f"{name}.jsonl.gz"
            if not reviews.exists():
                generate_reviews(reviews, rows=args.synthetic_rows, seed=0, n_items=args.synthetic_items,
                                 weeks=args.synthetic_weeks, spread=name.endswith("spread"))
            built[name] = build_marts(work, [{"name": "reviews", "kind": "amazon_reviews", "path": str(reviews)}])[0]
        print(f"{name}: marts in {built[name]}", flush=True)
        results["datasets"].append(run_dataset(name, built[name], origins=args.origins, step=args.step,
                                               horizon=horizon, lookback=lookback, params=args.params,
                                               choice_settings=final_choice(cfg)))
        (args.out_dir / "bench_multitask.json").write_text(json.dumps(results, indent=2))
    if args.time_default and "online_retail" in built:
        results["default_fit_online_retail"] = time_full_fit(built["online_retail"], horizon=horizon, lookback=lookback,
                                                             params={"n_threads": 2})
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    (args.out_dir / "bench_multitask.json").write_text(json.dumps(results, indent=2))
    names = [d["dataset"] for d in results["datasets"]]
    print("\nhot-seller AP / P@5% (mean over origins)")
    print(f"{'scorer':<20}" + "".join(f"{n:>26}" for n in names))
    for s in SHOWN:
        cells = []
        for d in results["datasets"]:
            m = d["metrics"].get(s)
            cells.append(f"{m['ap']:.3f} / {m['p_at_5']:.3f}" if m else "-")
        print(f"{s:<20}" + "".join(f"{c:>26}" for c in cells))
    for d in results["datasets"]:
        fits = pd.DataFrame(d["ablation_fits"])
        if len(fits):
            print(f"{d['dataset']}: ablation fit wall s (mean) " +
                  ", ".join(f"{k} {v:.0f}" for k, v in fits.groupby("variant")["wall_s"].mean().items()))
    if "default_fit_online_retail" in results:
        r = results["default_fit_online_retail"]
        print(f"default multitask fit on online_retail: {r['wall_s']} s wall, {r['cpu_s']} s CPU, peak {r['peak_rss_mb']} MB")
    print(f"peak RSS of the run: {results['peak_rss_mb']} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
