"""Refit the hot-seller scorers on a suite run's stored forecasts with other classifier settings:
the classifier is retrained at every scored origin, the forecasters are not.

    python -m benchmarks.accuracy.hot_refit --run data/bench/accuracy --m4 path/to/m4
    python -m benchmarks.accuracy.hot_refit --run OUT --set max_depth=6 --set n_estimators=400
    python -m benchmarks.accuracy.hot_refit --run OUT --panel-file sales.csv --panel-columns Store+Dept,Date,Sales

At every origin the suite scored (the warm-up and evaluation ones), `training.hot_sellers.
score_origin` runs as the backtest runs it: the history known at the origin, the forecasts the
run stored for that origin, the earlier origins' forecasts the classifier may read
(`training.backtest.classifier_forecasts`) and the scores of the earlier origins refitted here.
Every `--set KEY=VALUE` overrides one `hot_sellers.classifier` setting (`ClassifierSettings`);
each setting given as `KEY=V1,V2` is tried value by value, and the run's own settings come first
(their row says whether the refit reproduced the run's stored classifier scores). Prints, per
setting and panel, the average precision at the evaluation origins of the classifier, forecast
growth and the final ranking, and the final ranking minus its best input.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from benchmarks.accuracy import panel_file as PF
from benchmarks.accuracy.suite import final_vs_best, panel_config
from benchmarks.bench_accuracy import REPO, add_panel_file_args, load_panel, panel_files
from darkhorse.core.config import load_config
from darkhorse.core.schema import CUTOFF, ID, quantile_columns
from training import hot_sellers as hs
from training.backtest import (
    BLEND,
    WIDE_INTERVAL,
    classifier_forecasts,
    hot_seller_frame,
    scores_hot_sellers,
)
from training.hot_sellers.classifier import ClassifierSettings
from training.lags import PastFeatures
from training.metrics import ranking_metrics

log = logging.getLogger(__name__)
SHOWN = ("classifier", "forecast_growth", "final")


def _settings(args: list[str]) -> list[dict[str, Any]]:
    """The classifier overrides to try: the run's own ({}) first, then one per value of each KEY."""
    out: list[dict[str, Any]] = [{}]
    for a in args:
        key, sep, values = a.partition("=")
        if not sep or key not in ClassifierSettings.model_fields:
            raise SystemExit(f"--set {a!r}: expected KEY=VALUE with KEY one of {', '.join(ClassifierSettings.model_fields)}")
        for v in values.split(","):
            ClassifierSettings(**{key: yaml.safe_load(v)})  # a bad value fails here, before any work
            out.append({key: yaml.safe_load(v)})
    return out


def refit_panel(folder: Path, panel, config, overrides: dict[str, Any]) -> dict[str, Any]:
    """Every scorer's AP over the evaluation origins of one stored panel, refitted with
    `overrides`, the final ranking against its best input (`suite.final_vs_best`), and the largest
    difference to the run's stored classifier scores."""
    cfg = panel_config(panel, config)
    rec = json.loads((folder / "result.json").read_text())
    stored = pd.read_parquet(folder / "hot_sellers.parquet")
    stored = stored[stored["model"] == "classifier"].assign(**{CUTOFF: lambda d: pd.to_datetime(d[CUTOFF])})
    fc = pd.read_parquet(folder / "forecasts.parquet")
    # the backtest joins the blend's wide levels after the hot sellers scored: they never read them
    wide = quantile_columns(BLEND, [q for q in WIDE_INTERVAL if q not in cfg.forecast.quantiles])
    fc = fc.drop(columns=[c for c in wide if c in fc.columns])
    fc[CUTOFF] = pd.to_datetime(fc[CUTOFF])
    base = hs.Settings.from_config(cfg)
    settings = dataclasses.replace(base, classifier={**base.classifier, **overrides})
    h = panel.history
    past_source = PastFeatures(h.frame)
    frames, scores, evals, diff = [], [], [], 0.0
    for w in rec["windows"]:
        cutoff = pd.Timestamp(w["cutoff"])
        joined = fc[fc[CUTOFF] == cutoff].reset_index(drop=True)
        frames.append(classifier_forecasts(joined))
        if not scores_hot_sellers(cfg, h, cutoff, w["role"]):
            continue
        s, _ = hs.score_origin(h.until(cutoff), joined, h.labels, cutoff=cutoff, covariates=h.covariates,
                               settings=settings, earlier_forecasts=frames[:-1], earlier_scores=scores,
                               past_source=past_source, groups=h.groups)
        scores.append(s)
        if w["role"] == "eval":
            evals.append(s)
        was = stored[stored[CUTOFF] == cutoff].set_index(ID)["score"]
        now = s[s["model"] == "classifier"].set_index(ID)["score"].reindex(was.index)
        if len(was):
            diff = max(diff, float(np.nanmax(np.abs(now.to_numpy() - was.to_numpy()))))
    hot = hot_seller_frame(evals, h)
    ap = {m: v["average_precision"] for m, v in ranking_metrics(hot, fraction=1 - cfg.panel.hot_seller_quantile).items()}
    vs = final_vs_best(hot)
    return {"ap": ap, "best_input": vs["best"] if vs else None, "final_vs_best": vs["diff"] if vs else None,
            "per_origin": vs["per_origin"] if vs else [], "max_diff_vs_run": diff}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a suite run's output folder (panels/*/forecasts.parquet)")
    ap.add_argument("--config", type=Path, default=REPO / "darkhorse.yaml", help="the run's config")
    ap.add_argument("--set", action="append", default=[], help="a classifier setting, KEY=VALUE or KEY=V1,V2")
    ap.add_argument("--panels", default=None, help="comma-separated subset (default: every stored panel)")
    ap.add_argument("--m4", type=Path, default=None, help="the M4 folder (for the M4 panels)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    ap.add_argument("--no-baseline", action="store_true", help="skip the run's own settings (only the --set ones)")
    add_panel_file_args(ap)  # as given to the run
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tries = _settings(args.set)[1:] if args.no_baseline else _settings(args.set)
    config = load_config(args.config)
    folders = sorted(p.parent for p in (args.run / "panels").glob("*/forecasts.parquet"))
    if args.panels:
        folders = [f for f in folders if f.name in args.panels.split(",")]
    if not folders:
        raise SystemExit(f"--run: no panels/*/forecasts.parquet under {args.run}")
    try:
        files = panel_files(args, set(), config)
    except PF.PanelFileError as e:
        raise SystemExit(str(e)) from None
    results: dict[str, dict[str, Any]] = {}
    for folder in folders:
        name = folder.name
        panel = load_panel(name, args.m4, args.run / "cache", files)
        if panel is None:
            continue
        for overrides in tries:
            key = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "run's settings"
            t0 = time.perf_counter()
            r = refit_panel(folder, panel, config, overrides)
            r["seconds"] = round(time.perf_counter() - t0, 1)
            results.setdefault(key, {})[folder.name] = r
            shown = "  ".join(f"{m} {r['ap'][m]:.3f}" for m in SHOWN if m in r["ap"])
            extra = f"; reproduces the run: max |score diff| {r['max_diff_vs_run']:.2g}" if not overrides else ""
            print(f"{folder.name:24s} {key:28s} {shown}  final - best input ({r['best_input']}) "
                  f"{r['final_vs_best']:+.3f}  ({r['seconds']:.0f} s{extra})", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
