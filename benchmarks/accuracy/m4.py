"""M4 Weekly: reading the organisers' files and the official measures.

The files (`Weekly-train.csv`, `Weekly-test.csv`, from Mcompetitions/M4-methods) are read from
a path given on the command line and never copied into the repository. They hold no dates:
every series is dated so that all end on the same week, the test's 13 weeks last.

Official measures (M4 competitor's guide), per series then averaged over the 359 series:
sMAPE = 200/h sum |y - f| / (|y| + |f|); MASE = mean |y - f| over the in-sample mean
|y_t - y_{t-1}| (m = 1 for weekly data); OWA = the mean of sMAPE and MASE, each divided by
Naive2's. Weekly series have no seasonal adjustment in Naive2, so Naive2 is the naive forecast
(the last training value): published sMAPE 9.161, MASE 2.777 (`naive_check` reproduces them).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from darkhorse.core.errors import DarkHorseError
from darkhorse.core.schema import DS, ID, Y

HORIZON = 13
N_SERIES = 359
NAIVE2 = {"smape": 9.161, "mase": 2.777}
# M4 "Evaluation and Ranks.xlsx", weekly columns (the README beside the data files)
PUBLISHED = {
    "Naive2": {"smape": 9.161, "mase": 2.777},
    "Theta": {"smape": 9.093, "mase": 2.637},
    "Smyl (M4 winner)": {"smape": 7.817, "mase": 2.356},
    "FFORMA": {"smape": 7.625, "mase": 2.108},
    "best weekly MASE": {"smape": None, "mase": 2.107},
}
# the week every M4 series ends on (a Monday: weeks start on Mondays in DarkHorse)
END_WEEK = pd.Timestamp("2018-12-31")


class M4Error(DarkHorseError, ValueError):
    pass


@dataclass(frozen=True)
class M4Weekly:
    train: dict[str, np.ndarray]
    test: dict[str, np.ndarray]

    @property
    def split(self) -> pd.Timestamp:
        """The last training week: the official origin."""
        return END_WEEK - pd.Timedelta(weeks=HORIZON)


def _read_wide(path: Path, frequency: str) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise M4Error(
            f"{path}: M4 file not found (pass the folder that holds {frequency}-train.csv and {frequency}-test.csv)"
        )
    wide = pd.read_csv(path, index_col=0, dtype={0: str})
    return {sid: row[~np.isnan(row)] for sid, row in zip(wide.index.astype(str), wide.to_numpy(dtype="float64"), strict=True)}


def read_split(folder: str | Path, frequency: str, horizon: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The organisers' `<frequency>-train.csv` / `-test.csv` as series id -> values, checked:
    the same series in both, and `horizon` held-out values each."""
    folder = Path(folder)
    train = _read_wide(folder / f"{frequency}-train.csv", frequency)
    test = _read_wide(folder / f"{frequency}-test.csv", frequency)
    if set(train) != set(test):
        raise M4Error(f"{folder}: {frequency}-train.csv and {frequency}-test.csv name different series")
    bad = [s for s, v in test.items() if len(v) != horizon]
    if bad:
        raise M4Error(f"{folder / (frequency + '-test.csv')}: series {bad[:3]} do not hold {horizon} test values")
    return train, test


def read_m4_weekly(folder: str | Path) -> M4Weekly:
    train, test = read_split(folder, "Weekly", HORIZON)
    return M4Weekly(train=train, test=test)


def long_frame(m4: M4Weekly) -> pd.DataFrame:
    """`unique_id, ds, y`: train then test values of every series, all ending on END_WEEK."""
    parts = []
    for sid, tr in m4.train.items():
        y = np.concatenate([tr, m4.test[sid]])
        ds = pd.date_range(end=END_WEEK, periods=len(y), freq="7D")
        parts.append(pd.DataFrame({ID: sid, DS: ds, Y: y}))
    return pd.concat(parts, ignore_index=True)


def cut(frame: pd.DataFrame, weeks: int) -> pd.DataFrame:
    """`long_frame` rows without each series' last `weeks` weeks: the same series at another
    season (every origin `weeks` earlier)."""
    if weeks < 0:
        raise M4Error(f"weeks to cut off M4 Weekly must be 0 or more, got {weeks}")
    return frame[frame[DS] <= END_WEEK - pd.Timedelta(weeks=weeks)].reset_index(drop=True)


def write_seasons(folder: str | Path, weeks: list[int], out: str | Path) -> list[Path]:
    """M4 Weekly cut `weeks` before its end, each as a panel file (`unique_id, ds, y` Parquet,
    `m4_minus_<weeks>.parquet`) under `out`, to be run with `bench_accuracy.py --panel-file`."""
    frame = long_frame(read_m4_weekly(folder))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for w in weeks:
        path = out / f"m4_minus_{w}.parquet"
        cut(frame, w).to_parquet(path, index=False)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description="Write M4 Weekly cut N weeks before its end as panel files: the same series at other seasons. "
                    "Run them with: python benchmarks/bench_accuracy.py --panel-file OUT/m4_minus_N.parquet ...")
    ap.add_argument("--m4", type=Path, required=True, help="folder holding Weekly-train.csv / Weekly-test.csv")
    ap.add_argument("--weeks", required=True, help="weeks to cut off, comma-separated (e.g. 13,39,52,78)")
    ap.add_argument("--out", type=Path, required=True, help="folder for the Parquet files")
    args = ap.parse_args(argv)
    try:
        weeks = [int(w) for w in args.weeks.split(",") if w.strip()]
        paths = write_seasons(args.m4, weeks, args.out)
    except (ValueError, M4Error) as e:
        raise SystemExit(f"--weeks / --m4: {e}") from None
    for path in paths:
        print(path)


def smape(y: np.ndarray, f: np.ndarray) -> float:
    return float(np.mean(200.0 * np.abs(y - f) / (np.abs(y) + np.abs(f))))


def mase(train: np.ndarray, y: np.ndarray, f: np.ndarray, m: int = 1) -> float:
    scale = np.mean(np.abs(train[m:] - train[:-m]))
    return float(np.mean(np.abs(y - f)) / scale)


def official_scores(
    train: dict[str, np.ndarray], test: dict[str, np.ndarray], forecasts: dict[str, np.ndarray],
    *, m: int, naive2: dict[str, float],
) -> dict[str, float]:
    """The M4 guide's sMAPE, MASE (in-sample seasonal naive scale, period `m`) and OWA against
    Naive2's published figures, means over the series; `forecasts` maps series id -> values."""
    missing = set(test) - set(forecasts)
    if missing:
        raise M4Error(f"M4 scoring: {len(missing)} series have no forecast (e.g. {sorted(missing)[:3]})")
    out = {
        "smape": float(np.mean([smape(test[k], forecasts[k]) for k in test])),
        "mase": float(np.mean([mase(train[k], test[k], forecasts[k], m=m) for k in test])),
    }
    out["owa"] = 0.5 * (out["smape"] / naive2["smape"] + out["mase"] / naive2["mase"])
    return out


def score(m4: M4Weekly, forecasts: dict[str, np.ndarray]) -> dict[str, float]:
    """Official sMAPE, MASE and OWA of one method on M4 Weekly (13 values per series)."""
    return official_scores(m4.train, m4.test, forecasts, m=1, naive2=NAIVE2)


def naive_forecasts(m4: M4Weekly) -> dict[str, np.ndarray]:
    return {k: np.repeat(v[-1], HORIZON) for k, v in m4.train.items()}


def score_backtest(m4: M4Weekly, forecasts: pd.DataFrame, models: list[str]) -> dict[str, dict[str, float]]:
    """Official measures of every model column at the official origin of a backtest's forecasts."""
    at = forecasts[forecasts["cutoff"] == m4.split].sort_values([ID, DS])
    if at.empty:
        raise M4Error(f"M4 scoring: the backtest has no origin at the official split {m4.split.date()}")
    out = {}
    for model in models:
        fc = {sid: g[model].to_numpy(dtype="float64") for sid, g in at.groupby(ID, sort=False)}
        short = [k for k, v in fc.items() if len(v) != HORIZON]
        if short:
            raise M4Error(f"M4 scoring: {model} has fewer than {HORIZON} weeks for {short[:3]}")
        out[model] = score(m4, fc)
    return out


def subset(m4: M4Weekly, ids: list[str]) -> M4Weekly:
    return M4Weekly(train={k: m4.train[k] for k in ids}, test={k: m4.test[k] for k in ids})


__all__ = [
    "HORIZON",
    "NAIVE2",
    "N_SERIES",
    "PUBLISHED",
    "M4Error",
    "M4Weekly",
    "cut",
    "long_frame",
    "mase",
    "naive_forecasts",
    "read_m4_weekly",
    "score",
    "score_backtest",
    "smape",
    "subset",
    "write_seasons",
]


if __name__ == "__main__":
    main()
