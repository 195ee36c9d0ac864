"""The newsvendor's regret on suite runs' stored forecasts, side by side: what `/v1/allocate`
would have cost at every evaluation origin of each panel (`training.decisions.replay`, the
decision replay every backtest runs), for the blend or any stored member.

    python -m benchmarks.accuracy.decision_replay --run BASE --run NEW
    python -m benchmarks.accuracy.decision_replay --run OUT --models blend,xgboost --method paths

Per panel and run: the regret per unit of realized demand (cost minus the hindsight cost, summed
over the evaluation origins, over their realized demand), the mean over the replay's scenarios
(capacity 50/80/100/120% of the realized total, underage/overage cost ratio 1, 4, 9) for each
period (1 and 4 weeks) and over both. Lower is better; a forecast whose quantiles hold gives the
allocator less to regret.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.accuracy import panels as P
from darkhorse.core.schema import CUTOFF
from training.decisions import METHODS, replay


def panel_regret(forecasts: pd.DataFrame, models: list[str], method: str) -> dict[str, dict[str, float]]:
    """Mean regret per unit of demand per model: overall and per period (`p1`, `p4`, ...)."""
    evals = sorted(pd.Timestamp(c) for c in forecasts.loc[forecasts["window"] == "eval", CUTOFF].unique())
    scen = pd.DataFrame(replay(forecasts, models, evals)["scenarios"])
    out: dict[str, dict[str, float]] = {}
    if scen.empty:
        return out
    scen = scen[scen["method"] == method]
    for model, g in scen.groupby("model", sort=False):
        rec = {"all": float(g["regret_per_unit"].mean())}
        rec.update({f"p{int(p)}": float(x["regret_per_unit"].mean()) for p, x in g.groupby("period")})
        out[str(model)] = rec
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, action="append", required=True, help="a suite run's output folder (repeatable)")
    ap.add_argument("--models", default="blend", help="comma-separated stored models (default: blend)")
    ap.add_argument("--method", default="sum", choices=list(METHODS), help="how a period's demand is built")
    ap.add_argument("--panels", default=",".join(P.PANELS))
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    results: dict[str, dict[str, Any]] = {}
    for name in [p.strip() for p in args.panels.split(",") if p.strip()]:
        cells = []
        for run in args.run:
            f = run / "panels" / name / "forecasts.parquet"
            if not f.is_file():
                cells.append("-")
                continue
            got = panel_regret(pd.read_parquet(f), models, args.method)
            results.setdefault(name, {})[str(run)] = got
            cells.append("; ".join(f"{m} {r['all']:.4f} (" + ", ".join(f"{k} {v:.4f}" for k, v in r.items() if k != "all") + ")"
                                   for m, r in got.items()))
        print(f"{name:18s} " + " | ".join(cells), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
