"""The rolling-origin backtest of the load members and their ensemble, at the panel's grain.

Origins step back from the last interval that still has a full horizon of actuals after it:
`n_windows` of them, `every` intervals apart (by default the horizon, so the windows do not
overlap). At each origin every member is fitted on the intervals up to it only and forecasts
the next `horizon` (a day of intervals by default, as `darkhorse train` fits the load
ensemble; fewer where the series are too short for the windows to take at most half of them;
a member that cannot be fitted on the first origin's history, such as a global model on a
trace shorter than its windows, is left out and named in metrics.json `skipped_members`);
the ensemble's weights are learned at that origin on the members' held-out windows, as the
shipped `LoadEnsemble` learns them (noise groups and shrinkage alike). The origin loop is the
replay's (`replay.forecast_origins`): nothing after an origin reaches its window.

Scored with the weekly backtest's functions (`training.metrics`): MASE and scaled pinball over
the in-sample MAE of the seasonal naive of the grain's day (`naive_scale(season=...)`, the M4
guide's scaling of hourly series; the one-step naive for a series shorter than a day), 80%
coverage, sMAPE, WAPE. Each member's seconds, and its contribution: the ensemble with its
weights learned again without the member (nothing refitted), against the full ensemble.
Written as the weekly backtest writes (`training.backtest.write_outputs`: forecasts.parquet,
series_metrics.parquet, blend_weights.parquet, metrics.json, report.html), with the grain in
metrics.json (`freq`, `season_length`) for the report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from darkhorse.core.errors import DarkHorseError
from darkhorse.core.schema import CUTOFF, DS, ID, Y, quantile_columns
from training.backtest import BacktestResult, write_outputs
from training.load.blend import EnsembleSettings, MemberSpec
from training.load.frame import periods, step, validate_intervals
from training.load.members import LoadForecaster, create
from training.load.replay import Weighting, forecast_origins, without
from training.load.train import horizon as train_horizon
from training.load.train import load_panel
from training.metrics import FORECAST_METRICS, naive_scale, series_metrics, summarize

log = logging.getLogger(__name__)

ENSEMBLE = "ensemble"
OUT_SUBDIR = "load"  # a config with both sources writes the weekly backtest beside it


class LoadBacktestError(DarkHorseError, ValueError):
    """The load panel is too short for the backtest's windows; the message gives the counts."""


def default_horizon(freq: str, shortest: int, n_windows: int) -> int:
    """A day of intervals (as `darkhorse train` fits the ensemble), or fewer where the shortest
    series could not give `n_windows` non-overlapping windows from its last half."""
    return max(1, min(train_horizon(freq), shortest // (2 * n_windows)))


def plan_origins(data: pd.DataFrame, *, freq: str, horizon: int, n_windows: int, every: int) -> list[pd.Timestamp]:
    """`n_windows` origins `every` intervals apart, the last `horizon` intervals before the
    panel's end; the first leaves at least `horizon` intervals of history."""
    delta = step(freq)
    last = data[DS].max() - horizon * delta
    origins = [last - i * every * delta for i in range(n_windows)][::-1]
    history = int((origins[0] - data[DS].min()) / delta) + 1
    if history < horizon:
        total = int((data[DS].max() - data[DS].min()) / delta) + 1
        raise LoadBacktestError(
            f"the load panel has {total} intervals of {freq}: too few for {n_windows} windows "
            f"{every} intervals apart with a {horizon}-interval horizon and at least {horizon} "
            f"intervals of history (lower n_windows or the horizon)"
        )
    return origins


def member_factories(specs: Sequence[MemberSpec]) -> dict[str, Callable[[], LoadForecaster]]:
    return {s.name: (lambda s=s: create(s.model, alias=s.name, **s.params)) for s in specs}


def run_load_backtest(
    df: pd.DataFrame,
    *,
    freq: str,
    settings: EnsembleSettings | None = None,
    n_windows: int = 3,
    horizon: int | None = None,
    every: int | None = None,
    quantiles: Sequence[float] = (0.1, 0.5, 0.9),
    out_dir: Path | None = None,
    report: bool = True,
    config_hash: str | None = None,
    data_snapshot: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> BacktestResult:
    """Backtest the ensemble's members (`settings.members`, the shipped ensemble's by default)
    and the ensemble on `df` (`unique_id, ds, y` at `freq`); write outputs to `out_dir` if given."""
    if n_windows < 1:
        raise LoadBacktestError(f"n_windows must be at least 1, got {n_windows}")
    settings = settings or EnsembleSettings()
    data = validate_intervals(df, freq)
    shortest = int(data.groupby(ID, sort=False).size().min())
    h = int(horizon) if horizon is not None else default_horizon(freq, shortest, n_windows)
    k = int(every) if every is not None else h
    if h < 1 or k < 1:
        raise LoadBacktestError(f"horizon and every must be at least 1, got {h} and {k}")
    origins = plan_origins(data, freq=freq, horizon=h, n_windows=n_windows, every=k)
    members = member_factories(settings.members)
    weighting = Weighting(shrinkage=settings.shrinkage, step=settings.weight_step,
                          noise_groups=settings.noise_groups, min_group_series=settings.min_group_series)
    qs = sorted(quantiles)
    timings: dict[str, float] = {}
    skipped: dict[str, str] = {}
    fc, weight_rows = forecast_origins(
        data, freq=freq, members=members, origins=origins, horizon=h, quantiles=qs, ensemble=ENSEMBLE,
        weighting=weighting, leave_one_out=True, timings=timings, skipped=skipped, progress=progress,
    )
    for name, why in skipped.items():
        log.warning("load backtest: member %s left out: %s", name, why)
    names = [n for n in members if n not in skipped]
    fc = fc.merge(data, on=[ID, DS], how="left", validate="many_to_one")
    fc = fc[fc[Y].notna()]  # a series that ended before the panel's end has no actuals there
    season = periods(freq)["day"]
    scale = pd.concat(
        [naive_scale(data[data[DS] <= o], season=season).rename("scale").reset_index().assign(**{CUTOFF: o})
         for o in origins],
        ignore_index=True,
    )
    models = [*names, ENSEMBLE]
    loo = [without(ENSEMBLE, m) for m in names] if len(names) > 1 else []
    per_series = pd.concat([series_metrics(fc, m, qs, scale) for m in [*models, *loo]], ignore_index=True)
    summary = {m: summarize(per_series[per_series["model"] == m]) for m in [*models, *loo]}
    models_metrics = {m: summary[m] for m in models}
    metrics: dict[str, Any] = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config_hash": config_hash,
        "data_snapshot": data_snapshot,
        "freq": freq,
        "season_length": season,
        "horizon": h,
        "every": k,
        "quantiles": qs,
        "ensemble": ENSEMBLE,
        "windows": [{"cutoff": str(o), "role": "eval"} for o in origins],
        "n_series": int(data[ID].nunique()),
        "models": models_metrics,
        "skipped_members": skipped,
        "timings_s": {m: round(timings.get(m, 0.0), 2) for m in models},
        "contributions": contributions(summary, names, timings),
        "weights": [{**w, CUTOFF: str(w[CUTOFF])} for w in weight_rows],
    }
    forecasts = fc.drop(columns=[c for m in loo for c in (m, *quantile_columns(m, qs))])
    forecasts.insert(3, "window", "eval")
    cols = [ID, DS, CUTOFF, "window", Y] + [c for c in forecasts.columns if c not in (ID, DS, CUTOFF, "window", Y)]
    result = BacktestResult(
        forecasts=forecasts[cols].sort_values([CUTOFF, ID, DS], kind="stable").reset_index(drop=True),
        series_metrics=per_series.loc[per_series["model"].isin(models),
                                      [ID, CUTOFF, "model", *[c for c in FORECAST_METRICS if c in per_series]]],
        metrics=metrics,
        hot_sellers=pd.DataFrame(columns=[ID, CUTOFF, "model", "score", "label"]),
        blend_weights=_weights_long(weight_rows),
        feature_importance=pd.DataFrame(columns=["model", "feature", "importance"]),
        cutoffs=[(o, "eval") for o in origins],
        models=models,
    )
    if out_dir is not None:
        write_outputs(result, Path(out_dir), report=report)
    return result


def contributions(
    summary: dict[str, dict[str, Any]], names: list[str], timings: dict[str, float],
) -> dict[str, dict[str, float | None]]:
    """Per member: the ensemble's MASE and scaled pinball without it (weights learned again on
    the others' held-out windows at every origin), the change against the full ensemble
    (positive: the member helps), and its seconds."""
    full = summary[ENSEMBLE]

    def delta(a: float | None, b: float | None) -> float | None:
        return a - b if a is not None and b is not None else None

    out: dict[str, dict[str, float | None]] = {}
    for m in names:
        rest = summary.get(without(ENSEMBLE, m))
        if rest is None:  # a lone member has no ensemble without it
            continue
        out[m] = {
            "mase_without": rest.get("mase"),
            "delta": delta(rest.get("mase"), full.get("mase")),
            "scaled_pinball_without": rest.get("scaled_pinball"),
            "delta_pinball": delta(rest.get("scaled_pinball"), full.get("scaled_pinball")),
            "seconds": round(timings.get(m, 0.0), 2),
        }
    return out


def _weights_long(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The ensemble's weights over all series at every origin, in the weekly blend's long shape."""
    cols = [ID, CUTOFF, "bucket", "model", "weight", "source", "n_points"]
    if not rows:
        return pd.DataFrame(columns=cols)
    w = pd.DataFrame(rows).melt(id_vars=[CUTOFF], var_name="model", value_name="weight")
    w[ID] = "all series"
    w["bucket"] = "all steps"
    w["source"] = "global"
    w["n_points"] = np.nan
    return w[cols]


def backtest_config(config: Any, *, out_dir: Path | None = None, report: bool = True,
                    progress: Callable[[str], None] | None = None) -> BacktestResult:
    """`run_load_backtest` on the config's published interval panel at its grain, with its
    evaluation windows (`backtest.n_windows`), into `<out_dir>/load/` (default: the config's
    `training.out_dir`)."""
    panel = load_panel(config)
    base = Path(out_dir) if out_dir is not None else config.out_dir
    return run_load_backtest(
        panel, freq=config.load.grain, n_windows=config.backtest.n_windows,
        quantiles=list(config.forecast.quantiles), out_dir=base / OUT_SUBDIR, report=report,
        config_hash=config.config_hash(), data_snapshot=str(config.marts_dir.resolve().name), progress=progress,
    )


__all__ = ["ENSEMBLE", "LoadBacktestError", "backtest_config", "plan_origins", "run_load_backtest"]
