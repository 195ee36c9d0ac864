"""The hot-seller scores of a release computed again for some items under another plan.

A release ranks its items once, at its last week (`score_origin`). A what-if plan (a promotion,
a price) moves the forecasts of the items it names, and so every score that reads a forecast:
forecast growth (the growth blend's, or the column `forecast_model` names) and the classifiers,
whose forecast-derived features (`features.forecast_features`) read the blend and every member.
The scores that read the history only (momentum, seasonal growth, the opt-in transformer and
multi-task scorers) do not move. The final ranking is a weighted sum of percentile ranks over
every item (`combine.final_score`), so it is computed again over the whole catalogue with the
moved items' scores in place.

`RankingWhatIf` holds what that takes, captured where the release's ranking was computed: the
classifiers' feature rows at the last week, the fitted classifiers, the growth blend's weights,
the growth denominators and the final ranking's combination. Computed again from the release's
own forecasts, every score equals the released one to the last bit (tests/test_hot_seller_whatif.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from darkhorse.core.schema import CUTOFF, DS, ID
from training.blend.model import SubsetWeights
from training.hot_sellers.classifier import HotSellerClassifier
from training.hot_sellers.combine import FINAL, Choice, final_score
from training.hot_sellers.features import forecast_features, growth_of

# beside the classifier in a release's hot-seller model: the pickled `RankingWhatIf`
WHATIF_FILE = "whatif.pkl"


@dataclass
class RankingWhatIf:
    """What the release's forecast-reading hot-seller scores need, per item, to be computed again."""

    cutoff: pd.Timestamp  # the release's last week: the origin of its ranking
    quantiles: list[float]  # the levels the forecast features were read at
    column: str  # the point column forecast growth reads
    growth_name: str | None  # the growth blend's column, added by `growth` (None: no growth blend)
    growth: SubsetWeights | None
    models: list[str]  # the point columns the forecast features read, `column` first
    members: list[str]  # those whose spread is the members' disagreement
    floor: float
    past: pd.Series  # per item: forecast growth's denominator before the floor
    past_mean: pd.Series  # per item: the forecast features' denominator before the floor
    rows: pd.DataFrame  # the classifiers' feature rows at `cutoff`, indexed by item (empty: no classifier)
    scorers: dict[str, HotSellerClassifier]
    choice: Choice

    @property
    def forecast_columns(self) -> list[str]:
        """The point columns a forecast handed to `rescore` must hold (with their quantiles)."""
        return [m for m in self.models if m != self.growth_name]

    def with_growth(self, forecast: pd.DataFrame) -> pd.DataFrame:
        """`forecast` with the growth blend's columns, as the release's ranking read them."""
        if self.growth is None or self.growth_name is None:
            return forecast
        return self.growth.beside(forecast.assign(**{CUTOFF: self.cutoff}), self.quantiles,
                                  name=self.growth_name).drop(columns=CUTOFF)

    def rescore(self, forecast: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
        """`scores` (the release's: indexed by item, one column per score) with the items of
        `forecast` scored again from it: `forecast` holds `unique_id, ds` and, per item, the
        blend's and every member's point and quantile columns at `quantiles` (another plan's).
        The final ranking is computed again over every item."""
        fc = self.with_growth(forecast.assign(**{ID: forecast[ID].astype(str)}))
        items = pd.Index(sorted(fc[ID].unique()))
        out = scores.copy()
        out.loc[items, "forecast_growth"] = growth_of(fc, self.column, self.past, floor=self.floor).reindex(items).to_numpy()
        if self.scorers:
            base = pd.DataFrame({ID: items, DS: self.cutoff, "past_mean": self.past_mean.reindex(items).to_numpy()})
            ff = forecast_features(fc.assign(**{CUTOFF: self.cutoff}), base, models=self.models, floor=self.floor,
                                   interval_model=self.models[0], members=self.members)
            ff = ff.assign(**{ID: ff[ID].astype(str)}).set_index(ID).reindex(items).drop(columns=DS)
            rows = self.rows.loc[items].copy()
            rows[ff.columns] = ff.to_numpy()
            rows = rows.reset_index(names=ID)
            for name, clf in self.scorers.items():
                if name in out.columns:
                    out.loc[items, name] = clf.predict_proba(rows).to_numpy()
        named = {c: out[c] for c in out.columns if c != FINAL}
        out[FINAL] = final_score(named, self.choice).to_numpy()
        return out


def origin_rows(features: pd.DataFrame, last: Sequence) -> pd.DataFrame:
    """The feature rows at the origin (`last`: their index labels), indexed by item."""
    rows = features.loc[last]
    return rows.assign(**{ID: rows[ID].astype(str)}).set_index(ID).drop(columns=DS)


__all__ = ["WHATIF_FILE", "RankingWhatIf", "origin_rows"]
