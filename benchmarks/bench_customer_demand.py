"""The customer-demand member in the ensemble: its MASE and the blend's, with it and without it.

Backtests the config's enabled members plus `customer_demand` (training/models/customer_demand.py:
the sequence model's expected next orders of the active customers, summed per item) on the
config's published panel, optionally on a seeded sample of items (`--max-series`; the member
still learns from every customer's orders), and prints every member's MASE, the blend's, and
the blend's MASE with each member left out (backtest `contributions`: weights re-learned from
the same stored forecasts, nothing refitted). Slow: one sequence-model fit per origin.

    python benchmarks/bench_customer_demand.py --max-series 400 --epochs 3
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make `darkhorse`, `training` importable
    sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402

from benchmarks.accuracy.panels import restrict, sample_ids  # noqa: E402
from benchmarks.config_args import config_parser  # noqa: E402
from darkhorse.core.config import ModelSpec, load_config  # noqa: E402
from training.backtest import BLEND, run_backtest  # noqa: E402
from training.history import load_history  # noqa: E402


def table(met: dict[str, Any], specs: list[ModelSpec]) -> list[dict[str, Any]]:
    """One row per fitted member and the blend, from a backtest's metrics. A member the panel does
    not fit (`min_history_weeks`) has no metrics: it is named below the table, not in it."""
    names = [s.name for s in specs if s.name not in met["members_left_out"]]
    return [{"model": m, "MASE": met["models"][m]["mase"], "scaled pinball": met["models"][m].get("scaled_pinball"),
             "blend MASE without it": met["contributions"].get(m, {}).get("mase_without"),
             "seconds": met["timings_s"].get(m)} for m in [*names, BLEND]]


def main(argv: list[str] | None = None) -> int:
    ap = config_parser(__doc__)
    ap.add_argument("--max-series", type=int, default=None, help="a seeded sample of this many items (default: all)")
    ap.add_argument("--epochs", type=int, default=3, help="most epochs of the sequence model per origin")
    ap.add_argument("--max-train-orders", type=int, default=8000, help="most recent orders it trains on per origin")
    ap.add_argument("--max-items", type=int, default=1000, help="item vocabulary of the sequence model (others: their recent mean)")
    ap.add_argument("--out", type=Path, default=None, help="also write the backtest's outputs here")
    args = ap.parse_args(argv)

    config = load_config(args.config)
    member = ModelSpec(model="customer_demand", params={
        "max_train_orders": args.max_train_orders, "sequence": {"max_epochs": args.epochs, "max_items": args.max_items, "seq_len": 20}})
    specs = [s for s in config.forecast.enabled() if s.model != "customer_demand"] + [member]
    history = load_history(config)
    ids = sample_ids(history, args.max_series)
    if ids is not None:
        history = restrict(history, ids)
    t0 = time.perf_counter()
    result = run_backtest(config, history=history, specs=specs, out_dir=args.out, report=False, show_progress=False)
    met = result.metrics
    print(f"\n{history.frame['unique_id'].nunique()} items, {len(result.cutoffs)} origins "
          f"({sum(r == 'eval' for _, r in result.cutoffs)} evaluated), {time.perf_counter() - t0:.0f} s; "
          f"customer_demand per origin: {json.dumps(met['model_info'].get('customer_demand', {}))}\n")
    print(pd.DataFrame(table(met, specs)).set_index("model").to_markdown(floatfmt=".3f"))
    for name, why in met["members_left_out"].items():
        print(f"not fitted: {name} ({why})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
