"""Benchmark of the item x region hierarchy: forecasts per level before and after reconciliation.

Reads the published item x region panel (`item_region_weeks.parquet` of the config's marts, or
`--panel FILE`), keeps the top items and regions by units (the other regions summed into one,
`OTHER`), and backtests `training.hierarchy` at rolling origins: base forecasts (simple
exponential smoothing per series, every level on its own), bottom-up and MinT-shrink. Prints,
per level (total, category where the panel names one, region, item, item x region), MASE and the scaled pinball loss of the two
quantile methods (reconciled sample paths, per-quantile), and the coherence proof: the largest
absolute difference between a series and the sum of its bottom series, for every method.

    python benchmarks/bench_hierarchy.py                                  # the config's marts
    python benchmarks/bench_hierarchy.py --panel item_region_weeks.parquet --top-items 50
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make `darkhorse`, `training` importable
    sys.path.insert(0, str(REPO))

from benchmarks.config_args import config_parser  # noqa: E402
from darkhorse.core.config import load_config  # noqa: E402
from darkhorse.core.marts import mart_path  # noqa: E402
from training import hierarchy  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = config_parser(__doc__)
    ap.add_argument("--panel", default=None, help="item x region Parquet (default: the config's published mart)")
    ap.add_argument("--top-items", type=int, default=None, help="default: customers.hierarchy_top_items")
    ap.add_argument("--top-regions", type=int, default=None, help="default: customers.hierarchy_top_regions")
    ap.add_argument("--horizon", type=int, default=4, help="weeks per origin (default 4)")
    ap.add_argument("--windows", type=int, default=3, help="rolling origins (default 3)")
    ap.add_argument("--paths", type=int, default=1000, help="sample paths of the path quantiles")
    ap.add_argument("--json", default=None, help="also write the table and gaps as JSON here")
    args = ap.parse_args(argv)

    config = load_config(args.config)
    path = Path(args.panel) if args.panel else mart_path(config.marts_dir, "item_region_weeks")
    if not path.is_file():
        print(f"{path} not found: run `darkhorse build` (or give --panel)", file=sys.stderr)
        return 2
    panel = pd.read_parquet(path)
    panel = panel[[c for c in ("item_id", "region", "category", "week_start", "units") if c in panel.columns]]
    top_items = args.top_items or config.customers.hierarchy_top_items
    top_regions = args.top_regions or config.customers.hierarchy_top_regions
    t0 = time.perf_counter()
    table, gaps = hierarchy.backtest(
        panel, top_items=top_items, top_regions=top_regions, horizon=args.horizon, windows=args.windows,
        quantiles=config.forecast.quantiles, paths=args.paths,
    )
    seconds = time.perf_counter() - t0
    print(f"item x region hierarchy of {path.name}: top {top_items} items x top {top_regions} regions "
          f"(+ {hierarchy.OTHER}), {args.windows} origins x {args.horizon} weeks, {seconds:.1f} s")
    print("\nMASE per level (mean over series and origins; lower is better)")
    levels = [lv for lv in hierarchy.LEVELS if lv in set(table["level"])]
    mase = table.pivot(index="level", columns="method", values="mase").reindex(levels)
    series = table.groupby("level")["series"].max().reindex(levels).astype(str)
    print(mase.assign(series=series).to_markdown(floatfmt=".3f"))
    for col, title in (("pinball_paths", "reconciled sample paths"), ("pinball_per_quantile", "per-quantile")):
        print(f"\nscaled pinball per level, quantiles from {title} (base: its own quantiles)")
        print(table.pivot(index="level", columns="method", values=col).reindex(levels)
              .to_markdown(floatfmt=".3f"))
    print("\ncoherence: largest |series - sum of its bottom series| over levels, weeks and origins")
    for name, gap in gaps.items():
        print(f"  {name:<26} {gap:.3g}")
    if args.json:
        Path(args.json).write_text(json.dumps({"table": table.to_dict("records"), "gaps": gaps,
                                               "seconds": seconds}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
