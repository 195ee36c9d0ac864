"""Hot-seller ranking with and without the customer signals, on the origins of one backtest.

Replays the backtest's hot-seller scoring (`training.hot_sellers.score_origin`, origin after
origin, with the forecasts that backtest made: `BACKTEST/forecasts.parquet` and its windows in
`metrics.json`) twice: classifier with the customer signals (`features.customer_signals`, from
the config's `customer_purchases` mart) and without. Prints AP, precision and recall at the top
fraction per scorer and variant over the evaluation origins; the variant that matches the
backtest's own config should reproduce its `hot_sellers` figures.

    darkhorse backtest --out OUT && python benchmarks/bench_customer_signals.py OUT
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make `darkhorse`, `training` importable
    sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402

from benchmarks.config_args import config_parser  # noqa: E402
from darkhorse.core.config import load_config  # noqa: E402
from darkhorse.core.schema import CUTOFF, ID, quantile_columns  # noqa: E402
from training import hot_sellers as hs  # noqa: E402
from training.backtest import BLEND, BLEND_ONLY, WIDE_INTERVAL  # noqa: E402
from training.history import load_history  # noqa: E402
from training.metrics import ranking_metrics  # noqa: E402

SCORERS = ("classifier", "final", "forecast_growth", "momentum")


def replay(history, forecasts: pd.DataFrame, windows: list[dict], settings: hs.Settings) -> pd.DataFrame:
    """Every origin's scores (`unique_id, cutoff, model, score, label`), as the backtest made them."""
    frames, scores = [], []
    for w in windows:
        if w["role"] == BLEND_ONLY:  # origins that only feed the blend: no hot-seller scores
            continue
        c = pd.Timestamp(w["cutoff"])
        joined = forecasts[forecasts[CUTOFF] == c].reset_index(drop=True)
        frames.append(joined)
        s, _ = hs.score_origin(history.until(c), joined, history.labels, cutoff=c, covariates=history.covariates,
                               settings=settings, earlier_forecasts=frames[:-1], earlier_scores=scores)
        scores.append(s)
    lab = history.labels[[ID, "ds", "label"]].rename(columns={"ds": CUTOFF})
    return pd.concat(scores, ignore_index=True).merge(lab, on=[ID, CUTOFF], how="left")


def main(argv: list[str] | None = None) -> int:
    ap = config_parser(__doc__)
    ap.add_argument("backtest", type=Path, help="output folder of `darkhorse backtest` (forecasts.parquet, metrics.json)")
    ap.add_argument("--json", default=None, help="also write the figures as JSON here")
    args = ap.parse_args(argv)

    config = load_config(args.config)
    metrics = json.loads((args.backtest / "metrics.json").read_text())
    forecasts = pd.read_parquet(args.backtest / "forecasts.parquet")
    quantiles = list(metrics["quantiles"])
    wide = quantile_columns(BLEND, [q for q in WIDE_INTERVAL if q not in quantiles])  # joined after scoring
    forecasts = forecasts.drop(columns=[c for c in wide if c in forecasts.columns])
    forecasts[CUTOFF] = pd.to_datetime(forecasts[CUTOFF])
    history = load_history(config)
    base = hs.Settings.from_config(config)
    evals = {pd.Timestamp(w["cutoff"]) for w in metrics["windows"] if w["role"] == "eval"}
    fraction = 1 - config.panel.hot_seller_quantile
    out = {}
    for name, on in (("with customer signals", True), ("without", False)):
        t0 = time.perf_counter()
        settings = dataclasses.replace(base, classifier={**base.classifier, "customer_signals": on})
        scored = replay(history, forecasts, metrics["windows"], settings)
        rm = ranking_metrics(scored[scored[CUTOFF].isin(evals)], fraction=fraction)
        out[name] = {m: rm[m] for m in SCORERS if m in rm} | {"seconds": round(time.perf_counter() - t0, 1)}
        print(f"{name}: {out[name]['seconds']} s", flush=True)
    rows = [{"variant": v, "scorer": m, "AP": r["average_precision"], f"P@{fraction:.0%}": r["precision_at_top"],
             f"R@{fraction:.0%}": r["recall_at_top"]}
            for v, res in out.items() for m, r in res.items() if m != "seconds"]
    print(f"\n{len(evals)} evaluation origins, {history.frame[ID].nunique()} items\n")
    print(pd.DataFrame(rows).set_index(["scorer", "variant"]).sort_index().to_markdown(floatfmt=".3f"))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
