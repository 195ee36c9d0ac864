"""Hyperparameter search for one forecaster with Optuna, scored by the rolling-origin backtest.

Every trial backtests the model alone (no blend members, no hot sellers) and returns one
backtest metric to minimise. The search never sees the last `holdout` evaluation windows of
the config's backtest: its trials run on the history cut at the first held-out origin (every
week they forecast closes before any held-out window starts), with the remaining evaluation
windows. Once the search is done, the baseline and the best params are backtested on the
held-out windows with the whole history, and that is the figure to believe: the selection
score of the best trial is optimistic by construction (it is the minimum over the trials).

The study lives in a sqlite file (`<data_dir>/tune/optuna.db` unless told otherwise) under a
name made of the model, the metric, the held-out count and the config's hash, so running the
same command again resumes it: only the trials still missing up to `n_trials` run. The first
trial of a study is the config's own params (the baseline).

`training.tuned_config.write_tuned_config` writes a copy of the user's config with the best
params; the original file is never touched.
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from darkhorse.core.config import Config, ModelSpec
from darkhorse.core.errors import DarkHorseError
from darkhorse.core.schema import DS, WEEK
from training.backtest import build_model, plan_cutoffs, run_backtest, windows_reduced
from training.history import History, load_history
from training.models import model_class

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
_err = Console(stderr=True, highlight=False, soft_wrap=True)

BASELINE_ATTR = "baseline"

# metrics of the backtest that are losses (lower is better); coverage_80 is not one
METRICS = ("mase", "scaled_pinball", "smape", "mae", "rmse", "wape")


@dataclass(frozen=True)
class Param:
    """One hyperparameter's range: `kind` "int" or "float", bounds inclusive."""

    kind: str
    low: float
    high: float
    log: bool = False

    def suggest(self, trial: Any, name: str) -> int | float:
        if self.kind == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(name, float(self.low), float(self.high), log=self.log)


_XGB_COMMON = {
    "learning_rate": Param("float", 0.01, 0.3, log=True),
    "subsample": Param("float", 0.5, 1.0),
    "colsample_bytree": Param("float", 0.5, 1.0),
    "min_child_weight": Param("float", 1.0, 20.0, log=True),
    "reg_lambda": Param("float", 1e-3, 10.0, log=True),
    "n_lags": Param("int", 4, 16),
}

# search space per registered model name
SEARCH_SPACES: dict[str, dict[str, Param]] = {
    "xgboost": {
        "n_estimators": Param("int", 100, 600, log=True),
        "max_depth": Param("int", 3, 10),
        **_XGB_COMMON,
    },
    # one small model per item: fewer, shallower trees than the global model
    "xgboost_individual": {
        "n_estimators": Param("int", 20, 300, log=True),
        "max_depth": Param("int", 2, 6),
        **_XGB_COMMON,
    },
    "moving_average": {"window": Param("int", 2, 26)},
    "statquant": {"window": Param("int", 2, 26)},
}


class TuneError(DarkHorseError, ValueError):
    """The tuning request cannot run (unknown model or metric, a study of another kind)."""


class TuneFailed(DarkHorseError, RuntimeError):
    """No trial of the study completed."""


@dataclass
class TuneResult:
    model: str
    metric: str
    best_value: float
    best_params: dict[str, Any]
    baseline_value: float | None
    n_trials_done: int
    storage: str
    study_name: str
    # not in every caller's needs, but handy for reports
    baseline_params: dict[str, Any] = field(default_factory=dict)
    n_trials_run: int = 0
    alias: str | None = None
    best_trial: int | None = None
    # the last `holdout` evaluation windows, never seen by the search: baseline and best there
    holdout_value: float | None = None
    holdout_baseline_value: float | None = None
    holdout_cutoffs: list[str] = field(default_factory=list)
    selection_cutoffs: list[str] = field(default_factory=list)
    # why the held-out or the search's backtest runs fewer evaluation windows than asked (a short
    # panel, `backtest.short_panel: fewer_windows`); empty when each runs them all
    windows_reduced: list[str] = field(default_factory=list)


def default_storage(config: Config) -> str:
    return f"sqlite:///{config.data_dir / 'tune' / 'optuna.db'}"


def _storage_url(config: Config, storage: str | os.PathLike | None) -> str:
    if storage is None:
        url = default_storage(config)
    elif "://" in str(storage):
        url = str(storage)
    else:  # a plain path: a sqlite file
        url = f"sqlite:///{Path(storage).resolve()}"
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return url


def pick_spec(config: Config, model: str) -> ModelSpec:
    """The config's entry for `model` (an alias or a model name; enabled entries first), or a
    fresh entry with the model's defaults when the config does not list it."""
    specs = sorted(config.forecast.models, key=lambda s: not s.enabled)
    for match in (lambda s: s.alias == model, lambda s: s.model == model):
        for s in specs:
            if match(s):
                return s
    return ModelSpec(model=model)


def search_space(model: str) -> dict[str, Param]:
    if model not in SEARCH_SPACES:
        raise TuneError(
            f"cannot tune model {model!r}: no search space for it; tunable models: "
            f"{', '.join(sorted(SEARCH_SPACES))}"
        )
    return SEARCH_SPACES[model]


def _check_request(config: Config, model: str, metric: str) -> ModelSpec:
    if metric not in METRICS:
        hint = " (coverage is not a loss to minimise)" if metric.startswith("coverage") else ""
        raise TuneError(f"unknown metric {metric!r}{hint}; choose one of {', '.join(METRICS)}")
    spec = pick_spec(config, model)
    try:
        model_class(spec.model)
    except KeyError as e:
        raise TuneError(
            f"unknown model {model!r}; tunable models: {', '.join(sorted(SEARCH_SPACES))}"
        ) from e
    search_space(spec.model)
    return spec


def _baseline_params(spec: ModelSpec, space: dict[str, Param]) -> dict[str, Any]:
    """The config's value of every searched param (the model's default where it gives none)."""
    defaults = model_class(spec.model).Settings.model_fields
    out = {}
    for name in space:
        if name in spec.params:
            out[name] = spec.params[name]
        elif name in defaults:
            out[name] = defaults[name].default
    return out


def tune(
    config: Config,
    *,
    model: str = "xgboost",
    n_trials: int = 20,
    metric: str = "mase",
    storage: str | os.PathLike | None = None,
    study_name: str | None = None,
    history: History | None = None,
    timeout: float | None = None,
    show_progress: bool = True,
    space: dict[str, Param] | None = None,
    holdout: int = 1,
) -> TuneResult:
    """Search `model`'s hyperparameters for the lowest backtest `metric` on the evaluation
    windows before the last `holdout` ones, then score the baseline and the best on those held
    out; resumable.

    `space` replaces the model's search space (`SEARCH_SPACES[model]`) for this call.
    Raises `TuneError` for an unknown model or metric, before any data is read.
    """
    import optuna

    if n_trials < 1:
        raise TuneError(f"n_trials must be at least 1, got {n_trials}")
    spec = _check_request(config, model, metric)
    space = dict(space) if space is not None else search_space(spec.model)
    horizon = config.panel.horizon_weeks
    build_model(spec)  # the config's own params must be valid

    if holdout < 1:
        raise TuneError(f"holdout must be at least 1 window, got {holdout}")
    url = _storage_url(config, storage)
    name = study_name or f"{model}-{metric}-h{holdout}-{config.config_hash()}"
    history = history or load_history(config)
    held_config, sel_config, sel_history, held_cutoffs, sel_cutoffs = split(config, history, horizon, holdout)

    say = _err.print if show_progress else (lambda *a, **k: None)
    reduced = [f"{what}: {why}" for what, why in (
        ("the held-out backtest", windows_reduced(history, held_config, [(c, "eval") for c in held_cutoffs])),
        ("the search's backtest (the weeks before the held-out windows)",
         windows_reduced(sel_history, sel_config, [(c, "eval") for c in sel_cutoffs])),
    ) if why]
    for line in reduced:
        log.warning("tune: fewer evaluation windows than asked in %s", line)
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(
            study_name=name, storage=url, direction="minimize", load_if_exists=True
        )
        attrs = study.user_attrs
        if not attrs:
            study.set_user_attr("model", spec.model)
            study.set_user_attr("alias", spec.name)
            study.set_user_attr("metric", metric)
            study.set_user_attr("config_hash", config.config_hash())
            study.set_user_attr("data_snapshot", history.data_snapshot)
        elif (attrs.get("model"), attrs.get("alias"), attrs.get("metric")) != (spec.model, spec.name, metric):
            raise TuneError(
                f"study {name!r} in {url} tunes {attrs.get('alias')} ({attrs.get('model')}) for "
                f"{attrs.get('metric')}, not {spec.name} ({spec.model}) for {metric}; give "
                "another study name"
            )
        elif attrs.get("data_snapshot") != history.data_snapshot:
            log.warning(
                "study %r was started on data snapshot %r, the history now is %r: old and new "
                "trials are mixed", name, attrs.get("data_snapshot"), history.data_snapshot,
            )

        S = optuna.trial.TrialState
        trials = study.get_trials(deepcopy=False)
        done = [t for t in trials if t.state in (S.COMPLETE, S.PRUNED)]
        missing = n_trials - len(done)
        base = _baseline_params(spec, space)
        has_baseline = any(
            t.user_attrs.get(BASELINE_ATTR) and t.state in (S.COMPLETE, S.PRUNED, S.WAITING)
            for t in trials
        )
        # a new seed per resumption, or the random start-up trials would repeat the first ones
        study.sampler = optuna.samplers.TPESampler(seed=config.training.seed + len(trials))
        if missing <= 0:
            say(
                f"study {name} already has {len(done)} finished trials (asked for {n_trials}): "
                "nothing to run; raise the number of trials to search further"
            )
        else:
            if not has_baseline:
                study.enqueue_trial(base, user_attrs={BASELINE_ATTR: True})
            if done:
                say(f"resuming study {name}: {len(done)} trials done, running {missing} more")
            else:
                say(f"study {name} ({url}): running {missing} trials of {spec.name}, minimising {metric}")
            objective = _objective(sel_config, spec, space, metric, sel_history)
            counter = {"i": len(done)}

            def report(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
                counter["i"] += 1
                tag = " (baseline)" if trial.user_attrs.get(BASELINE_ATTR) else ""
                secs = trial.duration.total_seconds() if trial.duration else 0.0
                if trial.state == S.COMPLETE:
                    best = study.best_trial
                    if "repeat_of" in trial.user_attrs:
                        tag += f" (same params as #{trial.user_attrs['repeat_of']}, not refitted)"
                    say(
                        f"trial {counter['i']}/{n_trials} #{trial.number}{tag}: {metric} {trial.value:.4f} "
                        f"[best {best.value:.4f} #{best.number}] {secs:.1f}s  {_fmt(trial.params)}"
                    )
                else:
                    why = trial.user_attrs.get("pruned", trial.state.name.lower())
                    say(f"trial {counter['i']}/{n_trials} #{trial.number}{tag}: pruned ({why}) {secs:.1f}s  {_fmt(trial.params)}")

            study.optimize(
                objective, n_trials=missing, timeout=timeout, callbacks=[report],
                catch=(), show_progress_bar=False, gc_after_trial=False,
            )
        result = _result(study, spec, metric, url, n_trials_run=max(len(_finished(study)) - len(done), 0))
    finally:
        optuna.logging.set_verbosity(previous)
    result.selection_cutoffs = [str(c.date()) for c in sel_cutoffs]
    result.holdout_cutoffs = [str(c.date()) for c in held_cutoffs]
    result.windows_reduced = reduced
    result.holdout_baseline_value = holdout_score(held_config, history, spec, result.baseline_params, metric)
    result.holdout_value = (
        result.holdout_baseline_value if result.best_params == result.baseline_params
        else holdout_score(held_config, history, spec, result.best_params, metric)
    )
    say(
        f"held-out windows {', '.join(result.holdout_cutoffs)} (never seen by the search): {metric} "
        f"baseline {format_number(result.holdout_baseline_value)}, best {format_number(result.holdout_value)}"
    )
    return result


def split(
    config: Config, history: History, horizon: int, holdout: int
) -> tuple[Config, Config, History, list[pd.Timestamp], list[pd.Timestamp]]:
    """The held-out backtest (the config's last `holdout` evaluation windows, whole history) and
    the search's backtest (the history cut at the first held-out origin, the evaluation windows
    left; at least one), with the evaluation origins each plans."""
    bt = config.backtest
    held = config.model_copy(update={"backtest": bt.model_copy(update={"n_windows": holdout})})
    held_cutoffs = [c for c, r in plan_cutoffs(history, held, horizon) if r == "eval"]
    first = min(held_cutoffs)
    cut = replace(history, frame=history.frame[history.frame[DS] <= first].reset_index(drop=True), last_week=first)
    sel = config.model_copy(update={"backtest": bt.model_copy(update={"n_windows": max(bt.n_windows - holdout, 1)})})
    try:
        sel_cutoffs = [c for c, r in plan_cutoffs(cut, sel, horizon) if r == "eval"]
    except Exception as e:
        raise TuneError(
            f"too little data to hold out {holdout} window(s) ending {first.date()} and tune on the "
            f"weeks before them: {e}"
        ) from e
    if max(sel_cutoffs) + WEEK * horizon > first:  # every week the search scores must precede the held-out windows
        raise TuneError(
            f"the search's last window (origin {max(sel_cutoffs).date()}, {horizon} weeks) reaches into the "
            f"held-out windows starting {first.date()}: hold out fewer windows or use a shorter horizon"
        )
    return held, sel, cut, held_cutoffs, sel_cutoffs


def holdout_score(config: Config, history: History, spec: ModelSpec, params: dict[str, Any], metric: str) -> float | None:
    """`metric` of `spec` with `params` on the held-out windows (`config` plans only those)."""
    trial_spec = spec.model_copy(update={"params": dict(params), "enabled": True})
    try:
        result = run_backtest(config, history=history, specs=[trial_spec], with_hot_sellers=False,
                              report=False, show_progress=False, warn_reduced=False)
    except ValueError as e:
        log.warning("held-out backtest of %s failed: %s", params, e)
        return None
    value = result.metrics["models"][trial_spec.name].get(metric)
    return float(value) if value is not None and math.isfinite(value) else None


def _objective(config: Config, spec: ModelSpec, space: dict[str, Param], metric: str, history: History):
    import optuna

    def objective(trial: optuna.Trial) -> float:
        with warnings.catch_warnings():
            # the baseline may lie outside the search space (the config's own values): fine
            warnings.filterwarnings("ignore", message="Fixed parameter", category=UserWarning)
            suggested = {n: p.suggest(trial, n) for n, p in space.items()}
        same = next(
            (t for t in trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
             if t.params == suggested),
            None,
        )
        if same is not None:  # small discrete spaces repeat themselves: do not refit
            trial.set_user_attr("repeat_of", same.number)
            if "metrics" in same.user_attrs:
                trial.set_user_attr("metrics", same.user_attrs["metrics"])
            return float(same.value)
        params = {**spec.params, **suggested}
        trial_spec = spec.model_copy(update={"params": params, "enabled": True})
        t0 = time.perf_counter()
        try:
            result = run_backtest(  # `tune` has said once whether this plan holds fewer windows
                config, history=history, specs=[trial_spec], with_hot_sellers=False,
                report=False, show_progress=False, warn_reduced=False,
            )
        except ValueError as e:  # a model that cannot fit these params or this data
            trial.set_user_attr("pruned", str(e)[:300])
            raise optuna.TrialPruned(str(e)) from None
        m = result.metrics["models"][trial_spec.name]
        value = m.get(metric)
        if value is None or not math.isfinite(value):
            trial.set_user_attr("pruned", f"{metric} is undefined on this data")
            raise optuna.TrialPruned(f"{metric} is undefined")
        trial.set_user_attr("metrics", {k: v for k, v in m.items() if isinstance(v, int | float)})
        trial.set_user_attr("seconds", round(time.perf_counter() - t0, 2))
        return float(value)

    return objective


def _finished(study) -> list:
    import optuna

    S = optuna.trial.TrialState
    return [t for t in study.get_trials(deepcopy=False) if t.state in (S.COMPLETE, S.PRUNED)]


def _result(study, spec: ModelSpec, metric: str, url: str, *, n_trials_run: int) -> TuneResult:
    import optuna

    complete = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise TuneFailed(
            f"no trial of study {study.study_name!r} completed (all pruned or failed); see the "
            "trial lines above for why"
        )
    best = min(complete, key=lambda t: t.value)
    baseline = next((t for t in complete if t.user_attrs.get(BASELINE_ATTR)), None)
    return TuneResult(
        model=spec.model,
        metric=metric,
        best_value=float(best.value),
        best_params={**spec.params, **best.params},
        baseline_value=None if baseline is None else float(baseline.value),
        n_trials_done=len(_finished(study)),
        storage=url,
        study_name=study.study_name,
        baseline_params={**spec.params, **baseline.params} if baseline is not None else dict(spec.params),
        n_trials_run=n_trials_run,
        alias=spec.alias,
        best_trial=best.number,
    )


def _fmt(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={format_number(v)}" for k, v in params.items())


def format_number(v: Any) -> str:
    """A parameter or score as the tuner prints it: floats to 4 significant digits."""
    return f"{v:.4g}" if isinstance(v, float) else str(v)
