"""The tools a user would pick instead of DarkHorse, backtested in the suite's own run: fitted at
the same evaluation origins on the same history, scored on the same rows with the same measures.

* `lightgbm`: a global LightGBM on lags, as mlforecast builds it (the common recipe for a panel
  of weekly sales): lags 1-4, 8 and 13, the 4- and 13-week means of the last weeks, the week of
  the year, each series standardised (`LocalStandardScaler`), forecasts made recursively and
  clipped at zero. Lag 52 joins where the history before the origin spans two years: mlforecast
  drops the training rows whose lags are missing, so on a one-year panel lag 52 would leave
  nothing to train on. 300 trees at learning rate 0.05 on the absolute error (the suite scores
  absolute errors; on the weekly-sales example the squared error was worse at two of three
  origins tried, on the raw target worse still: the peer is not tuned beyond that). Where no
  series is longer than 14 weeks (none has a training row with lag 13 and the 13-week mean), every
  series forecasts its last value.
* `lightgbm_diff`: the same on each series' first differences (mlforecast's `Differences([1])`
  before the standardising), the usual recipe for trending series; series of at most 20 weeks,
  too short for the differenced lags, forecast their last value.
* `autoets`: statsforecast's AutoETS, error, trend and damping chosen per series by AICc,
  without a season (season 52 costs about 100 s per 1,000 weekly series on 2 cores), series it
  cannot fit forecast by the last value (its `fallback_model`).

Where the panel declares known-future columns (a panel file's `--panel-known`, a source's
`known_future`), the LightGBM peers read them too, at each forecast week (mlforecast's dynamic
features): a user would give the tool they pick the same promotion calendar.

A peer is scored on its point forecast only (it has no quantiles here): MASE, sMAPE and WAPE
(`training.metrics.series_metrics`, the scale the backtest used at each origin), the blend's
MASE against it paired by (series, origin), and as a hot-seller scorer (the label's growth
formula read from its forecast, `suite.growth_from_forecast`). On M4 Weekly also the official
measures at the last origin.
"""

from __future__ import annotations

import importlib
import logging
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from darkhorse.core.schema import CUTOFF, DS, ID, WEEK, Y, future_index
from training.device import cpu_threads
from training.history import History
from training.metrics import naive_scale, paired_difference, series_metrics, summarize

log = logging.getLogger(__name__)

SEASON = 52
LAGS = (1, 2, 3, 4, 8, 13)
MIN_WEEKS = max(LAGS) + 1  # a series of at most this many weeks has no training row with every lag
MIN_DIFFERENCED_WEEKS = 20  # a differenced series shorter than this forecasts its last value


def _week_of_year(dates: pd.DatetimeIndex) -> np.ndarray:
    return dates.isocalendar().week.to_numpy(dtype="int64")


def lightgbm_lags(train: pd.DataFrame) -> list[int]:
    """The LightGBM peer's lags: lag 52 only where the history spans two years."""
    span = (train[DS].max() - train[DS].min()) // WEEK + 1
    return [*LAGS, SEASON] if span >= 2 * SEASON else list(LAGS)


def _mlforecast_lightgbm(train: pd.DataFrame, h: int, name: str, *, seed: int, difference: bool,
                         future: pd.DataFrame | None = None) -> pd.DataFrame:
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean
    from mlforecast.target_transforms import Differences, LocalStandardScaler

    model = lgb.LGBMRegressor(n_estimators=300, learning_rate=0.05, num_leaves=31, subsample=0.8, subsample_freq=1,
                              colsample_bytree=0.8, objective="l1", random_state=seed, n_jobs=cpu_threads(0),
                              verbosity=-1)
    transforms = [Differences([1]), LocalStandardScaler()] if difference else [LocalStandardScaler()]
    fc = MLForecast(models={name: model}, freq="7D", lags=lightgbm_lags(train),
                    lag_transforms={1: [RollingMean(window_size=4), RollingMean(window_size=13)]},
                    date_features=[_week_of_year], target_transforms=transforms)
    known = [] if future is None else [c for c in future.columns if c not in (ID, DS)]
    data = train[[ID, DS, Y, *known]].astype({Y: "float64"})
    last = data.groupby(ID, sort=True)[Y].last()
    weeks = data.groupby(ID)[ID].transform("size")
    if difference:  # a differenced series needs its lags' history: the short ones take their last value
        data = data[weeks > MIN_DIFFERENCED_WEEKS]
    elif not (weeks > MIN_WEEKS).any():  # no training row would keep every lag: last values
        data = data.iloc[:0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not len(data):
            out = pd.DataFrame(columns=[ID, DS, name])
        elif known:  # known-future columns: dynamic features, read at each forecast week
            x = future[future[ID].isin(data[ID].unique())][[ID, DS, *known]]
            out = fc.fit(data, static_features=[]).predict(h, X_df=x)
        else:
            out = fc.fit(data).predict(h)
    short = last.index.difference(out[ID].unique())
    if len(short):
        idx = future_index(train.groupby(ID, sort=True)[DS].max().loc[short], h)
        fill = idx.assign(**{name: last.loc[idx[ID]].to_numpy()})
        out = fill if out.empty else pd.concat([out, fill], ignore_index=True)
    out[name] = out[name].astype("float64").clip(lower=0.0)
    return out[[ID, DS, name]]


def lightgbm_forecast(train: pd.DataFrame, h: int, *, seed: int = 0, future: pd.DataFrame | None = None) -> pd.DataFrame:
    """`unique_id, ds, lightgbm`: mlforecast's LightGBM on lags (module docstring); `future`: the
    known-future columns of the next `h` weeks (`History.future`), also in `train`."""
    return _mlforecast_lightgbm(train, h, "lightgbm", seed=seed, difference=False, future=future)


def lightgbm_diff_forecast(train: pd.DataFrame, h: int, *, seed: int = 0, future: pd.DataFrame | None = None) -> pd.DataFrame:
    """`unique_id, ds, lightgbm_diff`: the same LightGBM on the first differences (module docstring)."""
    return _mlforecast_lightgbm(train, h, "lightgbm_diff", seed=seed, difference=True, future=future)


def autoets_forecast(train: pd.DataFrame, h: int, *, seed: int = 0, future: pd.DataFrame | None = None) -> pd.DataFrame:
    """`unique_id, ds, autoets`: statsforecast's non-seasonal AutoETS (module docstring); it reads
    no covariate, so `future` is not used."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, Naive

    n_jobs = max(1, min(cpu_threads(0), train[ID].nunique() // 50 or 1))
    sf = StatsForecast(models=[AutoETS(season_length=1, alias="autoets")], freq="7D", n_jobs=n_jobs,
                       fallback_model=Naive())
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        out = sf.forecast(h=h, df=train[[ID, DS, Y]].astype({Y: "float64"}))
    out = out.reset_index() if ID not in out.columns else out
    out["autoets"] = out["autoets"].clip(lower=0.0)
    return out[[ID, DS, "autoets"]]


PEERS: dict[str, Callable[..., pd.DataFrame]] = {
    "lightgbm": lightgbm_forecast, "lightgbm_diff": lightgbm_diff_forecast, "autoets": autoets_forecast,
}
"""Peer name -> its forecast at one origin (`train`, horizon, `future=` known-future columns or None) -> `unique_id, ds, <name>`."""
PACKAGES = {"lightgbm": ("lightgbm", "mlforecast"), "lightgbm_diff": ("lightgbm", "mlforecast"),
            "autoets": ("statsforecast",)}
"""The packages each peer imports (lightgbm and mlforecast: the `bench` extra)."""


class PeerError(ValueError):
    """A peer the suite does not know, or whose package is not installed."""


def parse_peers(text: str | None) -> list[str]:
    """`--peers`: comma-separated names of `PEERS`; `none` or empty: no peer. Checked before any
    work: an unknown name, or a peer whose package is missing, fails here rather than after the
    backtests."""
    names = [n.strip() for n in (text or "").split(",") if n.strip() and n.strip() != "none"]
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        raise PeerError(f"--peers: unknown {unknown}; choose from {', '.join(PEERS)} or none")
    for name in names:
        for package in PACKAGES[name]:
            try:
                importlib.import_module(package)
            except ImportError as e:
                raise PeerError(f"--peers {name}: needs the package {package!r} ({e}); install the bench extra "
                                "(pip install -e '.[bench]', which `make venv` does) or pass --peers none") from None
    return names


def _at_origin(train: pd.DataFrame, rows: pd.DataFrame, name: str, *, cutoff: pd.Timestamp, horizon: int,
               seed: int, future: pd.DataFrame | None = None) -> tuple[pd.DataFrame, float]:
    """Peer `name` fitted on `train` (the history known at `cutoff`; `future`: its known-future
    columns over the horizon, or None), joined to that origin's scored `rows`, and its seconds."""
    t0 = time.perf_counter()
    try:
        fc = PEERS[name](train, horizon, seed=seed, future=future)
    except Exception as e:  # a tool failing on an unseen panel is a finding, not the end of the run
        log.warning("peer %s at %s failed (%s: %s): its rows are left without a forecast", name, cutoff.date(),
                    type(e).__name__, str(e).splitlines()[0][:200] if str(e) else "")
        fc = pd.DataFrame({ID: pd.Series(dtype=str), DS: pd.Series(dtype="datetime64[ns]"), name: pd.Series(dtype="float64")})
    seconds = time.perf_counter() - t0
    fc = fc.astype({ID: str})
    fc[DS] = pd.to_datetime(fc[DS])
    got = rows[[ID, DS, CUTOFF, Y]].astype({ID: str}).merge(fc, on=[ID, DS], how="left")
    missing = int(got[name].isna().sum())
    if missing:
        log.warning("peer %s at %s: %d of %d scored rows without a forecast", name, cutoff.date(), missing, len(got))
    return got, seconds


def peer_forecasts(
    history: History, eval_rows: pd.DataFrame, name: str, *, horizon: int, seed: int = 0,
) -> tuple[pd.DataFrame, float]:
    """The peer's forecasts of `eval_rows` (`unique_id, ds, cutoff, y`: the rows the backtest
    scored), fitted at each of their cutoffs on the history known there, and its seconds."""
    parts, seconds = [], 0.0
    for cutoff, rows in eval_rows.groupby(CUTOFF, sort=True):
        c = pd.Timestamp(cutoff)
        got, s = _at_origin(history.until(c), rows, name, cutoff=c, horizon=horizon, seed=seed,
                            future=history.future(c, horizon))
        parts.append(got)
        seconds += s
    return pd.concat(parts, ignore_index=True), seconds


def score_peers(
    history: History, forecasts: pd.DataFrame, series: pd.DataFrame, names: list[str], *, horizon: int, seed: int = 0,
) -> tuple[dict[str, dict[str, Any]], pd.DataFrame]:
    """Per peer: its MASE, sMAPE and WAPE over the evaluation rows of `forecasts` (the
    backtest's, `window == "eval"`), its seconds, and the blend's MASE minus its own paired by
    (series, origin) (`blend_vs`); and every peer's forecasts (`unique_id, ds, cutoff, y` + one
    column per peer). `series`: the backtest's per-series metrics (the blend's rows are read).
    Each origin's history is cut once, for its naive scale and every peer's fit."""
    rows = forecasts.loc[forecasts["window"] == "eval", [ID, DS, CUTOFF, Y]]
    rows = rows[rows[Y].notna()]
    scales, parts = [], {n: [] for n in names}
    seconds = dict.fromkeys(names, 0.0)
    for cutoff, at in rows.groupby(CUTOFF, sort=True):
        c = pd.Timestamp(cutoff)
        train, future = history.until(c), history.future(c, horizon)
        scales.append(naive_scale(train).rename("scale").reset_index().assign(**{CUTOFF: cutoff}))
        for name in names:
            log.info("peer %s at %s", name, c.date())
            got, s = _at_origin(train, at, name, cutoff=c, horizon=horizon, seed=seed, future=future)
            parts[name].append(got)
            seconds[name] += s
    scale = pd.concat(scales, ignore_index=True).astype({ID: str})
    out: dict[str, dict[str, Any]] = {}
    joined = rows.astype({ID: str})
    blend = series[series["model"] == "blend"].astype({ID: str})
    for name in names:
        fc = pd.concat(parts[name], ignore_index=True)
        per = series_metrics(fc[fc[name].notna()], name, [], scale)
        m = summarize(per)
        out[name] = {"mase": m["mase"], "smape": m["smape"], "wape": m["wape"], "seconds": round(seconds[name], 1),
                     "missing_rows": int(fc[name].isna().sum()),
                     "blend_vs": paired_difference(pd.concat([blend, per], ignore_index=True), "blend", name)}
        joined = joined.merge(fc[[ID, DS, CUTOFF, name]], on=[ID, DS, CUTOFF], how="left")
    return out, joined


__all__ = ["PEERS", "PeerError", "autoets_forecast", "lightgbm_diff_forecast", "lightgbm_forecast", "lightgbm_lags", "parse_peers", "peer_forecasts", "score_peers"]
