"""The final ranking: a combination of the scorers learned on earlier origins whose labels are known.

Each scorer enters as its within-origin percentile rank (a missing score ranks last). The
candidates are every single scorer and the rank-weighted stacks on a simplex grid (weights
multiples of `weight_step`, summing to 1); a candidate's worth is its average precision
averaged over the known origins, computed from the scores each origin produced then (so the
classifier's are out of sample). With at least two known origins, a stack is taken over the best
single scorer only when it wins on held-out origins (leave one origin out: weights chosen on the
others, scored on the one left out) by more than one standard error of the per-origin gains
(`STACK_MARGIN_SE`); otherwise the best single scorer is the final ranking, unless its lead over
the runner-up, per known origin, is within `tie_margin_se` standard errors of those differences
(with at least `TIE_MIN_ORIGINS` known origins): then the two are averaged half and half (`tie`:
which of two about equally good scorers leads on a few dozen hot sellers per origin is chance;
docs/accuracy-decisions.md). A known origin counts
only with `min_positives` positives (an AP over a handful of hot sellers is noise). With fewer
than `min_origins` known origins the final ranking is the fallback (`fallback_weights`): the
classifier when one could be trained, else forecast growth; where the origin sees last season's
coming weeks but the classifier's labelled weeks did not (`season_unlearned`), the rank average of
the classifier, forecast growth and seasonal growth.

The classifier with the product-graph columns (`classifier_graph`, under `graph_features:
scorer`) is a scorer like the others. Those with the text columns or the text score
(`classifier_text`, `classifier_text_score`) compete only when their AP gain over the classifier
on the known origins is above `VARIANT_MARGIN_SE` (2) standard errors of the per-origin gains;
nearly the same ranking, they otherwise win on mean AP by chance where the text carries nothing
(README, the product-graph and text sections). A tie goes to the classifier (`PREFERENCE`)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from darkhorse.core.schema import CUTOFF, DS, ID, WEEK
from training.hot_sellers.classifier import (
    CHOICE_TIES,
    GRAPH_SCORER,
    TEXT_SCORE_SCORER,
    TEXT_SCORER,
)
from training.hot_sellers.features import first_seasoned_week
from training.metrics import average_precision

# A stack replaces the best single scorer only when its held-out gain (per left-out origin) is
# above this many standard errors of those gains: the origins' labels overlap (4 weeks apart,
# 12-week horizon), so a gain below that is a chance win of the many grid stacks.
STACK_MARGIN_SE = 1.0
# The tie rule (`_tie`) reads the standard error of the per-origin leads; with fewer known origins
# than this it leaves the best single scorer alone. Two origins give that standard error one
# degree of freedom (|d1 - d2| / 2), so a 2 s.e. margin then averages the two scorers unless both
# leads nearly agree: at the ten origins of twenty-one stored panels where it did, the single
# scorer was better at six (mean +0.036 +- 0.026 AP; docs/accuracy-decisions.md, "The tie rule
# needs three origins").
TIE_MIN_ORIGINS = 3
# A variant of the classifier (the same classifier with one more feature group) competes only
# when its AP gain over the classifier, per known origin, is above its margin in standard errors.
# The text variants: 2. Learned from thousands of words, they won on mean AP by chance where the
# text carried nothing; with the margin they still carry a planted text signal (+0.17 to +0.20
# AP). The graph variant: none (it competes like any scorer). Its gain is small and slow to show
# (+0.020 AP on a planted panel, one origin in three worse), and a two-s.e. margin shut it out
# there while chance runs of early gains let it in on plain panels (graph benchmark, README).
VARIANT_MARGIN_SE = {GRAPH_SCORER: None, TEXT_SCORER: 2.0, TEXT_SCORE_SCORER: 2.0}
# Added to the leading scorer's weight in the final score, so that items whose weighted ranks sum
# to the same value are ordered by that scorer. It stays below the smallest gap between two
# distinct sums, the weight step times half a rank over n items (1/(8n) at step 0.25, 1/(20n) at
# 0.1), up to fifty million items.
TIE_BREAK = 1e-9
# the fallback's scorers where the classifier learned without the season (`fallback_weights`)
# the final ranking's name among the scores
FINAL = "final"
SEASON_FALLBACK = ("classifier", "forecast_growth", "seasonal_growth")
# ties go to the earlier name
PREFERENCE = ("forecast_growth", "seasonal_growth", "classifier", GRAPH_SCORER, TEXT_SCORER, TEXT_SCORE_SCORER,
              "transformer", "momentum")


@dataclass
class Choice:
    """What the final ranking is: `method` fallback / single / stack / tie, and its rank weights."""

    method: str
    weights: dict[str, float]
    origins: list[str] = field(default_factory=list)
    ap: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"method": self.method, "weights": self.weights, "origins": self.origins,
                "ap": {k: round(v, 6) for k, v in self.ap.items()}}


def pct_rank(s: pd.Series) -> pd.Series:
    return s.rank(pct=True, method="average")


def grid(names: list[str], step: float) -> list[dict[str, float]]:
    """Every weight vector over `names` with entries multiples of `step` summing to 1."""
    n = round(1 / step)
    out = []
    for cuts in itertools.combinations(range(n + len(names) - 1), len(names) - 1):
        parts = np.diff([-1, *cuts, n + len(names) - 1]) - 1
        out.append({k: float(p) / n for k, p in zip(names, parts, strict=True) if p > 0})
    return out


def _origins(
    earlier: pd.DataFrame, known: pd.DataFrame, names: list[str], min_positives: int = 1,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per known origin with at least `min_positives` positives: (item x scorer rank matrix, labels)."""
    lab = known[[ID, DS, "label"]].rename(columns={DS: CUTOFF})
    out = {}
    for cutoff, g in earlier[earlier["model"].isin(names)].groupby(CUTOFF, sort=True):
        wide = g.pivot_table(index=ID, columns="model", values="score", aggfunc="first")
        if not set(names) <= set(wide.columns):
            continue
        wide = wide.reset_index().merge(lab[lab[CUTOFF] == cutoff], on=ID)
        y = wide["label"].to_numpy(dtype="float64")
        if y.sum() < max(min_positives, 1):
            continue
        ranks = np.column_stack([pct_rank(wide[n]).fillna(0.0).to_numpy() for n in names])
        out[str(pd.Timestamp(cutoff).date())] = (ranks, y)
    return out


def _ap(weights: dict[str, float], names: list[str], data: list[tuple[np.ndarray, np.ndarray]]) -> float:
    w = np.array([weights.get(n, 0.0) for n in names])
    return float(np.mean([average_precision(r @ w, y, ties=CHOICE_TIES) for r, y in data]))


def _best(cands: list[dict[str, float]], names: list[str], data) -> tuple[dict[str, float], float]:
    scored = [(_ap(c, names, data), -i, c) for i, c in enumerate(cands)]
    ap, _, c = max(scored, key=lambda t: (t[0], t[1]))
    return c, ap


def _paired(data: list[tuple[np.ndarray, np.ndarray]], a: int, b: int) -> np.ndarray:
    """Per known origin: the AP of rank column `a` minus that of column `b`."""
    return np.array([average_precision(r[:, a], y, ties=CHOICE_TIES) - average_precision(r[:, b], y, ties=CHOICE_TIES)
                     for r, y in data])


def _mean_se(d: np.ndarray) -> tuple[float, float]:
    """Mean of per-origin differences and its standard error (inf with fewer than two origins:
    no evidence; the mean is nan without any)."""
    if len(d) < 2:
        return (float(d.mean()) if len(d) else float("nan")), float("inf")
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))


def _variant_gains(
    earlier: pd.DataFrame, known: pd.DataFrame, names: list[str], min_positives: int = 1,
) -> dict[str, tuple[float, float]]:
    """Per classifier variant among `names`: its mean AP gain over the classifier across the known
    origins where both scored, and the standard error of the per-origin gains (inf with fewer
    than two origins: no evidence)."""
    out = {}
    for v in [n for n in names if VARIANT_MARGIN_SE.get(n) is not None and "classifier" in names]:
        out[v] = _mean_se(_paired(list(_origins(earlier, known, ["classifier", v], min_positives).values()), 1, 0))
    return out


def season_unlearned(first_week: pd.Timestamp, last_known: pd.Timestamp | None, *, cutoff: pd.Timestamp,
                     season: int, horizon: int) -> bool:
    """Whether the origin `cutoff` sees last season's coming weeks (`first_seasoned_week`) while
    fewer than `horizon` of the weeks whose labels are known there (those up to `last_known`;
    None or NaT: none yet) did: on a panel of one to two seasons the classifier then learned its
    seasonal features from (almost) no labelled row, and they are what the origin has."""
    start = first_seasoned_week(first_week, season)
    if cutoff < start:
        return False
    seen = 0 if last_known is None or pd.isna(last_known) else (pd.Timestamp(last_known) - start) // WEEK + 1
    return seen < horizon


def fallback_weights(names, *, season_unlearned: bool = False) -> dict[str, float]:
    """The final ranking before enough scored origins have known labels: the classifier (already
    trained on every label known at the origin), forecast growth when nothing is labelled yet.
    Chosen on the accuracy suite: the classifier ranked at or above forecast growth on every panel
    but M4 Weekly (0.771 vs 0.772 AP), and far above it on the 52-week weekly-sales panel. Where
    the classifier learned without the season the origin sees (`season_unlearned`), the rank
    average of the classifier, forecast growth and seasonal growth: on five panels of 70 to 85
    weeks cut from the suite's real ones the classifier alone ranked far below seasonal growth
    there (docs/accuracy-decisions.md, "Panels of one to two seasons")."""
    if "classifier" not in names:
        return {"forecast_growth": 1.0}
    if season_unlearned and {"forecast_growth", "seasonal_growth"} <= set(names):
        return dict.fromkeys(SEASON_FALLBACK, 1.0 / len(SEASON_FALLBACK))
    return {"classifier": 1.0}


def choose(
    current: list[str], earlier: pd.DataFrame | None, known: pd.DataFrame, *,
    min_origins: int, weight_step: float, fallback: str | dict[str, float] = "forecast_growth",
    stack_margin_se: float = STACK_MARGIN_SE, min_positives: int = 1, tie_margin_se: float = 0.0,
    tie_min_origins: int = TIE_MIN_ORIGINS,
) -> Choice:
    """The combination of the `current` scorers, learned on `earlier` scores (`unique_id, cutoff,
    model, score`) joined to the `known` labels (`unique_id, ds, label`; only labels known at
    the origin may be passed); an earlier origin counts only with `min_positives` positives; a
    best single scorer within `tie_margin_se` standard errors of the runner-up is averaged with it
    (0: never) when at least `tie_min_origins` origins are known. `fallback`: the scorer (or rank
    weights, `fallback_weights`) taken while too few origins are known."""
    fallback = {fallback: 1.0} if isinstance(fallback, str) else dict(fallback)
    names = sorted(current, key=lambda n: PREFERENCE.index(n) if n in PREFERENCE else len(PREFERENCE))
    if earlier is None or earlier.empty:
        return Choice("fallback", fallback)
    # scorers that existed at too few known origins (the classifier before labels) drop out
    names = [n for n in names if n in fallback or len(_origins(earlier, known, [n], min_positives)) >= min_origins]
    gains = _variant_gains(earlier, known, names, min_positives)
    names = [n for n in names if n not in gains or gains[n][0] > VARIANT_MARGIN_SE[n] * gains[n][1]]
    origins = _origins(earlier, known, names, min_positives)
    if len(origins) < min_origins or not origins:
        return Choice("fallback", fallback, list(origins))
    data = list(origins.values())
    singles = [{n: 1.0} for n in names]
    single, _ = _best(singles, names, data)
    ap = {n: _ap({n: 1.0}, names, data) for n in names}
    for v, (mean, se) in gains.items():
        ap[f"gain_{v}"], ap[f"gain_se_{v}"] = mean, se
    if len(data) < 2 or len(names) < 2:
        return Choice("single", single, list(origins), ap)
    stacks = grid(names, weight_step)
    cv_stack, cv_single = [], []
    for i in range(len(data)):
        rest, held = data[:i] + data[i + 1:], [data[i]]
        cv_stack.append(_ap(_best(stacks, names, rest)[0], names, held))
        cv_single.append(_ap(_best(singles, names, rest)[0], names, held))
    ap["cv_stack"], ap["cv_single"] = float(np.mean(cv_stack)), float(np.mean(cv_single))
    gain = np.asarray(cv_stack) - np.asarray(cv_single)
    ap["cv_gain_se"] = _mean_se(gain)[1]
    if gain.mean() > stack_margin_se * ap["cv_gain_se"]:
        stack, ap["stack"] = _best(stacks, names, data)
        return Choice("stack", stack, list(origins), ap)
    tie = _tie(single, names, data, ap, tie_margin_se if len(data) >= tie_min_origins else 0.0)
    if tie:
        return Choice("tie", tie, list(origins), ap)
    return Choice("single", single, list(origins), ap)


def _tie(single: dict[str, float], names: list[str], data, ap: dict[str, float], margin_se: float) -> dict[str, float]:
    """Half and half of the best single scorer and the runner-up when the best one's lead, per
    known origin, is within `margin_se` standard errors of those leads; {} otherwise. Records the
    lead and its standard error in `ap` (`tie_gap`, `tie_gap_se`)."""
    best = next(iter(single))
    # the runner-up by mean AP; equal means go to the earlier name (`PREFERENCE`, the order of `names`)
    runner = max((n for n in names if n != best), key=lambda n: (ap[n], -names.index(n)))
    ap["tie_gap"], ap["tie_gap_se"] = _mean_se(_paired(data, names.index(best), names.index(runner)))
    if margin_se > 0 and ap["tie_gap"] <= margin_se * ap["tie_gap_se"]:
        return {best: 0.5, runner: 0.5}
    return {}


def final_score(scores: dict[str, pd.Series], choice: Choice) -> pd.Series:
    """Weighted sum of the within-origin percentile ranks (a missing score ranks last), its ties
    ordered by the leading scorer (the heaviest weight; among equal weights the first): two ranks
    out of n items sum to the same value in many ways (a fifth of M4 Weekly's items tie in a
    half-and-half average), and the served order of tied items should not be the order the rows
    happen to come in."""
    index = scores["forecast_growth"].index
    out = pd.Series(0.0, index=index, name="score")
    lead = max(choice.weights, key=lambda k: choice.weights[k]) if len(choice.weights) > 1 else None
    for name, w in choice.weights.items():
        out = out + (w + (TIE_BREAK if name == lead else 0.0)) * pct_rank(scores[name].reindex(index)).fillna(0.0)
    return out
