"""Benchmark: what a what-if answer costs as the catalogue grows.

A what-if plan (`/v1/forecast` with `plan`, `/v1/allocate` with `plan`) forecasts again the asked
items that the plan names: the members that read known-future covariates predict those items'
rows, and the members that read none give the forecasts they gave before (kept in memory up to
`training.blend.model.STEADY_KEPT_VALUES` numbers, or, in a larger catalogue, computed for the asked
items only). This benchmark fits, for each catalogue size, a blend like a release's on a generated
weekly panel where a promotion flag triples the units (`--weeks` weeks; XGBoost reads the flag,
naive, seasonal naive and theta do not), then times in one process:

- `forecast`: the whole forecast of every item (what a release computes when it loads), the
  reference;
- `what-if first`: the first call of a one-item plan (two items asked), which fills the kept
  forecasts where they fit;
- `what-if`: the median of the next `--calls` calls;
- `ranking's forecasts`: what the hot sellers under the same plan read (`/v1/hot-sellers` with
  a plan, `training.hot_sellers.whatif`): the plan's items forecast by the blend and by every
  member at the ranking's levels, in one pass (`Blend.predict_with_members`, the service's
  call) and asked one after the other (the blend, then each member), median of `--calls` each;
- `what-if then ranking`: the what-if call, then the ranking's one pass, as the dashboard asks
  on each what-if (the two ask the members that read no plan at other levels: both sets of
  their forecasts are kept where they fit together), median of `--calls` pairs.

It checks that each what-if answer equals those items' rows of a whole forecast under the same
plan, to the last bit, and the one pass the answers asked one after the other, and prints each
cell with its ratio to the whole forecast.

    python benchmarks/bench_whatif.py --items 600 10000 30000 --out data/bench/whatif.json

Run it alone on the machine: the what-if times are tens of milliseconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from darkhorse.core.schema import DS, ID, Y  # noqa: E402
from training.blend.model import Blend  # noqa: E402
from training.models import create  # noqa: E402

HORIZON = 12
# the levels the hot-seller ranking reads the forecasts at (the config's forecast quantiles)
RANKING_LEVELS = [0.1, 0.5, 0.9]
# the service's levels: a 2% grid and the trained quantiles
LEVELS = sorted({*np.round(np.arange(0.01, 1.0, 0.02), 2).tolist(), 0.1, 0.5, 0.9})
MEMBERS = {
    "xgboost": {"n_estimators": 100, "max_depth": 5},
    "naive": {},
    "seasonal_naive": {},
    "theta": {},
}


def promo_panel(n_items: int, n_weeks: int, seed: int = 0) -> pd.DataFrame:
    """Weekly units with a yearly season that triple in promotion weeks (one week in five)."""
    rng = np.random.default_rng(seed)
    weeks = pd.date_range("2022-01-03", periods=n_weeks, freq="7D")
    base = rng.uniform(5, 50, n_items)
    promo = (rng.random((n_items, n_weeks)) < 0.2).astype(float)
    season = 1 + 0.3 * np.sin(2 * np.pi * np.arange(n_weeks) / 52)
    units = rng.poisson(base[:, None] * season[None, :] * (1 + 2 * promo)).astype(float)
    ids = np.array([f"i{k:06d}" for k in range(n_items)])
    return pd.DataFrame({ID: np.repeat(ids, n_weeks), DS: np.tile(weeks, n_items), Y: units.ravel(),
                         "promo": promo.ravel()})


def _split(full: pd.DataFrame, cutoff: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ahead = (full[DS] > cutoff) & (full[DS] <= cutoff + pd.Timedelta(weeks=HORIZON))
    return (full[full[DS] <= cutoff].reset_index(drop=True), full.loc[ahead, [ID, DS, "promo"]].reset_index(drop=True),
            full.loc[ahead, [ID, DS, Y]].reset_index(drop=True))


def fit_blend(full: pd.DataFrame) -> Blend:
    """The members fitted at the panel's last origin with the promotion plan, blended on the
    origin one horizon earlier."""
    last = full[DS].max() - pd.Timedelta(weeks=HORIZON)
    earlier = last - pd.Timedelta(weeks=HORIZON)
    train, future, actual = _split(full, earlier)
    valid = actual.assign(cutoff=earlier)
    for name, params in MEMBERS.items():
        fc = create(name, **params).fit(train, horizon=HORIZON, future=future).predict(h=HORIZON, quantiles=[0.1, 0.5, 0.9])
        valid = valid.merge(fc, on=[ID, DS])
    train, future, _ = _split(full, last)
    fitted = {name: create(name, **params).fit(train, horizon=HORIZON, future=future) for name, params in MEMBERS.items()}
    return Blend.from_members(fitted, valid)


def _seconds(call) -> tuple[float, Any]:
    started = time.perf_counter()
    out = call()
    return time.perf_counter() - started, out


def measure(n_items: int, n_weeks: int, calls: int) -> dict[str, Any]:
    full = promo_panel(n_items, n_weeks)
    fit_s, blend = _seconds(lambda: fit_blend(full))
    print(f"  {n_items:,} items: fitted in {fit_s:.0f}s", file=sys.stderr, flush=True)
    asked = list(blend.last_ds_.index[[7, 9]])
    plan = blend.future_[blend.future_[ID].isin(asked)].copy()
    moved = plan[ID] == asked[0]
    plan.loc[moved, "promo"] = 1.0 - plan.loc[moved, "promo"]  # the item's promotions the other way round

    def whatif() -> pd.DataFrame:
        return blend.predict(h=HORIZON, quantiles=LEVELS, future=plan, ids=asked)

    whole_s, _ = _seconds(lambda: blend.predict(h=HORIZON, quantiles=LEVELS))
    first_s, first = _seconds(whatif)
    times = [_seconds(whatif)[0] for _ in range(calls)]
    # the answer is those items' rows of a whole forecast under the same plan
    every = pd.concat([blend.future_[~blend.future_[ID].isin(asked)], plan], ignore_index=True)
    whole = blend.predict(h=HORIZON, quantiles=LEVELS, future=every)
    pd.testing.assert_frame_equal(first.reset_index(drop=True),
                                  whole[whole[ID].isin(asked)].reset_index(drop=True), check_exact=True)
    one_s, each_s = ranking_forecasts(blend, plan, [asked[0]], calls)

    def both() -> None:  # what the dashboard asks on each what-if: the forecast, then the ranking
        whatif()
        blend.predict_with_members(h=HORIZON, quantiles=RANKING_LEVELS, future=plan, ids=[asked[0]])

    both_s = statistics.median(_seconds(both)[0] for _ in range(calls))
    return {"items": n_items, "weeks": n_weeks, "fit_s": fit_s, "forecast_s": whole_s, "whatif_first_s": first_s,
            "whatif_s": statistics.median(times), "kept": "_steady_kept" in blend.__dict__,
            "ranking_one_pass_s": one_s, "ranking_each_s": each_s, "both_s": both_s}


def ranking_forecasts(blend: Blend, plan: pd.DataFrame, items: list[str], calls: int) -> tuple[float, float]:
    """Median seconds of the forecasts the hot-seller ranking reads under `plan` for `items`: in
    one pass, and the blend then each member asked alone (checked equal to the last bit)."""
    def one() -> pd.DataFrame:
        return blend.predict_with_members(h=HORIZON, quantiles=RANKING_LEVELS, future=plan, ids=items)

    def each() -> pd.DataFrame:
        out = blend.predict(h=HORIZON, quantiles=RANKING_LEVELS, future=plan, ids=items)
        for m in blend.members_.values():
            out = out.merge(m.predict(h=HORIZON, quantiles=RANKING_LEVELS, future=plan, ids=items), on=[ID, DS])
        return out

    pd.testing.assert_frame_equal(one(), each(), check_exact=True)
    one_s = statistics.median(_seconds(one)[0] for _ in range(calls))
    each_s = statistics.median(_seconds(each)[0] for _ in range(calls))
    return one_s, each_s


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| items | whole forecast s (reference) | what-if first s | what-if s (median) | what-if / whole forecast "
             "| forecasts kept | ranking's forecasts: one pass s | asked one after the other s | one pass / one after the other "
             "| what-if then ranking s |",
             "|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['items']:,} | {r['forecast_s']:.2f} | {r['whatif_first_s']:.3f} | {r['whatif_s']:.3f} | "
                     f"{r['whatif_s'] / r['forecast_s']:.3f} | {'yes' if r['kept'] else 'no'} | "
                     f"{r['ranking_one_pass_s']:.3f} | {r['ranking_each_s']:.3f} | "
                     f"{r['ranking_one_pass_s'] / r['ranking_each_s']:.2f} | {r['both_s']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, nargs="+", default=[600, 10_000, 30_000], help="catalogue sizes")
    ap.add_argument("--weeks", type=int, default=80, help="weeks of history per item")
    ap.add_argument("--calls", type=int, default=5, help="what-if calls timed after the first")
    ap.add_argument("--out", type=Path, help="write the rows as JSON here")
    args = ap.parse_args(argv)
    if min(args.items) < 10 or args.weeks < 3 * HORIZON:
        ap.error(f"--items needs 10 or more items (two of them are asked) and --weeks {3 * HORIZON} or more")
    rows = []
    for n in args.items:
        rows.append(measure(n, args.weeks, args.calls))
    print(table(rows))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
