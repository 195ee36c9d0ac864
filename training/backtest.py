"""The one rolling-origin backtest every model goes through.

Origins ("cutoffs") step back from the data's last week that still has a full horizon of
actuals: the last `n_windows` are evaluation windows, the `warmup_windows` before them only
feed the blend and the hot-seller ranking, and the `blend_warmup_windows` before those only
feed the blend (hot-seller scores there as `backtest.score_blend_warmup` says, and the
hot-seller classifier never learns from their forecasts: `classifier_forecasts`). At each cutoff every model is fitted on the history known at that week's close
(`History.until`, from the point-in-time training set) and forecasts the next `horizon` weeks;
the blend's weights come from the members' forecasts at earlier cutoffs for weeks already past
this cutoff; hot-seller scores use labels already known at the cutoff. Nothing after a cutoff
reaches its window.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from darkhorse.core.config import Config, ModelSpec
from darkhorse.core.errors import DarkHorseError
from darkhorse.core.schema import CUTOFF, DS, ID, WEEK, Y, forecast_columns, quantile_columns
from training import hot_sellers as hs
from training.blend.model import Blend, subset_blend
from training.decisions import replay as decision_replay
from training.history import History, load_history
from training.hot_sellers.features import first_seasoned_week
from training.lags import PastFeatures
from training.metrics import (
    FORECAST_METRICS,
    coverage_by_bucket,
    naive_scale,
    paired_difference,
    ranking_metrics,
    series_metrics,
    summarize,
)
from training.models import create, model_class
from training.models.base import Forecaster
from training.progress import progress_bar

log = logging.getLogger(__name__)

BLEND = "blend"
REFERENCE = "seasonal_naive"
# the blend's forecasts carry these levels too, so the backtest measures its 98% interval
WIDE_INTERVAL = (0.01, 0.99)


class BacktestError(DarkHorseError, RuntimeError):
    pass


@dataclass
class BacktestResult:
    forecasts: pd.DataFrame
    series_metrics: pd.DataFrame
    metrics: dict[str, Any]
    hot_sellers: pd.DataFrame
    blend_weights: pd.DataFrame
    feature_importance: pd.DataFrame
    cutoffs: list[tuple[pd.Timestamp, str]]
    models: list[str]
    fitted: dict[str, Forecaster] = field(default_factory=dict)


def build_model(spec: ModelSpec, *, seed: int = 0, marts_dir: Path | None = None) -> Forecaster:
    """The member of `spec`, unfitted (the horizon reaches it as data: `fit(df, horizon=H)`);
    a member that reads marts (`marts_dir` setting) gets the config's."""
    cls = model_class(spec.model)
    params = dict(spec.params)
    if "seed" in cls.Settings.model_fields and "seed" not in params:
        params["seed"] = seed
    if "marts_dir" in cls.Settings.model_fields and "marts_dir" not in params and marts_dir is not None:
        params["marts_dir"] = str(marts_dir)
    return create(spec.model, alias=spec.name, **params)


def panel_members(specs: list[ModelSpec], history: History) -> tuple[list[ModelSpec], dict[str, str]]:
    """The members this panel fits, and why each other one sits out: a member with
    `min_history_weeks` is fitted only on a panel whose history spans that many weeks. The
    backtest and the final fit read the same whole panel, so the release holds exactly the
    members the backtest measured."""
    kept, out = [], {}
    for s in specs:
        if s.min_history_weeks is not None and history.n_weeks < s.min_history_weeks:
            out[s.name] = f"the panel spans {history.n_weeks} weeks, under its min_history_weeks {s.min_history_weeks}"
        else:
            kept.append(s)
    if not kept:
        raise BacktestError(f"no member can be fitted on this panel: {'; '.join(f'{k}: {v}' for k, v in out.items())}")
    if not any(s.blend for s in kept):
        raise BacktestError("no member this panel fits feeds the blend: "
                            f"{'; '.join(f'{k}: {v}' for k, v in out.items())}")
    return kept, out


def blended(specs: list[ModelSpec], fitted: dict[str, Forecaster]) -> tuple[list[ModelSpec], dict[str, Forecaster]]:
    """The members the blend weighs (`ModelSpec.blend`) and their fitted models: the backtest
    and the final fit build the blend from exactly these."""
    kept = [s for s in specs if s.blend]
    return kept, {s.name: fitted[s.name] for s in kept}


BLEND_ONLY = "blend_warmup"
"""The role of the origins that train the blend only."""


def classifier_forecasts(forecasts: pd.DataFrame) -> pd.DataFrame:
    """The earlier origins' forecasts the hot-seller classifier learns its forecast-derived
    features from, in the backtest and at the final fit alike: every origin's but the blend-only
    ones'. Measured on the accuracy suite: reading those too (nine origins instead of five)
    lowered the final ranking's AP at the evaluation origins on all five default panels, by
    0.001 to 0.023 (docs/accuracy-decisions.md)."""
    return forecasts[forecasts["window"] != BLEND_ONLY]


def scores_hot_sellers(config: Config, history: History, cutoff: pd.Timestamp, role: str) -> bool:
    """Whether the hot sellers are scored at this origin: every warm-up and evaluation origin; a
    blend-only one as `backtest.score_blend_warmup` says (`season`: when the panel's history before
    it holds `hot_sellers.season_length` weeks)."""
    if role != BLEND_ONLY:
        return True
    mode = config.backtest.score_blend_warmup
    if mode == "season":
        return cutoff >= first_seasoned_week(history.first_week, config.hot_sellers.season_length)
    return bool(mode)


def plan_cutoffs(history: History, config: Config, horizon: int) -> list[tuple[pd.Timestamp, str]]:
    """The origins and their roles, earliest first. Origins before `min_train_weeks` of history are
    dropped (warm-up ones first, as they lie earliest); a panel that cannot hold `n_windows`
    evaluation windows runs those it holds under `backtest.short_panel: fewer_windows` (see
    `windows_reduced`), and is refused otherwise or when it cannot hold one."""
    bt = config.backtest
    last = history.last_week - WEEK * horizon
    total = bt.n_windows + bt.warmup_windows + bt.blend_warmup_windows
    cutoffs = [last - WEEK * (bt.step_weeks * i) for i in range(total)][::-1]
    earliest = history.first_week + WEEK * (bt.min_train_weeks - 1)
    roles = [BLEND_ONLY] * bt.blend_warmup_windows + ["warmup"] * bt.warmup_windows + ["eval"] * bt.n_windows
    kept = [(c, r) for c, r in zip(cutoffs, roles, strict=True) if c >= earliest]
    n_eval = sum(r == "eval" for _, r in kept)
    if n_eval == 0 or (n_eval < bt.n_windows and bt.short_panel == "refuse"):
        weeks = history.n_weeks
        one = bt.min_train_weeks + horizon  # the fewest weeks one evaluation window needs
        hint = (
            "lower backtest.n_windows or step_weeks, or set backtest.short_panel: fewer_windows" if weeks >= one else
            f"one window needs {one} weeks: lower panel.horizon_weeks or backtest.min_train_weeks, or bring more weeks"
        )
        raise BacktestError(
            f"the data has {weeks} weeks: too few for {bt.n_windows} evaluation windows "
            f"{bt.step_weeks} weeks apart with a {horizon}-week horizon and "
            f"{bt.min_train_weeks} training weeks ({hint})"
        )
    return kept


def windows_reduced(history: History, config: Config, cutoffs: list[tuple[pd.Timestamp, str]]) -> str | None:
    """Why the backtest runs fewer evaluation windows than `backtest.n_windows`, or None when it runs
    them all (metrics.json `windows_reduced`, the log and the report say it)."""
    bt = config.backtest
    n_eval = sum(r == "eval" for _, r in cutoffs)
    if n_eval >= bt.n_windows:
        return None
    return (f"the panel spans {history.n_weeks} weeks: it holds {n_eval} of the {bt.n_windows} evaluation "
            f"windows {bt.step_weeks} weeks apart with a {config.panel.horizon_weeks}-week horizon and "
            f"{bt.min_train_weeks} training weeks, and no warm-up origin (backtest.short_panel: fewer_windows)")


def _actuals(history: History, cutoff: pd.Timestamp, horizon: int) -> pd.DataFrame:
    f = history.frame
    m = (f[DS] > cutoff) & (f[DS] <= cutoff + WEEK * horizon)
    return f.loc[m, [ID, DS, Y]]


def run_backtest(
    config: Config,
    *,
    history: History | None = None,
    specs: list[ModelSpec] | None = None,
    out_dir: Path | None = None,
    with_hot_sellers: bool = True,
    report: bool = True,
    show_progress: bool = True,
    warn_reduced: bool = True,
) -> BacktestResult:
    """Backtest the configured models and their blend; write outputs to `out_dir` if given.
    `warn_reduced`: log a warning when the panel holds fewer evaluation windows than asked (a caller
    that runs the same plan many times, the tuner's trials, says it once itself); metrics.json
    records it either way."""
    horizon = config.panel.horizon_weeks
    quantiles = list(config.forecast.quantiles)
    specs = specs if specs is not None else config.forecast.enabled()
    if BLEND in [s.name for s in specs]:
        raise BacktestError("'blend' is reserved for the ensemble; give that model another alias")
    for s in specs:  # fail on bad params before any work
        build_model(s)
    history = history or load_history(config)
    specs, left_out = panel_members(specs, history)
    for name, why in left_out.items():  # once per run: the final fit reads the same panel
        log.info("member %s sits out: %s", name, why)
    names = [s.name for s in specs]
    cutoffs = plan_cutoffs(history, config, horizon)
    reduced = windows_reduced(history, config, cutoffs)
    if reduced and warn_reduced:
        log.warning("backtest: %s", reduced)
    timings: dict[str, float] = {n: 0.0 for n in [*names, BLEND, "hot_sellers"]}
    frames, scores, weights, importance = [], [], [], []
    classifier_frames = []  # each origin's forecasts as the hot-seller classifier reads them, filtered once
    model_info: dict[str, dict[str, Any]] = {}
    scale_rows = []
    fitted: dict[str, Forecaster] = {}
    stored: list[tuple[pd.DataFrame, pd.DataFrame]] = []  # eval windows: (validation, member forecasts)
    shrinkage: list[float | None] = []  # the blend's shrinkage per cutoff (chosen on the data)
    wide: list[pd.DataFrame] = []  # the blend's levels beyond the configured ones
    choices: list[dict[str, Any]] = []  # what the blend chose at each cutoff, on held-out cutoffs
    past_source = PastFeatures(history.frame)  # the classifier's past features, once for every origin
    with progress_bar(show_progress) as bar:
        task = bar.add_task("backtest", total=len(cutoffs) * (len(specs) + 2))
        for cutoff, role in cutoffs:
            train = history.until(cutoff)
            sc = naive_scale(train).rename("scale").reset_index()
            sc[CUTOFF] = cutoff
            scale_rows.append(sc)
            joined = None
            fitted = {}
            for spec in specs:
                bar.update(task, description=f"{cutoff.date()} {spec.name}")
                t0 = time.perf_counter()
                model = build_model(spec, seed=config.training.seed, marts_dir=config.marts_dir).fit(
                    train, horizon=horizon, future=history.future(cutoff, horizon), groups=history.groups
                )
                fc = model.predict(h=horizon, quantiles=quantiles)
                timings[spec.name] += time.perf_counter() - t0
                fitted[spec.name] = model
                info = getattr(model, "fit_info_", None)
                if info:  # what the model chose / how it trained (AutoTS's model, epochs, fallbacks)
                    model_info.setdefault(spec.name, {})[str(cutoff.date())] = info
                imp = getattr(model, "feature_importance_", None)
                if imp is not None:
                    importance.append(pd.DataFrame({"model": spec.name, CUTOFF: cutoff, "feature": imp.index, "importance": imp.to_numpy()}))
                joined = fc if joined is None else joined.merge(fc, on=[ID, DS], how="outer")
                bar.advance(task)
            bar.update(task, description=f"{cutoff.date()} blend")
            t0 = time.perf_counter()
            validation = _validation(frames, cutoff, names, quantiles).merge(sc[[ID, "scale"]], on=ID, how="left")
            in_blend, members = blended(specs, fitted)
            blend = Blend.from_members(members, validation, **_blend_params(config, in_blend))
            bfc = blend.predict(h=horizon, quantiles=sorted({*quantiles, *WIDE_INTERVAL}))
            timings[BLEND] += time.perf_counter() - t0
            # the wide levels join the forecasts at the end: hot sellers read the configured ones
            extra = quantile_columns(BLEND, [q for q in WIDE_INTERVAL if q not in quantiles])
            wide.append(bfc[[ID, DS, *extra]].assign(**{CUTOFF: cutoff}))
            bfc = bfc.drop(columns=extra)
            shrinkage.append(blend.shrinkage_)
            choices.append({"cutoff": str(cutoff.date()), **choice_record(blend)})
            w = blend.weights_.copy()
            w[CUTOFF] = cutoff
            weights.append(w)
            joined = joined.merge(bfc, on=[ID, DS], how="left")
            joined.insert(2, CUTOFF, cutoff)
            joined.insert(3, "window", role)
            joined = joined.merge(_actuals(history, cutoff, horizon), on=[ID, DS], how="left")
            if with_hot_sellers:
                t0 = time.perf_counter()
                joined = hs.with_growth_blend(joined, validation, specs, quantiles, _weight_params(config))
                timings["hot_sellers"] += time.perf_counter() - t0
            if role == "eval":
                stored.append((validation, joined))
            frames.append(joined)
            if with_hot_sellers:
                classifier_frames.append(classifier_forecasts(joined))
            bar.advance(task)
            if with_hot_sellers and scores_hot_sellers(config, history, cutoff, role):
                bar.update(task, description=f"{cutoff.date()} hot sellers")
                t0 = time.perf_counter()
                s, clf = hs.score_origin(
                    train, joined, history.labels, cutoff=cutoff, covariates=history.covariates,
                    settings=hs.Settings.from_config(config), earlier_scores=scores,
                    earlier_forecasts=classifier_frames[:-1], past_source=past_source, groups=history.groups,
                )
                timings["hot_sellers"] += time.perf_counter() - t0
                model_info.setdefault("hot_sellers", {})[str(cutoff.date())] = s.attrs["choice"]
                scores.append(s)
                if clf is not None and getattr(clf, "feature_importance_", None) is not None:
                    imp = clf.feature_importance_
                    importance.append(pd.DataFrame({"model": "classifier", CUTOFF: cutoff, "feature": imp.index, "importance": imp.to_numpy()}))
            bar.advance(task)
    forecasts = pd.concat(frames, ignore_index=True).merge(pd.concat(wide, ignore_index=True), on=[ID, DS, CUTOFF], how="left")
    cols = [ID, DS, CUTOFF, "window", Y] + [c for c in forecasts.columns if c not in (ID, DS, CUTOFF, "window", Y)]
    forecasts = forecasts[cols].sort_values([CUTOFF, ID, DS], kind="stable").reset_index(drop=True)
    scale = pd.concat(scale_rows, ignore_index=True)
    evalf = forecasts[forecasts["window"] == "eval"]
    per_series = pd.concat(
        [series_metrics(evalf, m, quantiles, scale) for m in [*names, BLEND]], ignore_index=True
    )
    models_metrics = {m: summarize(per_series[per_series["model"] == m]) for m in [*names, BLEND]}
    hot = hot_seller_frame(scores, history) if with_hot_sellers else pd.DataFrame(columns=[ID, CUTOFF, "model", "score", "label"])
    eval_cutoffs = {c for c, r in cutoffs if r == "eval"}
    hot_eval = hot[hot[CUTOFF].isin(eval_cutoffs)]
    metrics: dict[str, Any] = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config_hash": config.config_hash(),
        "data_snapshot": history.data_snapshot,
        "horizon": horizon,
        "quantiles": quantiles,
        "windows": [{"cutoff": str(c.date()), "role": r} for c, r in cutoffs],
        "windows_reduced": reduced,
        "n_series": int(history.frame[ID].nunique()),
        "models": models_metrics,
        # enabled members this panel does not fit (`min_history_weeks`), with the reason
        "members_left_out": left_out,
        "ratios_vs": {REFERENCE: _ratios(models_metrics, REFERENCE)} if REFERENCE in models_metrics else {},
        "hot_sellers": ranking_metrics(hot_eval, fraction=1 - config.panel.hot_seller_quantile) if len(hot_eval) else {},
        "hot_seller_fraction": round(1 - config.panel.hot_seller_quantile, 6),
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "contributions": contributions(stored, specs, quantiles, scale, config, models_metrics, timings),
        "blend_vs_best": blend_vs_best(per_series, models_metrics, names),
        "blend_shrinkage": shrinkage,
        "blend_choice": choices,
        "coverage_by_bucket": {
            m: coverage_by_bucket(evalf, m, [*quantiles, *(WIDE_INTERVAL if m == BLEND else ())],
                                  config.blend.horizon_buckets)
            for m in [*names, BLEND]
        },
        "model_info": model_info,
    }
    metrics["decisions"] = decision_replay(forecasts, [*names, BLEND], sorted(eval_cutoffs))
    result = BacktestResult(
        forecasts=forecasts,
        series_metrics=per_series[[ID, CUTOFF, "model", "smape", "mae", "rmse", "mase", "wape", "scaled_pinball", "coverage_80"]],
        metrics=metrics,
        hot_sellers=hot,
        blend_weights=_weights_long(weights),
        feature_importance=_importance(importance),
        cutoffs=cutoffs,
        models=[*names, BLEND],
        fitted=fitted,
    )
    if out_dir is not None:
        write_outputs(result, Path(out_dir), report=report)
    return result


def choice_record(blend: Blend) -> dict[str, Any]:
    """What a fitted blend chose on its held-out cutoffs (metrics.json `blend_choice[]`, and
    `release.blend` for the released one)."""
    return {"choice": str(blend.choice_), "heldout_loss": blend.heldout_loss_,
            "conformal": getattr(blend, "conformal_", None) is not None, "intervals": getattr(blend, "intervals_", None),
            "interval_loss": getattr(blend, "interval_loss_", {}), "point_factor": blend.point_factor_,
            "point_checks": blend.point_checks_}


def _blend_params(config: Config, specs: list[ModelSpec]) -> dict[str, Any]:
    """The blend's settings from the config (its horizon is its members')."""
    return {"members": [{"model": s.model, "alias": s.name, "params": dict(s.params)} for s in specs],
            **config.blend.model_dump(), "step_weeks": config.backtest.step_weeks}


def _weight_params(config: Config) -> dict[str, Any]:
    b = config.blend
    return {"grid_step": b.grid_step, "min_points": b.min_points, "shrinkage": b.shrinkage,
            "objective": b.objective, "horizon_buckets": list(b.horizon_buckets), "origin_decay": b.origin_decay,
            "horizon_weights": b.horizon_weights, "without_evidence": b.without_evidence}


def _validation(frames: list[pd.DataFrame], cutoff: pd.Timestamp, names: list[str], quantiles: list[float]) -> pd.DataFrame:
    """Earlier windows' member forecasts for weeks already closed at `cutoff`."""
    cols = [c for n in names for c in forecast_columns(n, quantiles)]
    if not frames:
        return pd.DataFrame(columns=[ID, CUTOFF, DS, Y, *cols])
    prev = pd.concat([f[[ID, CUTOFF, DS, Y, *cols]] for f in frames], ignore_index=True)
    return prev[(prev[DS] <= cutoff) & prev[Y].notna()].reset_index(drop=True)


def contributions(
    stored: list[tuple[pd.DataFrame, pd.DataFrame]], specs: list[ModelSpec], quantiles: list[float],
    scale: pd.DataFrame, config: Config, models_metrics: dict[str, dict[str, Any]], timings: dict[str, float],
) -> dict[str, dict[str, Any]]:
    """Each member's worth to the blend over the evaluation windows, weights and the point factor
    re-learned from the same stored validation forecasts, nothing refitted. A member the blend
    weighs: the blend's MASE with it left out (`mase_without`). A member kept out of it
    (`ModelSpec.blend` false, `in_blend` false): the blend's MASE with it added (`mase_with`).
    Either way `delta` is the blend without the member minus with it (positive = the member
    helps, or would), next to its seconds."""
    actual = models_metrics.get(BLEND, {}).get("mase")
    inside = [s.name for s in specs if s.blend]
    out: dict[str, dict[str, Any]] = {}
    if not stored:
        return out
    params = _weight_params(config)
    for s in specs:
        m = s.name
        members = [n for n in inside if n != m] if s.blend else [*inside, m]
        if not members:
            continue
        parts = [subset_blend(validation, joined, members, quantiles, name="other", factor=config.blend.point_factor, **params)
                 for validation, joined in stored]
        fc = pd.concat(parts, ignore_index=True)
        mase = summarize(series_metrics(fc[fc[Y].notna()], "other", quantiles, scale))["mase"]
        without, with_it = (mase, actual) if s.blend else (actual, mase)
        out[m] = {
            "in_blend": s.blend,
            ("mase_without" if s.blend else "mase_with"): mase,
            "delta": (without - with_it) if (without is not None and with_it is not None) else None,
            "seconds": round(timings.get(m, 0.0), 2),
        }
    return out


def other_blend_mase(record: dict[str, Any]) -> tuple[float | None, bool]:
    """The blend MASE a `contributions` record sets against the run's blend, and whether the
    member is in the blend: without it (True), or, for a member kept out, with it added (False)."""
    inside = bool(record.get("in_blend", True))
    return record.get("mase_without" if inside else "mase_with"), inside


def blend_vs_best(
    per_series: pd.DataFrame, models_metrics: dict[str, dict[str, Any]], names: list[str]
) -> dict[str, Any] | None:
    """The blend's MASE minus its best member's over the evaluation windows, with the standard
    error of that paired difference (clustered by series): a difference within about two
    standard errors is a tie, not a win or a loss."""
    ranked = [m for m in names if models_metrics.get(m, {}).get("mase") is not None]
    if not ranked or models_metrics.get(BLEND, {}).get("mase") is None:
        return None
    best = min(ranked, key=lambda m: models_metrics[m]["mase"])
    d = paired_difference(per_series, BLEND, best)
    return None if d is None else {"best": best, **d}


def _ratios(models: dict[str, dict[str, Any]], ref: str) -> dict[str, dict[str, float | None]]:
    out = {}
    base = models[ref]
    for m, v in models.items():
        out[m] = {
            k: (v[k] / base[k]) if (v.get(k) is not None and base.get(k)) else None
            for k in ("mase", "scaled_pinball", "smape", "wape")
        }
    return out


def hot_seller_frame(scores: list[pd.DataFrame], history: History) -> pd.DataFrame:
    """Each origin's scores (`score_origin`'s frames) with the label of their item at that
    origin: `unique_id, cutoff, model, score, label` (label missing where none is known)."""
    s = pd.concat(scores, ignore_index=True)
    lab = history.labels[[ID, DS, "label"]].rename(columns={DS: CUTOFF})
    out = s.merge(lab, on=[ID, CUTOFF], how="left")
    return out[[ID, CUTOFF, "model", "score", "label"]]


def _weights_long(weights: list[pd.DataFrame]) -> pd.DataFrame:
    weights = [w for w in weights if len(w)]
    if not weights:
        return pd.DataFrame(columns=[ID, CUTOFF, "bucket", "model", "weight", "source", "n_points"])
    w = pd.concat(weights, ignore_index=True)
    long = w.melt(id_vars=[ID, CUTOFF, "bucket", "n_points", "source"], var_name="model", value_name="weight")
    return long[[ID, CUTOFF, "bucket", "model", "weight", "source", "n_points"]]


def _importance(parts: list[pd.DataFrame]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame(columns=["model", "feature", "importance"])
    imp = pd.concat(parts, ignore_index=True)
    imp = imp.groupby(["model", "feature"], as_index=False)["importance"].mean()
    imp["importance"] = imp["importance"] / imp.groupby("model")["importance"].transform("sum").replace(0, 1)
    return imp.sort_values(["model", "importance"], ascending=[True, False]).reset_index(drop=True)


def write_outputs(result: BacktestResult, out: Path, *, report: bool = True) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    result.forecasts.to_parquet(out / "forecasts.parquet", index=False)
    result.series_metrics.to_parquet(out / "series_metrics.parquet", index=False)
    result.hot_sellers.to_parquet(out / "hot_sellers.parquet", index=False)
    result.blend_weights.to_parquet(out / "blend_weights.parquet", index=False)
    result.feature_importance.to_parquet(out / "feature_importance.parquet", index=False)
    (out / "metrics.json").write_text(json.dumps(_jsonable(result.metrics), indent=2))
    if report:
        from training.report import write_report

        write_report(out)
    return out


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, float | np.floating):
        v = float(x)
        return v if np.isfinite(v) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


__all__ = ["BLEND_ONLY", "FORECAST_METRICS", "BacktestError", "BacktestResult", "blended", "classifier_forecasts",
           "other_blend_mase", "panel_members", "plan_cutoffs", "run_backtest", "windows_reduced"]
