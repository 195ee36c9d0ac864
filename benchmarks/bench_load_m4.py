"""M4 Hourly with the official measures: the load members and their ensemble, one run.

Members fitted once on the training part; the ensemble's weights are learned on each series'
last 48 training hours held out from every member (training.load.blend), then applied to the
members' forecasts of the test hours.

The organisers' files (`Hourly-train.csv`, `Hourly-test.csv`: 414 series, the last 48 hours
held out) are read from a folder given on the command line and never copied into the
repository. They hold no dates: every series is dated hourly so that all end on the same hour.

Official measures (M4 competitor's guide), per series then averaged over the 414 series:
sMAPE = 200/h sum |y - f| / (|y| + |f|); MASE = mean |y - f| over the in-sample mean
|y_t - y_{t-24}| (m = 24 for hourly data); OWA = the mean of sMAPE and MASE each divided by
Naive2's published hourly figures (sMAPE 18.383, MASE 2.395). The seasonal naive (the last
day repeated) must give the published 13.912 / 1.193, which checks the reading and the scores.

    python benchmarks/bench_load_m4.py path/to/m4
    python benchmarks/bench_load_m4.py path/to/m4 --series 50   # a first subset
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.accuracy.m4 import official_scores, read_split  # noqa: E402
from darkhorse.core.env import set_process_defaults  # noqa: E402
from darkhorse.core.schema import DS, ID, Y  # noqa: E402
from training.load import create  # noqa: E402
from training.load.blend import learn_grouped_weights  # noqa: E402

HORIZON = 48
SEASON = 24
N_SERIES = 414
NAIVE2 = {"smape": 18.383, "mase": 2.395}
# M4 "Evaluation and Ranks.xlsx", hourly columns: the published references
PUBLISHED = {
    "Naive2": {"smape": 18.383, "mase": 2.395},
    "sNaive (seasonal naive)": {"smape": 13.912, "mase": 1.193},
    "Smyl (M4 winner)": {"smape": None, "mase": 0.893},
    "FFORMA": {"smape": None, "mase": 0.819},
    "best hourly MASE": {"smape": None, "mase": 0.801},
}
END = pd.Timestamp("2017-01-01 00:00")
DEFAULT_MEMBERS = ["seasonal_naive_day", "seasonal_naive_week", "xgboost", "xgboost_unweighted", "xgboost_seasonal",
                   "lstm"]


def long_frame(train: dict[str, np.ndarray]) -> pd.DataFrame:
    parts = [
        pd.DataFrame({ID: sid, DS: pd.date_range(end=END, periods=len(y), freq="1h"), Y: y})
        for sid, y in train.items()
    ]
    return pd.concat(parts, ignore_index=True)


def score(train: dict[str, np.ndarray], test: dict[str, np.ndarray], fc: dict[str, np.ndarray]) -> dict[str, float]:
    return official_scores(train, test, fc, m=SEASON, naive2=NAIVE2)


class HeldOut:
    """A member's held-out window (series, h) in the order of `series`: what the blend reads of it."""

    def __init__(self, series: list[np.ndarray], validation: np.ndarray) -> None:
        self.series_, self.horizon_, self.periods_ = series, HORIZON, {"day": SEASON}
        self._validation = validation

    def validation(self) -> np.ndarray:
        return self._validation


def fit_members(members: dict, df: pd.DataFrame, ids: list[str]) -> tuple[dict, dict, dict]:
    """Each member fitted once: its test points per series, its held-out window (in `ids`
    order) and its seconds (fit, forecast and held-out window together)."""
    points: dict[str, dict[str, np.ndarray]] = {}
    held: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    for name, make in members.items():
        t0 = time.perf_counter()
        model = make()
        model.alias = name
        model.fit(df, freq="1h", horizon=HORIZON)
        fc = model.predict(h=HORIZON, quantiles=[0.5])
        held[name] = model.validation()[model.ids_.get_indexer(ids)]
        points[name] = {sid: g[name].to_numpy() for sid, g in fc.groupby(ID, sort=False)}
        seconds[name] = round(time.perf_counter() - t0, 1)
        print(f"{name}: {seconds[name]} s", flush=True)
    return points, held, seconds


def main(argv: list[str] | None = None) -> int:
    set_process_defaults()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder with Hourly-train.csv and Hourly-test.csv")
    parser.add_argument("--series", type=int, default=None, help="only the first N series")
    parser.add_argument("--members", nargs="+", default=DEFAULT_MEMBERS,
                        choices=["seasonal_naive_day", "seasonal_naive_week", "mstl", "xgboost", "xgboost_unweighted",
                                 "xgboost_seasonal", "lstm"],
                        help="members of the ensemble (mstl takes about ten minutes on two cores)")
    parser.add_argument("--xgb-rows", type=int, default=300_000, help="training rows of each XGBoost member")
    parser.add_argument("--xgb-boosters", type=int, default=1, help="boosters averaged in each XGBoost member")
    parser.add_argument("--shrinkage", type=float, default=0.0,
                        help="share of equal weights in the blend (414 series' windows: none needed)")
    parser.add_argument("--groups", type=int, default=3, help="groups of series by noise ratio, each with its weights")
    parser.add_argument("--out-dir", type=Path, default=REPO / "data" / "bench" / "load")
    parser.add_argument("--forecasts", type=Path, default=None,
                        help="blend and score a run saved by --save-forecasts instead of fitting the members")
    parser.add_argument("--save-forecasts", action="store_true",
                        help="also write m4_hourly_forecasts.npz: each member's test and held-out points per series")
    args = parser.parse_args(argv)
    train, test = read_split(args.folder, "Hourly", HORIZON)
    if args.series:
        keep = list(train)[: args.series]
        train, test = {k: train[k] for k in keep}, {k: test[k] for k in keep}
    df = long_frame(train)
    # M4 series carry no dates (every one is dated to end on the same hour): no calendar inputs
    available = {
        "seasonal_naive_day": lambda: create("seasonal_naive", period="day"),
        "seasonal_naive_week": lambda: create("seasonal_naive", period="week"),
        "mstl": lambda: create("mstl"),
        "xgboost": lambda: create("xgboost", calendar=False, objective="absoluteerror", weight="mase",
                                  max_train_rows=args.xgb_rows, n_boosters=args.xgb_boosters),
        "xgboost_unweighted": lambda: create("xgboost", calendar=False, objective="absoluteerror", weight="none",
                                             max_train_rows=args.xgb_rows, n_boosters=args.xgb_boosters),
        "xgboost_seasonal": lambda: create("xgboost", calendar=False, objective="absoluteerror", scaling="seasonal",
                                           max_train_rows=args.xgb_rows, n_boosters=args.xgb_boosters),
        "lstm": lambda: create("lstm", epochs=20, max_windows=10_000),
    }
    ids = list(train)
    if args.forecasts:  # a saved run: its members' points, held-out windows and seconds
        saved = np.load(args.forecasts)
        if list(saved["ids"]) != ids:
            raise SystemExit(f"{args.forecasts}: its series are not those read from {args.folder}")
        names = [k.removeprefix("test__") for k in saved.files if k.startswith("test__")]
        points = {m: dict(zip(ids, saved[f"test__{m}"], strict=True)) for m in names}
        held = {m: saved[f"validation__{m}"] for m in names}
        seconds = {m: float(saved[f"seconds__{m}"]) for m in names if f"seconds__{m}" in saved.files}
    else:
        points, held, seconds = fit_members({name: available[name] for name in args.members}, df, ids)
    if args.save_forecasts:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        arrays = {f"test__{m}": np.vstack([points[m][sid] for sid in ids]) for m in points}
        arrays |= {f"validation__{m}": v for m, v in held.items()}
        arrays |= {f"seconds__{m}": np.array(v) for m, v in seconds.items()}
        np.savez_compressed(args.out_dir / "m4_hourly_forecasts.npz", ids=np.array(ids), **arrays)
    series = [train[sid] for sid in ids]
    grouped = learn_grouped_weights({m: HeldOut(series, v) for m, v in held.items()},
                                    groups=args.groups, shrinkage=args.shrinkage)
    weights = grouped.as_dict()
    print("ensemble weights (learned on each series' last 48 training hours), per noise-ratio group:")
    for j, row in enumerate(weights["weights"]):
        print(f"  group {j} (edges {[round(e, 4) for e in weights['noise_ratio_edges']]}):",
              {k: round(v, 3) for k, v in row.items()})
    per_series = grouped.of(series, horizon=0, period=SEASON)
    points["ensemble"] = {sid: sum(w * points[m][sid] for m, w in zip(grouped.names, row, strict=True))
                          for sid, row in zip(ids, per_series, strict=True)}
    scores = {name: score(train, test, fc) for name, fc in points.items()}
    lines = [f"M4 Hourly ({len(train)} series, h = {HORIZON}, MASE m = {SEASON}, OWA against Naive2 18.383 / 2.395)",
             f"{'method':<28} {'sMAPE':>7} {'MASE':>7} {'OWA':>7} {'seconds':>8}"]
    for name, sc in scores.items():
        lines.append(f"{name:<28} {sc['smape']:>7.3f} {sc['mase']:>7.3f} {sc['owa']:>7.3f} {seconds.get(name, ''):>8}")
    lines.append("published:")
    for name, p in PUBLISHED.items():
        sm = "" if p["smape"] is None else f"{p['smape']:.3f}"
        lines.append(f"{name:<28} {sm:>7} {p['mase']:>7.3f}")
    print("\n".join(lines))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / "m4_hourly.json"
    out.write_text(json.dumps({"series": len(train), "scores": scores, "seconds": seconds, "weights": weights,
                                "published": PUBLISHED}, indent=2))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
