"""`darkhorse train`: backtest, then fit the final ensemble on all data and save it.

The final blend's weights come from every backtest window's forecasts (all weeks now known);
its members and the hot-seller classifier are refitted on the whole history. Both are saved to
the BentoML model store under one version with the run's `ReleaseManifest` as metadata (config
hash, data snapshot, nested backtest metrics). The manifest with the saved model tags is
written as `train.json` beside the backtest outputs, with the forecast of the next `horizon`
weeks and the latest hot-seller ranking; `darkhorse release` reads it from there.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from darkhorse.core.config import Config
from darkhorse.core.manifest import TRAIN_FILE, PinnedModels, ReleaseManifest
from darkhorse.core.schema import CUTOFF, DS, ID, Y, forecast_columns
from training import hot_sellers as hs
from training.backtest import (
    BLEND,
    _blend_params,
    _weight_params,
    blended,
    build_model,
    choice_record,
    classifier_forecasts,
    panel_members,
    run_backtest,
    write_outputs,
)
from training.blend.model import Blend
from training.history import History, load_history
from training.hot_sellers.whatif import WHATIF_FILE, RankingWhatIf
from training.load.train import train_load
from training.metrics import FORECAST_METRICS, naive_scale
from training.periods import path_bank
from training.progress import progress_bar

log = logging.getLogger(__name__)

@dataclass
class TrainResult:
    """The run's manifest (version, saved model tags, backtest metrics), its output folder, the
    backtest's metrics.json, and the next `horizon` weeks' forecast and hot-seller ranking."""

    manifest: ReleaseManifest
    out_dir: Path
    metrics: dict[str, Any]
    forecast: pd.DataFrame
    ranking: pd.DataFrame


def release_version(config: Config) -> str:
    return f"{datetime.now(UTC):%Y%m%d%H%M%S}-{config.config_hash()[:8]}"


def fit_final(
    config: Config, history: History, forecasts: pd.DataFrame, *, show_progress: bool = True,
    hot_sellers: pd.DataFrame | None = None,
):
    """Members and classifier fitted on all history; blend weights from every backtest window;
    the hot-seller classifier and final combination also learn from the backtest's forecasts
    and hot-seller scores (`hot_sellers`) at its origins."""
    horizon = config.panel.horizon_weeks
    specs, _ = panel_members(config.forecast.enabled(), history)
    names = [s.name for s in specs]
    fitted = {}
    with progress_bar(show_progress) as bar:
        task = bar.add_task("final fit", total=len(specs) + 1)
        for spec in specs:
            bar.update(task, description=f"final fit {spec.name}")
            fitted[spec.name] = build_model(spec, seed=config.training.seed, marts_dir=config.marts_dir).fit(
                history.frame, horizon=horizon, future=history.future(history.last_week, horizon),
                groups=history.groups,
            )
            bar.advance(task)
        cols = [c for n in names for c in forecast_columns(n, config.forecast.quantiles)]
        scale = naive_scale(history.frame).rename("scale").reset_index()
        validation = forecasts.loc[forecasts[Y].notna(), [ID, CUTOFF, DS, Y, *cols]].merge(scale, on=ID, how="left")
        in_blend, members = blended(specs, fitted)
        blend = Blend.from_members(members, validation, **_blend_params(config, in_blend))
        bar.update(task, description="final fit hot-seller classifier")
        forecast = blend.predict(h=horizon, quantiles=config.forecast.quantiles)
        member_fc = None
        for m in fitted.values():
            fc = m.predict(h=horizon, quantiles=config.forecast.quantiles)
            member_fc = fc if member_fc is None else member_fc.merge(fc, on=[ID, DS])
        forecast = forecast.merge(member_fc, on=[ID, DS])
        growth = hs.growth_weights(validation, specs, _weight_params(config))
        forecast = hs.with_growth_blend(forecast.assign(**{CUTOFF: history.last_week}), validation, specs,
                                        config.forecast.quantiles, _weight_params(config),
                                        learned=growth).drop(columns=CUTOFF)
        ranking, whatif = hs.origin_scores(
            history.frame, forecast, history.labels, cutoff=history.last_week,
            covariates=history.covariates, settings=hs.Settings.from_config(config),
            earlier_forecasts=classifier_forecasts(forecasts), earlier_scores=hot_sellers, groups=history.groups,
            growth=growth, quantiles=config.forecast.quantiles,
        )
        bar.advance(task)
    return blend, whatif, forecast, ranking


def save_to_store(
    config: Config, version: str, blend: Blend, whatif: RankingWhatIf, metadata: dict[str, Any],
    ranking: pd.DataFrame | None = None,
) -> PinnedModels:
    """Save the forecaster (blend + members) and the hot-seller model as BentoML models `version`.

    The hot-seller model keeps `ranking.parquet`: every score of every item as of the last closed
    week (the classifier needs each item's history, which a release does not carry), and
    `whatif.pkl`: what the scores that read a forecast need to be computed again under another
    plan (`training.hot_sellers.whatif.RankingWhatIf`), the fitted classifiers among it
    (`scorers`; the one home of each).
    """
    import pickle

    import bentoml

    prefix = config.training.model_prefix
    labels = {"project": config.project, "config_hash": config.config_hash()}
    tags = {}
    with bentoml.models.create(
        f"{prefix}_forecaster:{version}", labels={**labels, "kind": "forecaster"},
        metadata={**metadata, "members": list(blend.members_)},
    ) as ref:
        blend.save(Path(ref.path) / "blend")
        tags["forecaster"] = str(ref.tag)
    with bentoml.models.create(
        f"{prefix}_hot_seller_classifier:{version}", labels={**labels, "kind": "hot_seller_classifier"},
        metadata=metadata,
    ) as ref:
        with open(Path(ref.path) / WHATIF_FILE, "wb") as f:
            pickle.dump(whatif, f, protocol=pickle.HIGHEST_PROTOCOL)
        if ranking is not None:
            ranking.to_parquet(Path(ref.path) / "ranking.parquet", index=False)
        tags["hot_seller_classifier"] = str(ref.tag)
    return PinnedModels(**tags)


def run_manifest(config: Config, history: History, metrics: dict[str, Any], version: str) -> ReleaseManifest:
    """The run as training hands it on: identity, data, horizon and nested backtest metrics."""
    return ReleaseManifest(
        version=version,
        config_path=str(config.path or config.root / "darkhorse.yaml"),
        config_hash=config.config_hash(),
        data_snapshot=history.data_snapshot,
        marts_snapshot=history.snapshot,
        last_week=history.last_week.date(),
        horizon=config.panel.horizon_weeks,
        quantiles=list(config.forecast.quantiles),
        n_series=int(history.frame[ID].nunique()),
        backtest_windows=[w["cutoff"] for w in metrics["windows"] if w["role"] == "eval"],
        metrics={
            model: {k: float(v) for k, v in values.items() if k in FORECAST_METRICS and v is not None}
            for model, values in metrics["models"].items()
        },
    )


def train(config: Config, *, out_dir: Path | None = None, show_progress: bool = True, save: bool = True) -> TrainResult:
    started = time.perf_counter()
    out = Path(out_dir) if out_dir else config.out_dir
    history = load_history(config)
    bt = run_backtest(config, history=history, out_dir=None, show_progress=show_progress)
    version = release_version(config)
    blend, whatif, forecast, ranking = fit_final(
        config, history, bt.forecasts, show_progress=show_progress, hot_sellers=bt.hot_sellers
    )
    blend.period_paths_ = path_bank(bt.forecasts, BLEND, horizon=config.panel.horizon_weeks)  # allocation periods
    manifest = run_manifest(config, history, bt.metrics, version)
    if save:
        manifest = manifest.with_models(save_to_store(config, version, blend, whatif, manifest.store_metadata(), ranking))
    tags = manifest.models.model_dump() if manifest.models else {}
    bt.metrics["release"] = {"version": version, "tags": tags, "train_seconds": round(time.perf_counter() - started, 1),
                             "blend": choice_record(blend),
                             # how the released final hot-seller ranking combines its scorers
                             "hot_sellers": ranking.attrs.get("choice")}
    if config.has_request_log:  # the load ensemble of the interval panel, same version
        bt.metrics["release"]["load"] = train_load(config, version=version, out_dir=out, save=save)
    write_outputs(bt, out)
    forecast.insert(2, "cutoff", history.last_week)
    forecast.to_parquet(out / "latest_forecast.parquet", index=False)
    ranking.assign(rank=ranking.groupby("model")["score"].rank(ascending=False, method="first")).to_parquet(
        out / "latest_hot_sellers.parquet", index=False
    )
    manifest.write(out / TRAIN_FILE)
    return TrainResult(manifest=manifest, out_dir=out, metrics=bt.metrics, forecast=forecast, ranking=ranking)


__all__ = ["TrainResult", "release_version", "run_manifest", "train"]
