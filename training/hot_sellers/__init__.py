"""Hot-seller scores at a forecast origin, and the ranking that combines them.

* `momentum`: the heuristic a user would try first: mean units of the last 4 weeks over the
  mean of the 12 weeks before (floored), no model.
* `seasonal_growth`: the label's growth formula read from a seasonal-naive forecast (the same
  weeks a season earlier; naive for series shorter than a season), no model.
* `forecast_growth`: the label's growth formula applied to a forecast (`forecast_model`, the
  blend by default): mean forecast over the horizon / max(mean units over the lookback, floor).
  `blend` reads the growth blend (`with_growth_blend`: the blend of the members marked
  `growth`) where those are not the blend's members (`ModelSpec.blend`); the blend itself
  otherwise.
* `classifier`: XGBoost on the item's past features (lags, rolling windows, Feast activity
  covariates), its season (last season's growth over the coming horizon, 52-week ratios, week of
  year: `features.seasonal_features`) and, where forecasts were made, the forecast-derived
  features of that origin (growth read from the blend and every member, the blend's interval
  width, the members' disagreement: `features.forecast_features`). It trains only on labels
  already known at this origin; the forecast-derived features of earlier origins come from the
  forecasts made at those origins (`earlier_forecasts`). Without them (a caller that has no
  earlier forecasts) those features are missing on every training row and the classifier
  effectively uses the past-only features.
* `classifier_graph` (under `classifier.graph_features: scorer`, where the marts hold graph
  features): the same classifier with the product-graph columns; `classifier` then runs without
  them (`classifier.fit_scorers`).
* `classifier_text` (under `classifier.text_features: scorer`, where the marts hold item text):
  the same classifier with the text columns (`text_features`: TF-IDF + SVD of the item's text
  known by each week, fitted at the origin); `classifier` then runs without them.
* `classifier_text_score` (under `classifier.text_score: scorer`, where the marts hold item
  text): the same classifier with `text_score` (`text_score`: the log-odds a logistic regression
  on the item's TF-IDF text gives, fitted on the labels known at time-ordered checkpoints);
  `classifier` then runs without it. With `text_score: true` the classifier itself reads it.
* `transformer` (when enabled): a transformer encoder over the item's recent weeks
  (`training.hot_seller_transformer`), trained on the same known labels.
* `final`: the combination learned on earlier origins whose labels are known (`combine.choose`:
  the best single scorer, a rank-weighted stack when it wins on held-out origins, or the best
  and the runner-up averaged when the best one's lead is within noise), from the
  scores those origins produced (`earlier_scores`); while fewer than `min_labelled_origins`
  scored origins are known, the classifier (forecast growth when no label is known at all).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from darkhorse.core.config import Config, ModelSpec
from darkhorse.core.schema import CUTOFF, DS, ID, WEEK
from training.blend.model import SubsetWeights, subset_weights
from training.hot_sellers.classifier import ClassifierSettings, HotSellerClassifier, fit_scorers
from training.hot_sellers.combine import (
    FINAL,
    STACK_MARGIN_SE,
    TIE_MIN_ORIGINS,
    Choice,
    choose,
    fallback_weights,
    final_score,
    pct_rank,
    season_unlearned,
)
from training.hot_sellers.features import (
    forecast_features,
    forecast_growth,
    growth_denominator,
    growth_of,
    momentum,
    point_columns,
    seasonal_features,
    with_customer_signals,
)
from training.hot_sellers.graph_features import add_graph_features
from training.hot_sellers.group_features import add_group_features
from training.hot_sellers.text_features import add_text_features
from training.hot_sellers.text_score import TextScoreSettings, add_text_score
from training.hot_sellers.whatif import RankingWhatIf, origin_rows
from training.lags import PastFeatures, past_features
from training.multitask import multitask_params

log = logging.getLogger(__name__)

# The blend of the members that feed growth (`ModelSpec.growth`): a member fitted to the median
# (XGBoost on absolute error) sharpens the blend's MASE, but growth read from a median-like
# forecast ranks hot sellers worse (Online Retail: blend-growth AP 0.127 -> 0.069 with it).
GROWTH_BLEND = "growth_blend"
# the point columns that combine members: never counted in the members' disagreement
COMBINED = ("blend", GROWTH_BLEND)


def growth_weights(
    validation: pd.DataFrame, specs: Sequence[ModelSpec], weight_params: dict[str, Any],
) -> SubsetWeights | None:
    """The growth blend's weights, learned like the blend's (`weight_params`, from `validation`)
    over the growth members only; None when the growth members are the blend's
    (`ModelSpec.blend`), or none feeds growth: the growth score then reads the blend."""
    growth = [s.name for s in specs if s.growth]
    if not growth or set(growth) == {s.name for s in specs if s.blend}:
        return None
    # without a validation row (a short panel's first origin) the members' mean, not the point
    # blend's median: on nine panels' evaluation origins read as if they had none, growth from
    # the mean ranked hot sellers better on five and by 0.03 AP on average, where the median
    # leans on the members that see no season (docs/accuracy-decisions.md, "A blend without evidence")
    return subset_weights(validation, growth, **{**weight_params, "without_evidence": "equal"})


def with_growth_blend(
    forecast: pd.DataFrame, validation: pd.DataFrame, specs: Sequence[ModelSpec], quantiles: Sequence[float],
    weight_params: dict[str, Any], *, learned: SubsetWeights | None = None,
) -> pd.DataFrame:
    """`forecast` (`unique_id, ds, cutoff` + member columns) with the growth blend's columns
    (`growth_weights`, or the `learned` ones); unchanged where there is no growth blend."""
    learned = learned if learned is not None else growth_weights(validation, specs, weight_params)
    if learned is None:
        return forecast
    return learned.beside(forecast, quantiles, name=GROWTH_BLEND)


@dataclass(frozen=True)
class Settings:
    """Everything the hot-seller scores need from the config, in one object. `from_config` is how
    the backtest and the release make it; the defaults here are the plain method (no positives
    needed per labelled origin, no tie rule) for callers that set the scorers up by hand."""

    lookback: int
    horizon: int
    floor: float
    season: int = 52
    forecast_model: str = "blend"
    classifier: dict[str, Any] = field(default_factory=dict)
    transformer: dict[str, Any] | None = None
    min_labelled_origins: int = 1
    min_origin_positives: int = 1
    weight_step: float = 0.25
    tie_margin_se: float = 0.0
    multitask: dict[str, Any] | None = None
    marts_dir: str | None = None  # published marts: the customer signals read customer_purchases there
    # the combination's fixed margins (`combine`), not config settings: the replays vary them
    stack_margin_se: float = STACK_MARGIN_SE
    tie_min_origins: int = TIE_MIN_ORIGINS

    @classmethod
    def from_config(cls, config: Config) -> Settings:
        h, p = config.hot_sellers, config.panel
        return cls(
            lookback=p.lookback_weeks, horizon=p.horizon_weeks, floor=p.growth_floor,
            season=h.season_length, forecast_model=h.forecast_model, classifier=dict(h.classifier),
            transformer=h.transformer_params(), min_labelled_origins=h.min_labelled_origins,
            min_origin_positives=h.min_origin_positives, weight_step=h.stack_weight_step,
            tie_margin_se=h.tie_margin_se, multitask=multitask_params(config), marts_dir=str(config.marts_dir),
        )


def _frame(parts: Sequence[pd.DataFrame] | pd.DataFrame | None) -> pd.DataFrame | None:
    if parts is None:
        return None
    if isinstance(parts, pd.DataFrame):
        return parts
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else None


def classifier_features(
    train: pd.DataFrame, season: pd.DataFrame, forecast: pd.DataFrame, earlier: pd.DataFrame | None, *,
    cutoff: pd.Timestamp, covariates: list[str], settings: Settings, models: list[str],
    known: pd.DataFrame | None = None, past_source: PastFeatures | None = None, groups: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """Feature rows for every week of `train` (same index: `unique_id, ds` + features) and a
    flag of the rows at origins with forecasts (earlier ones and this one). `season`:
    `seasonal_features` of `train`; `models`: the point forecasts read (growth model first);
    `known`: the labels known at `cutoff` (the text score is fitted on them); `past_source`: the
    past features of a whole panel `train` is a prefix of, computed once (`lags.PastFeatures`);
    `groups`: the series' groups (`History.groups`), read under `group_features`."""
    cs = ClassifierSettings(**settings.classifier)
    if past_source is None:
        past = past_features(train, n_lags=cs.n_lags, covariates=covariates)
    else:
        past = past_source.until(train, cutoff, n_lags=cs.n_lags, covariates=covariates)
    feats = pd.concat([train[[ID, DS]], past, season.drop(columns="past_mean")], axis=1)
    if cs.group_features:
        feats = add_group_features(feats, train, season["past_mean"], groups, lookback=settings.lookback,
                                   horizon=settings.horizon, floor=settings.floor, season=settings.season)
    if cs.customer_signals:
        feats = with_customer_signals(feats, settings.marts_dir, cutoff=cutoff, lookback=settings.lookback)
    if cs.graph_features:
        feats = add_graph_features(feats, settings.marts_dir)
    if cs.text_features:
        feats = add_text_features(feats, settings.marts_dir, cutoff=cutoff, dim=cs.text_dim,
                                  recent_weeks=cs.text_recent_weeks, seed=cs.seed)
    if cs.text_score:
        feats = add_text_score(feats, settings.marts_dir, known, cutoff=cutoff,
                               settings=TextScoreSettings(recent_weeks=cs.text_recent_weeks, seed=cs.seed))
    fcs = [forecast.assign(**{CUTOFF: cutoff})[[ID, DS, CUTOFF, *models, *_quantiles(forecast, models[0])]]]
    if earlier is not None:
        fcs.insert(0, earlier[earlier[CUTOFF] < cutoff][[ID, DS, CUTOFF, *models, *_quantiles(forecast, models[0])]])
    base = pd.concat([train[[ID, DS]], season[["past_mean"]]], axis=1)
    ff = forecast_features(pd.concat(fcs, ignore_index=True), base, models=models, floor=settings.floor,
                           interval_model=models[0], members=[m for m in models[1:] if m not in COMBINED])
    # the forecast features joined to the keys alone, then set beside the other features: merging
    # the wide frame itself copied every column twice (22 of the hot sellers' 83 s on a
    # 2,695-series panel)
    aligned = train[[ID, DS]].merge(ff, on=[ID, DS], how="left", validate="many_to_one")
    feats = pd.concat([feats.set_axis(train.index, copy=False),
                       aligned.drop(columns=[ID, DS]).set_axis(train.index, copy=False)], axis=1)
    return feats, feats[f"fc_growth_{models[0]}"].notna()


def _quantiles(forecast: pd.DataFrame, model: str) -> list[str]:
    return [c for c in forecast.columns if c.startswith(f"{model}-q")]


def known_labels(labels: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """The labels known at the close of week `cutoff` (`label_available_at` by then)."""
    close = pd.Timestamp(cutoff + WEEK, tz="UTC")
    return labels[(labels["label_available_at"] <= close) & (labels[DS] <= cutoff)]


def final_ranking(
    scores: dict[str, pd.Series], earlier_scores: Sequence[pd.DataFrame] | pd.DataFrame | None,
    known: pd.DataFrame, *, cutoff: pd.Timestamp, settings: Settings, first_week: pd.Timestamp,
    last_known: pd.Timestamp | None = None,
) -> tuple[pd.Series, Choice]:
    """The final score of this origin's `scores` and how it was combined, learned on the scores
    of origins before `cutoff` (`earlier_scores`) and the `known` labels (`known_labels`);
    `first_week`: the panel's first week and `last_known` the last week whose label is known at
    the origin (default: the latest in `known`; a caller holding labels at scored origins only
    passes `cutoff` − horizon): the fallback asks whether the classifier's labelled weeks saw a
    season (`combine.season_unlearned`)."""
    earlier = _frame(earlier_scores)
    if earlier is not None:
        earlier = earlier[pd.to_datetime(earlier[CUTOFF]) < cutoff]
    last_known = known[DS].max() if last_known is None else last_known
    fallback = fallback_weights(scores, season_unlearned=season_unlearned(
        first_week, last_known, cutoff=cutoff, season=settings.season, horizon=settings.horizon))
    choice = choose(list(scores), earlier, known, min_origins=settings.min_labelled_origins,
                    weight_step=settings.weight_step, fallback=fallback, min_positives=settings.min_origin_positives,
                    tie_margin_se=settings.tie_margin_se, stack_margin_se=settings.stack_margin_se,
                    tie_min_origins=settings.tie_min_origins)
    if choice.method == "fallback":
        log.info("hot sellers at %s: %d labelled origins; the final ranking is %s", cutoff.date(),
                 len(choice.origins), f"the {next(iter(fallback))} score" if len(fallback) == 1
                 else "the rank average of " + ", ".join(fallback) + " (the classifier never saw the season)")
    return final_score(scores, choice), choice


def score_origin(*args: Any, **kwargs: Any) -> tuple[pd.DataFrame, HotSellerClassifier | None]:
    """`origin_scores` (the same arguments), with the classifier in place of the what-if state."""
    out, whatif = origin_scores(*args, **kwargs)
    return out, whatif.scorers.get("classifier")


def origin_scores(
    train: pd.DataFrame,
    forecast: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    cutoff: pd.Timestamp,
    covariates: list[str],
    settings: Settings,
    earlier_forecasts: Sequence[pd.DataFrame] | pd.DataFrame | None = None,
    earlier_scores: Sequence[pd.DataFrame] | pd.DataFrame | None = None,
    past_source: PastFeatures | None = None,
    groups: pd.DataFrame | None = None,
    growth: SubsetWeights | None = None,
    quantiles: Sequence[float] = (),
) -> tuple[pd.DataFrame, RankingWhatIf]:
    """Every score for the items of `train` at `cutoff` (`unique_id, cutoff, model, score`).

    `forecast`: this origin's forecasts (`unique_id, ds` + model columns); `earlier_forecasts`:
    the forecasts made at earlier origins (with `cutoff`; realized values are never read);
    `earlier_scores`: the scores this function returned at earlier origins. Labels are read only
    where `label_available_at` is at or before the close of `cutoff`. `past_source`: the
    classifier's past features of the whole panel, computed once for every origin
    (`lags.PastFeatures`; without it they are computed from `train`); `groups`: the series'
    groups (`History.groups`: the classifier's group features read them). The frame's
    `attrs["choice"]` says how the final ranking was combined. The `RankingWhatIf` holds what
    the forecast-reading scores need to be computed again under another plan (a release keeps
    it): `growth`, the weights that added the growth blend's columns to `forecast`, and
    `quantiles`, the levels of its quantile columns."""
    column = settings.forecast_model
    if column == "blend" and GROWTH_BLEND in forecast.columns:
        column = GROWTH_BLEND
    if column not in forecast.columns:
        log.warning("hot sellers: no %r forecast (model not enabled); the growth score reads the blend", column)
        column = "blend"
    known = known_labels(labels, cutoff)
    season = seasonal_features(train, lookback=settings.lookback, horizon=settings.horizon,
                               floor=settings.floor, season=settings.season)
    last = train.groupby(ID, sort=True).tail(1).index
    past = growth_denominator(train, settings.lookback)
    scores = {
        "momentum": momentum(train, floor=settings.floor),
        "seasonal_growth": pd.Series(season.loc[last, "seasonal_growth"].to_numpy(),
                                     index=train.loc[last, ID].to_numpy(), name="score"),
        "forecast_growth": growth_of(forecast, column, past, floor=settings.floor),
    }
    models = [column, *[c for c in point_columns(forecast) if c != column]]
    fitted_scorers: dict[str, HotSellerClassifier] = {}
    origin = pd.DataFrame()
    if len(known) and known["label"].sum() > 0:
        earlier = _frame(earlier_forecasts)
        if earlier is not None and not set(models) <= set(earlier.columns):
            earlier = None
        feats, at_origin = classifier_features(train, season, forecast, earlier, cutoff=cutoff, covariates=covariates,
                                               settings=settings, models=models, known=known,
                                               past_source=past_source, groups=groups)
        fitted_scorers, fitted = fit_scorers(settings.classifier, feats, known, keep=at_origin, rows=last)
        origin = origin_rows(feats, last)
        scores.update(fitted)  # `classifier`, and `classifier_graph` / `classifier_text(_score)` under `scorer`
        if settings.transformer is not None:
            from training.hot_seller_transformer import TransformerHotSellerClassifier

            trf = TransformerHotSellerClassifier(**settings.transformer).fit(train, known, covariates=covariates)
            scores["transformer"] = trf.predict_proba(train, covariates=covariates)
        if settings.multitask is not None:  # opt-in: training/multitask (graph, text and time)
            from training.multitask.scorer import MultiTaskHotSellerScorer

            mt = MultiTaskHotSellerScorer(**settings.multitask).fit(train, known, covariates=covariates, cutoff=cutoff)
            scores["multitask"] = mt.predict_proba(train, covariates=covariates, cutoff=cutoff)
    else:
        log.warning("hot sellers at %s: no label known yet; the ranking uses the forecast only", cutoff.date())
    scores[FINAL], choice = final_ranking(scores, earlier_scores, known, cutoff=cutoff, settings=settings,
                                          first_week=train[DS].min())
    rows = []
    for name, s in scores.items():
        rows.append(pd.DataFrame({ID: s.index.astype(str), CUTOFF: cutoff, "model": name,
                                  "score": s.to_numpy(dtype="float64")}))
    out = pd.concat(rows, ignore_index=True)
    out.attrs["choice"] = choice.as_dict()
    items = train.loc[last, ID].astype(str).to_numpy()
    whatif = RankingWhatIf(
        cutoff=cutoff, quantiles=[float(q) for q in quantiles], column=column,
        growth_name=GROWTH_BLEND if growth is not None and GROWTH_BLEND in forecast.columns else None,
        growth=growth, models=models, members=[m for m in models[1:] if m not in COMBINED], floor=settings.floor,
        past=past.set_axis(past.index.astype(str)),
        past_mean=pd.Series(season.loc[last, "past_mean"].to_numpy(), index=items),
        rows=origin, scorers=fitted_scorers, choice=choice,
    )
    return out, whatif


__all__ = [
    "COMBINED", "GROWTH_BLEND", "Choice", "ClassifierSettings", "HotSellerClassifier", "Settings", "classifier_features",
    "final_ranking", "forecast_growth", "growth_weights", "known_labels", "momentum", "origin_scores", "pct_rank",
    "score_origin", "seasonal_features", "with_growth_blend",
]
