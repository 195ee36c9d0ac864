"""Benchmark of customers' next orders: the multi-task sequence model against what a team tries
first (most popular items, the customer's own last items, item-to-item co-purchase), on the
same held-out last weeks of the published customer marts (`customer_purchases`,
`customer_weeks`, `line_prices` of the config's marts, or `--marts DIR`).

Each customer with purchases before the held-out weeks is scored on its first order in them:
recall@10 and MRR of the ranked items against the order's items, MAE of the order's units,
revenue and mean discount. Training samples are every earlier order (history: the weeks
before it); the validation weeks before the held-out ones stop the training early.

    python benchmarks/bench_customers.py                       # the config's marts
    python benchmarks/bench_customers.py --marts DIR --holdout-weeks 8 --epochs 6
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make `darkhorse`, `training` importable
    sys.path.insert(0, str(REPO))

from benchmarks.config_args import config_parser  # noqa: E402
from darkhorse.core.config import load_config  # noqa: E402
from training.customers.evaluate import compare  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = config_parser(__doc__)
    ap.add_argument("--marts", default=None, help="folder of the customer marts (default: the config's published marts)")
    ap.add_argument("--holdout-weeks", type=int, default=8)
    ap.add_argument("--val-weeks", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=10, help="most epochs of the sequence model")
    ap.add_argument("--max-items", type=int, default=1000, help="item vocabulary of the sequence model")
    ap.add_argument("--home-distance", action="store_true",
                    help="add each customer's km to the home region (region_distances) to its features")
    ap.add_argument("--json", default=None, help="also write the table as JSON here")
    args = ap.parse_args(argv)

    marts = Path(args.marts) if args.marts else load_config(args.config).marts_dir
    t0 = time.perf_counter()
    table, info = compare(marts, holdout_weeks=args.holdout_weeks, val_weeks=args.val_weeks,
                          params={"max_epochs": args.epochs, "max_items": args.max_items,
                                  "home_distance": args.home_distance},
                          progress=lambda m: print(m, flush=True))
    print(f"\nnext order of {info['test_customers']} customers in the held-out weeks from {info['test_start']} "
          f"(to {info['last_week']}); trained on {info['train_samples']} earlier orders, validation from "
          f"{info['val_start']}; {time.perf_counter() - t0:.0f} s\n")
    print(table.set_index("method").to_markdown(floatfmt=".3f"))
    if args.json:
        Path(args.json).write_text(json.dumps({"table": table.to_dict("records"), **info}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
