"""Benchmark of the item x region hierarchy: forecasts per level before and after reconciliation.

Reads the published item x region panel (`item_region_weeks.parquet` of the config's marts, or
`--panel FILE`), keeps the top items and regions by units (the other regions summed into one,
`OTHER`), and backtests `training.hierarchy` at rolling origins: base forecasts (simple
exponential smoothing per series, every level on its own), bottom-up and MinT-shrink. Prints,
per level (total, category where the panel names one, region, item, item x region), MASE and the scaled pinball loss of the two
quantile methods (reconciled sample paths, per-quantile), and the coherence proof: the largest
absolute difference between a series and the sum of its bottom series, for every method.

With `--members`, the bottom (item x region) base forecasts are also blended with members
(`--member-weight`, 0.5) and every table repeats per member: `level` (each series' mean of its
last 8 weeks: the control), `neighbours` (the item's demand in the other regions weighted by
their great-circle distance, `region_distances.parquet`), `customer_demand` (the customer
sequence model's expected demand per item x region, fitted at each origin on the customer lines
known then: one fit per origin, about a minute each).

    python benchmarks/bench_hierarchy.py                                  # the config's marts
    python benchmarks/bench_hierarchy.py --panel item_region_weeks.parquet --top-items 50
    python benchmarks/bench_hierarchy.py --marts DIR --members level,neighbours,customer_demand
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

MEMBERS = ("level", "neighbours", "customer_demand")


def _members(names: list[str], marts: Path, args, info: list) -> dict[str, hierarchy.BottomMember]:
    out: dict[str, hierarchy.BottomMember] = {}
    for name in names:
        if name == "level":
            out[name] = hierarchy.level_member()
        elif name == "neighbours":
            out[name] = hierarchy.neighbour_member(pd.read_parquet(mart_path(marts, "region_distances")),
                                                   scale_km=args.scale_km)
        elif name == "customer_demand":
            from training.customers import data as cdata
            from training.customers import demand

            lines, weeks = cdata.read_marts(marts)
            settings = demand.DemandSettings(max_train_orders=args.max_train_orders, sequence={
                "max_epochs": args.epochs, "max_items": args.max_items, "seq_len": 20, "patience": 1})
            out[name] = demand.hierarchy_member(lines, weeks, settings=settings, info=info)
        else:
            raise SystemExit(f"--members: unknown member {name!r}; one of {', '.join(MEMBERS)}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = config_parser(__doc__)
    ap.add_argument("--marts", default=None, help="folder of the marts (default: the config's published marts)")
    ap.add_argument("--panel", default=None, help="item x region Parquet (default: item_region_weeks of the marts)")
    ap.add_argument("--top-items", type=int, default=None, help="default: customers.hierarchy_top_items")
    ap.add_argument("--top-regions", type=int, default=None, help="default: customers.hierarchy_top_regions")
    ap.add_argument("--horizon", type=int, default=4, help="weeks per origin (default 4)")
    ap.add_argument("--windows", type=int, default=3, help="rolling origins (default 3)")
    ap.add_argument("--paths", type=int, default=1000, help="sample paths of the path quantiles")
    ap.add_argument("--members", default="", help=f"comma-separated bottom members: {', '.join(MEMBERS)}")
    ap.add_argument("--member-weight", type=float, default=0.5, help="a member's weight in the bottom base forecasts")
    ap.add_argument("--scale-km", type=float, default=1000.0, help="neighbours: distance scale of the weights")
    ap.add_argument("--epochs", type=int, default=3, help="customer_demand: most epochs per origin")
    ap.add_argument("--max-items", type=int, default=1000, help="customer_demand: item vocabulary")
    ap.add_argument("--max-train-orders", type=int, default=8000, help="customer_demand: latest orders it trains on")
    ap.add_argument("--json", default=None, help="also write the table and gaps as JSON here")
    args = ap.parse_args(argv)

    config = load_config(args.config)
    marts = Path(args.marts) if args.marts else config.marts_dir
    path = Path(args.panel) if args.panel else mart_path(marts, "item_region_weeks")
    if not path.is_file():
        print(f"{path} not found: run `darkhorse build` (or give --panel)", file=sys.stderr)
        return 2
    panel = pd.read_parquet(path)
    panel = panel[[c for c in ("item_id", "region", "category", "week_start", "units") if c in panel.columns]]
    top_items = args.top_items or config.customers.hierarchy_top_items
    top_regions = args.top_regions or config.customers.hierarchy_top_regions
    fits: list = []
    members = _members([m.strip() for m in args.members.split(",") if m.strip()], marts, args, fits)
    t0 = time.perf_counter()
    table, gaps = hierarchy.backtest(
        panel, top_items=top_items, top_regions=top_regions, horizon=args.horizon, windows=args.windows,
        quantiles=config.forecast.quantiles, paths=args.paths, members=members, member_weight=args.member_weight,
    )
    seconds = time.perf_counter() - t0
    print(f"item x region hierarchy of {path.name}: top {top_items} items x top {top_regions} regions "
          f"(+ {hierarchy.OTHER}), {args.windows} origins x {args.horizon} weeks, {seconds:.1f} s")
    if members:
        print(f"bottom members at weight {args.member_weight}: {', '.join(members)}")
    for fit in fits:
        print(f"  customer_demand fit: {json.dumps(fit)}")
    levels = [lv for lv in hierarchy.LEVELS if lv in set(table["level"])]
    series = table.groupby("level")["series"].max().reindex(levels).astype(str)
    for member in table["member"].unique():
        part = table[table["member"] == member]
        title = "" if member == "none" else f", bottom blended with {member}"
        print(f"\nMASE per level{title} (mean over series and origins; lower is better)")
        mase = part.pivot(index="level", columns="method", values="mase").reindex(levels)
        print(mase.assign(series=series).to_markdown(floatfmt=".3f"))
        for col, name in (("pinball_paths", "reconciled sample paths"), ("pinball_per_quantile", "per-quantile")):
            print(f"\nscaled pinball per level{title}, quantiles from {name} (base: its own quantiles)")
            print(part.pivot(index="level", columns="method", values=col).reindex(levels).to_markdown(floatfmt=".3f"))
    if members:
        print("\nMASE per level and member (columns: member / method)")
        wide = table.pivot(index="level", columns=["member", "method"], values="mase").reindex(levels)
        wide.columns = [f"{m} / {k}" for m, k in wide.columns]
        print(wide.T.to_markdown(floatfmt=".3f"))
    print("\ncoherence: largest |series - sum of its bottom series| over levels, weeks and origins")
    for name, gap in gaps.items():
        print(f"  {name:<42} {gap:.3g}")
    if args.json:
        Path(args.json).write_text(json.dumps({"table": table.to_dict("records"), "gaps": gaps, "fits": fits,
                                               "seconds": seconds}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
