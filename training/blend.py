"""Per-series ensemble: blend weights that minimise a loss on earlier windows, per horizon
bucket, shrunk to global.

The loss is the series' MAE scaled by its naive MAE (`mae`, what MASE rewards; the default) or
SMAPE (`smape`).

Weights depend on how far ahead a week is: validation rows carry their step (weeks after their
cutoff) and the steps fall into buckets (`horizon_buckets`, the last step of each but the last:
[4, 8] gives 1-4, 5-8, 9+); every bucket has its own weights, learned from that bucket's past
errors only. A bucket with too few validation rows takes the nearest shorter bucket's weights.
With `horizon_weights="pooled"` the weights are learned from every step's errors at once and
every bucket takes them (the buckets still split the conformal intervals): on the accuracy
suite, replayed from saved member forecasts, pooled weights did at least as well as per-bucket
ones on every panel (the later buckets learn from the oldest origins only, whose weeks are
known first).

Weights live on a grid over the simplex (step `grid_step`; coarser when many members). Within a
bucket, each series' weights with the lowest loss over its validation points are mixed with the
bucket's global weights (lowest mean loss over all series) as `(n w_series + k w_global) / (n + k)`,
with `n` the series' validation points and `k` the shrinkage; a series with fewer than
`min_points` points, or unseen in validation, takes the global weights.

With `shrinkage="auto"` (the default) the combination is chosen on time-ordered held-out
cutoffs: for every validation cutoff but the first, each candidate (`k` in `SHRINKAGE_GRID`,
inf = the bucket's global weights, or `best_member`: the single member with the lowest loss in
the bucket) is learned from the earlier cutoffs' weeks already known at that cutoff and scored
on that cutoff's rows; the candidate with the lowest loss pooled over every held-out cutoff is
then learned on all of them, unless it beats the best member by less than one standard error
of their paired per-series differences (`ONE_SE`): then the best member is kept. So the blend
falls back to its best member when no combination beat it out of sample by more than noise.
With `origin_decay` below 1 a validation cutoff's errors count that factor less per later
cutoff, both when the weights are learned and when the candidates are compared: the earliest
origins (where a learned member had the least history) weigh less than the latest. A member with no forecast for a row drops out of that row and the
remaining weights are renormalised.

Intervals are split-conformal on the same held-out rows: per horizon bucket, the quantiles at
every whole percent of the actual's distance from the blended median over the blended band's
width on its side (the widest member levels symmetric about the median, q10/q90 by default;
never below half the series' naive scale). Any level the service asks (0.01-0.99) is the
blended median plus its score times that width; a bucket without enough held-out rows takes
the nearest shorter one's scores, and a later bucket is never narrower than an earlier one.
With too few held-out rows the blended member quantiles are rescaled by one factor per level
(`calibrate_widths`).

`intervals="auto"` (the default) weighs those conformal quantiles against two other sources on
the same time-ordered held-out cutoffs (`interval_choice`, pinball loss at the band's levels
and the median): the members' own quantiles blended with the point's weights (`members`), and
the members' own quantiles with one set of weights per side of the median, learned on pinball
loss at the band's levels (`levels`, `level_weights`). Conformal stays unless another beats it
by ONE_SE.

The point forecast then takes one factor (`point_factor="checked"`, POINT_FACTORS) for a bias
every member shares: the factor with the lowest loss on the blend's own held-out forecasts
(`held_points`), kept only when the factor learned before each of the latest POINT_CHECKS
held-out cutoffs beat the unscaled blend on that cutoff by ONE_SE; else 1. Quantiles stay.

`Blend` is a model behind the protocol: `fit(df, horizon=H)` fits its members and learns the
weights from an inner rolling backtest on `df`; the backtest builds it from members it has
already fitted and their forecasts at earlier cutoffs (`Blend.from_members`), which is the same
computation.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import logging
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from darkhorse.core.config import BlendConfig
from darkhorse.core.schema import (
    CUTOFF,
    DS,
    ID,
    WEEK,
    Y,
    forecast_columns,
    quantile_columns,
    quantile_suffix,
    same_keys,
)
from training.metrics import bucket_of, naive_scale, pair_codes, pinball, smape
from training.models.base import Forecaster, ModelSettings

log = logging.getLogger(__name__)

MAX_GRID = 3000
INNER_QUANTILES = (0.1, 0.5, 0.9)
SHRINKAGE_GRID = (0.0, 1.0, 4.0, 16.0, 64.0, float("inf"))
BEST_MEMBER = "best_member"
# the choice where no validation row exists (the first origin of a panel too short for a
# warm-up one) and `without_evidence` is `median` (the default): each row's median of the
# members, point and every quantile, which one wild member cannot drag as it drags their mean
# (docs/accuracy-decisions.md, "A blend without evidence")
MEDIAN = "median"
# what the held-out choice picks from: a shrinkage of each series' own weights to the bucket's
# global weights (inf: global only), or the single member with the lowest loss in the bucket
CANDIDATES: tuple[float | str, ...] = (float("inf"), 64.0, 16.0, 4.0, 1.0, 0.0, BEST_MEMBER)
MIN_BUCKET_ROWS = 30
# a combination must beat the best single member on held-out cutoffs by this many standard
# errors of the paired per-series differences to be chosen over it
ONE_SE = 1.0
BUCKET = "bucket"
STEP = "step"


def simplex_grid(n_models: int, step: float) -> np.ndarray:
    """All weight vectors on the simplex with the given step (coarsened to stay small)."""
    if n_models == 1:
        return np.ones((1, 1))
    while True:
        m = round(1 / step)
        combos = [c for c in itertools.product(range(m + 1), repeat=n_models - 1) if sum(c) <= m]
        if len(combos) <= MAX_GRID or m <= 2:
            break
        step *= 2
    grid = np.array([[*c, m - sum(c)] for c in combos], dtype="float64") / m
    return grid


def _loss(y: np.ndarray, pred: np.ndarray, objective: str, scale: np.ndarray | None) -> np.ndarray:
    """Loss per (row, combo): pred (rows, combos)."""
    if objective == "smape":
        return smape(y[:, None], pred)
    s = np.where(scale > 0, scale, 1.0)[:, None] if scale is not None else 1.0
    return np.abs(y[:, None] - pred) / s


def with_steps(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with a `step` column (weeks after its cutoff; 1 where there is no cutoff)."""
    if STEP in frame:
        return frame
    out = frame.copy()
    if CUTOFF in out and len(out):
        out[STEP] = ((out[DS] - out[CUTOFF]) // WEEK).astype("int64")
    else:
        out[STEP] = 1
    return out


def _loss_sums(
    v: pd.DataFrame, models: list[str], grid: np.ndarray, objective: str, starts: np.ndarray
) -> np.ndarray:
    """Loss sums of every grid combination over consecutive row segments (`starts`)."""
    P = v[models].to_numpy(dtype="float64")
    y = v[Y].to_numpy(dtype="float64")
    scale = v["scale"].to_numpy(dtype="float64") if "scale" in v else None
    sums = np.zeros((len(starts), len(grid)))
    chunk = max(1, 2_000_000 // len(grid))
    for a in range(0, len(y), chunk):
        b = min(a + chunk, len(y))
        loss = _loss(y[a:b], P[a:b] @ grid.T, objective, None if scale is None else scale[a:b])
        seg = np.searchsorted(starts, np.arange(a, b), side="right") - 1
        first = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
        sums[seg[first]] += np.add.reduceat(loss, first, axis=0)
    return sums


class _Search:
    """Per-series mean loss of every grid combination on one set of validation rows."""

    def __init__(self, ids: np.ndarray, counts: np.ndarray, sums: np.ndarray, weighted: np.ndarray | None = None) -> None:
        """`counts`: validation points per series (what the shrinkage counts); `sums` and
        `weighted` (the points' total weight, default `counts`): their loss sums and weight."""
        self.ids, self.counts = ids, counts
        w = counts if weighted is None else weighted
        self.mean = sums / np.maximum(w, 1e-12)[:, None]

    @classmethod
    def of_rows(cls, v: pd.DataFrame, models: list[str], grid: np.ndarray, objective: str) -> _Search:
        v = v.sort_values(ID, kind="stable")
        ids = v[ID].to_numpy()
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.zeros(0, int)
        return cls(ids[starts], np.diff(np.r_[starts, len(ids)]), _loss_sums(v, models, grid, objective, starts))

    def global_index(self) -> int:
        return int(np.argmin(self.mean.mean(axis=0)))

    def own(self, grid: np.ndarray) -> np.ndarray:
        """Each series' best combination; ties go to the one closest to equal weights."""
        best = self.mean.min(axis=1, keepdims=True)
        tie = np.isclose(self.mean, best, rtol=1e-9, atol=1e-12)
        dist = ((grid - 1 / grid.shape[1]) ** 2).sum(axis=1)
        return grid[np.argmin(np.where(tie, dist[None, :], np.inf), axis=1)]


class _Groups:
    """One bucket's validation rows as groups (series, cutoff, first cutoff at which the week is
    known) with their loss sums per grid combination, computed once: the rows known at any
    later cutoff are a union of groups, so every held-out fit sums groups instead of rows."""

    def __init__(
        self, vb: pd.DataFrame, models: list[str], grid: np.ndarray, objective: str, cutoffs: np.ndarray,
        origin_decay: float = 1.0,
    ) -> None:
        known = np.searchsorted(cutoffs, vb[DS].to_numpy(), side="left")  # index of the first cutoff >= ds
        vb = vb.assign(_known=known).sort_values([ID, CUTOFF, "_known"], kind="stable")
        ids, cut, kn = vb[ID].to_numpy(), vb[CUTOFF].to_numpy(), vb["_known"].to_numpy()
        change = np.r_[True, (ids[1:] != ids[:-1]) | (cut[1:] != cut[:-1]) | (kn[1:] != kn[:-1])]
        starts = np.flatnonzero(change)
        self.ids, self.cut, self.known = ids[starts], cut[starts], kn[starts]
        self.counts = np.diff(np.r_[starts, len(ids)])
        self.sums = _loss_sums(vb, models, grid, objective, starts)
        # a group's weight: origin_decay per origin between its cutoff and the latest one
        age = len(cutoffs) - 1 - np.searchsorted(cutoffs, self.cut)
        self.weight = origin_decay ** age.astype("float64")

    def search(self, mask: np.ndarray) -> _Search | None:
        if self.counts[mask].sum() < MIN_BUCKET_ROWS:
            return None
        ids, counts = self.ids[mask], self.counts[mask]
        w = self.weight[mask]
        first = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])  # groups are sorted by series
        return _Search(ids[first], np.add.reduceat(counts, first), np.add.reduceat(self.sums[mask] * w[:, None], first, axis=0),
                       np.add.reduceat(counts * w, first))


def _mix(own: np.ndarray, counts: np.ndarray, global_w: np.ndarray, k: float, min_points: int) -> np.ndarray:
    if np.isinf(k):
        return np.repeat(global_w[None, :], len(own), axis=0)
    n = counts.astype("float64")[:, None]
    mixed = (n * own + k * global_w[None, :]) / np.maximum(n + k, 1e-12)
    return np.where((counts >= min_points)[:, None], mixed, global_w[None, :])


def _bucket_weights(
    v: pd.DataFrame, models: list[str], grid: np.ndarray, objective: str
) -> dict[int, tuple[_Search, np.ndarray, np.ndarray]]:
    """Per bucket with enough rows: its search, own weights per series and global weights."""
    out = {}
    for b, vb in v.groupby(BUCKET, sort=True):
        if len(vb) < MIN_BUCKET_ROWS:
            continue
        search = _Search.of_rows(vb, models, grid, objective)
        out[int(b)] = (search, search.own(grid), grid[search.global_index()])
    return out


def _best_member(search: _Search, grid: np.ndarray) -> np.ndarray:
    """The one-hot weights of the member with the lowest mean loss over the search's series."""
    onehot = np.flatnonzero(np.isclose(grid.max(axis=1), 1.0))
    return grid[onehot[int(np.argmin(search.mean[:, onehot].mean(axis=0)))]]


def _row_weights(
    rows: pd.DataFrame, learned: dict[int, tuple[_Search, np.ndarray, np.ndarray]], candidate: float | str,
    grid: np.ndarray, min_points: int,
) -> np.ndarray:
    """The weights `candidate` (a shrinkage, or BEST_MEMBER) learned elsewhere gives each row
    of `rows` (sorted as given; a bucket with no learned weights takes the nearest shorter one)."""
    w = np.zeros((len(rows), grid.shape[1]))
    buckets = rows[BUCKET].to_numpy()
    ids = rows[ID].to_numpy()
    for b in np.unique(buckets):
        key = max((k for k in learned if k <= b), default=min(learned))
        search, own, global_w = learned[key]
        sel = buckets == b
        if candidate == BEST_MEMBER:
            w[sel] = _best_member(search, grid)
            continue
        mixed = _mix(own, search.counts, global_w, float(candidate), min_points)
        pos = pd.Index(search.ids).get_indexer(ids[sel])
        w[sel] = np.where((pos >= 0)[:, None], mixed[np.clip(pos, 0, None)], global_w[None, :])
    return w


def _series_mean_loss(rows: pd.DataFrame, loss: np.ndarray) -> np.ndarray:
    """Mean loss per (series, cutoff) of `rows` (what MASE averages); a 2-D `loss` (rows x
    candidates) gives one column per candidate."""
    codes = pair_codes(rows[ID].to_numpy(), rows[CUTOFF].to_numpy())
    counts = np.bincount(codes)
    if loss.ndim == 1:
        return np.bincount(codes, loss) / counts
    return np.stack([np.bincount(codes, loss[:, j]) for j in range(loss.shape[1])], axis=1) / counts[:, None]


def _group_buckets(
    v: pd.DataFrame, models: list[str], grid: np.ndarray, objective: str, origin_decay: float = 1.0,
) -> dict[int, _Groups]:
    cutoffs = np.sort(v[CUTOFF].unique())
    return {int(b): _Groups(vb, models, grid, objective, cutoffs, origin_decay) for b, vb in v.groupby(BUCKET, sort=True)}


def heldout(
    v: pd.DataFrame, models: list[str], grid: np.ndarray, objective: str, min_points: int,
    candidates: Sequence[float | str], groups: dict[int, _Groups] | None = None,
) -> list[tuple[pd.DataFrame, dict[float | str, np.ndarray]]]:
    """Time-ordered held-out forecasts: for every validation cutoff but the first, each
    candidate's weights learned from the earlier cutoffs' weeks known at that cutoff, applied
    to that cutoff's rows. Returns (rows, {candidate: row weights}) per held-out cutoff."""
    if CUTOFF not in v or v[CUTOFF].nunique() < 2:
        return []
    cutoffs = np.sort(v[CUTOFF].unique())
    groups = groups if groups is not None else _group_buckets(v, models, grid, objective)
    out = []
    for j in range(1, len(cutoffs)):
        learned = {}
        for b, g in groups.items():
            search = g.search((g.cut < cutoffs[j]) & (g.known <= j))
            if search is not None:
                learned[b] = (search, search.own(grid), grid[search.global_index()])
        if not learned:
            continue
        rows = v[v[CUTOFF] == cutoffs[j]]
        out.append((rows, {k: _row_weights(rows, learned, k, grid, min_points) for k in candidates}))
    return out


def _choose(
    held: list[tuple[pd.DataFrame, dict[float | str, np.ndarray]]], models: list[str], objective: str,
    origin_decay: float = 1.0,
) -> tuple[float | str | None, dict[str, float]]:
    """The candidate with the lowest held-out loss (mean over series and held-out cutoffs, a
    cutoff weighted by `origin_decay` per later held-out cutoff) and every candidate's loss;
    None when nothing was held out. A combination that beats the best single member by less
    than ONE_SE standard errors of their paired per-series differences is noise: the best
    member is chosen instead (it is the simpler rule, and a tie costs nothing)."""
    if not held:
        return None, {}
    cands = list(held[0][1])
    per: dict[float | str, list[np.ndarray]] = {k: [] for k in cands}
    age: list[np.ndarray] = []
    for i, (rows, ws) in enumerate(held):
        P = rows[models].to_numpy(dtype="float64")
        y = rows[Y].to_numpy(dtype="float64")
        scale = rows["scale"].to_numpy(dtype="float64") if "scale" in rows else None
        for k, w in ws.items():
            loss = _loss(y, (P * w).sum(axis=1)[:, None], objective, scale)[:, 0]
            per[k].append(_series_mean_loss(rows, loss))
        age.append(np.full(len(per[cands[0]][-1]), origin_decay ** (len(held) - 1 - i)))
    wt = np.concatenate(age)
    unit = {k: np.concatenate(v) for k, v in per.items()}
    totals = {k: float((wt * v).sum()) for k, v in unit.items()}
    losses = {str(k): v / max(wt.sum(), 1e-12) for k, v in totals.items()}
    best = min(cands, key=lambda k: totals[k])
    if BEST_MEMBER in unit and best != BEST_MEMBER:
        d = unit[BEST_MEMBER] - unit[best]  # > 0 where the combination did better
        mean = np.average(d, weights=wt)
        n_eff = wt.sum() ** 2 / max((wt**2).sum(), 1e-12)
        se = np.sqrt(np.average((d - mean) ** 2, weights=wt) / max(n_eff - 1, 1.0))
        if mean < ONE_SE * se:
            best = BEST_MEMBER
    return best, losses


def learn_weights(
    validation: pd.DataFrame,
    models: Sequence[str],
    *,
    grid_step: float = 0.1,
    min_points: int = 4,
    shrinkage: float | Literal["auto"] = "auto",
    objective: Literal["smape", "mae"] = "mae",
    horizon_buckets: Sequence[int] = (4, 8),
    fallback_shrinkage: float = 16.0,
    origin_decay: float = 1.0,
    horizon_weights: Literal["buckets", "pooled"] = "buckets",
    without_evidence: Literal["median", "equal"] = "median",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Weights per (series, bucket) (`unique_id, bucket` x models, plus `n_points`, `source`)
    and global weights per bucket (index: bucket 0..len(horizon_buckets)).

    `validation`: `unique_id, y` + one point column per model, and `cutoff` (for the steps and
    the held-out choice of the shrinkage) or `step`; rows with a missing member forecast are
    dropped. `weights.attrs`: `shrinkage` (the k used), `choice` (the k, or `best_member`) and
    `heldout_loss` (every candidate's held-out loss). `origin_decay` weighs a validation row
    by that factor per cutoff between its own and the latest (1: every cutoff alike).
    `horizon_weights="pooled"`: one set of weights learned from all steps, the same in every bucket.
    Without a validation row no weights are learned and the global ones are equal; the blend and
    `subset_blend` then serve each row's median of the members instead (the MEDIAN choice), unless
    `without_evidence="equal"`.
    The defaults here are the plain method (a 0.1 grid, every cutoff alike, weights per bucket);
    the ensemble's are the config's `blend:` section (`BlendConfig`).
    """
    return _learn(validation, models, grid_step=grid_step, min_points=min_points, shrinkage=shrinkage,
                  objective=objective, horizon_buckets=horizon_buckets, fallback_shrinkage=fallback_shrinkage,
                  origin_decay=origin_decay, horizon_weights=horizon_weights, without_evidence=without_evidence)[:2]


def _learn(
    validation: pd.DataFrame, models: Sequence[str], *, grid_step: float, min_points: int,
    shrinkage: float | Literal["auto"], objective: str, horizon_buckets: Sequence[int], fallback_shrinkage: float,
    origin_decay: float = 1.0, horizon_weights: Literal["buckets", "pooled"] = "buckets",
    without_evidence: Literal["median", "equal"] = "median",
) -> tuple[pd.DataFrame, pd.DataFrame, list[tuple[pd.DataFrame, dict[float | str, np.ndarray]]], float | str]:
    models = list(models)
    n_buckets = len(horizon_buckets) + 1
    grid = simplex_grid(len(models), grid_step)
    v = with_steps(validation.dropna(subset=[Y, *models]))
    equal = np.full(len(models), 1 / len(models))
    if v.empty:
        g = pd.DataFrame([equal] * n_buckets, columns=models, index=pd.RangeIndex(n_buckets, name=BUCKET))
        choice = MEDIAN if without_evidence == "median" else fallback_shrinkage
        return pd.DataFrame(columns=[ID, BUCKET, *models, "n_points", "source"]), g, [], choice
    v = v.assign(**{BUCKET: bucket_of(v[STEP].to_numpy(), horizon_buckets)})
    # pooled: the weights are learned as one bucket (which every bucket then takes, the nearest
    # shorter one); the held-out rows keep their own buckets for the conformal intervals
    fit_v = v.assign(**{BUCKET: 0}) if horizon_weights == "pooled" else v
    choice: float | str = shrinkage
    losses: dict[str, float] = {}
    held: list[tuple[pd.DataFrame, dict[float | str, np.ndarray]]] = []
    groups = _group_buckets(fit_v, models, grid, objective, origin_decay) if CUTOFF in v else None
    if shrinkage == "auto":
        held = heldout(v, models, grid, objective, min_points, CANDIDATES, groups)
        chosen, losses = _choose(held, models, objective, origin_decay)
        choice = fallback_shrinkage if chosen is None else chosen
    else:
        held = heldout(v, models, grid, objective, min_points, [float(shrinkage)], groups)
    if groups is not None:  # every row: all groups
        learned = {}
        for b, g in groups.items():
            search = g.search(np.ones(len(g.counts), dtype=bool))
            if search is not None:
                learned[b] = (search, search.own(grid), grid[search.global_index()])
    else:
        learned = _bucket_weights(fit_v, models, grid, objective)
    if not learned:  # too few rows for any bucket alone: one set of weights for all
        search = _Search.of_rows(v, models, grid, objective)
        learned = {0: (search, search.own(grid), grid[search.global_index()])}
    k = float("inf") if choice == BEST_MEMBER else float(choice)
    glob, parts = [], []
    for b in range(n_buckets):
        key = max((x for x in learned if x <= b), default=min(learned))
        search, own, global_w = learned[key]
        if choice == BEST_MEMBER:
            global_w = _best_member(search, grid)
        glob.append(global_w)
        w = _mix(own, search.counts, global_w, k, min_points)
        part = pd.DataFrame(w, columns=models)
        part.insert(0, BUCKET, b)
        part.insert(0, ID, search.ids)
        part["n_points"] = search.counts
        part["source"] = np.where((search.counts >= min_points) & ~np.isinf(k), "series",
                                  BEST_MEMBER if choice == BEST_MEMBER else "global")
        parts.append(part)
    weights = pd.concat(parts, ignore_index=True)
    weights.attrs.update(shrinkage=k, choice=choice if choice == BEST_MEMBER else k, heldout_loss=losses)
    g = pd.DataFrame(glob, columns=models, index=pd.RangeIndex(n_buckets, name=BUCKET))
    return weights, g, held, choice


def combine(
    preds: pd.DataFrame,
    models: Sequence[str],
    weights: pd.DataFrame,
    global_weights: pd.DataFrame,
    quantiles: Sequence[float],
    *,
    name: str = "blend",
    horizon_buckets: Sequence[int] = (4, 8),
    median: bool = False,
) -> pd.DataFrame:
    """Blend member forecasts (`unique_id, ds` + every member's columns, and `cutoff` or `step`)
    with the weights of each row's series and horizon bucket; `median`: each row's median of the
    members instead (the MEDIAN choice, where no weights were learned)."""
    models = list(models)
    w = None if median else _row_weights_of(preds, models, weights, global_weights, horizon_buckets)
    keys = preds[[c for c in preds.columns if c in (ID, DS, CUTOFF, Y)]]
    targets = [name, *quantile_columns(name, quantiles)]
    by_member = [forecast_columns(m, quantiles) for m in models]
    member_cols = [[cols[j] for cols in by_member] for j in range(len(targets))]
    blended = {}
    for tgt, cols in zip(targets, member_cols, strict=True):
        vals = preds[cols].to_numpy(dtype="float64")
        blended[tgt] = _row_median(vals) if w is None else _weighted(vals, w)
    if len(targets) > 1:
        q = np.sort(np.column_stack([blended[t] for t in targets[1:]]), axis=1)
        blended.update({t: q[:, j] for j, t in enumerate(targets[1:])})
    return pd.concat([keys, pd.DataFrame(blended, index=keys.index)], axis=1)


def _row_weights_of(
    preds: pd.DataFrame, models: list[str], weights: pd.DataFrame, global_weights: pd.DataFrame,
    horizon_buckets: Sequence[int],
) -> np.ndarray:
    """Each row's member weights: its series' in its horizon bucket, else the bucket's global ones."""
    steps = with_steps(preds)[STEP].to_numpy()
    buckets = np.minimum(bucket_of(steps, horizon_buckets), len(global_weights) - 1)
    keys = preds[[ID]].assign(**{BUCKET: buckets})
    w = keys.merge(weights[[ID, BUCKET, *models]], on=[ID, BUCKET], how="left")[models].to_numpy(dtype="float64")
    missing = np.isnan(w).any(axis=1)
    w[missing] = global_weights[models].to_numpy()[buckets[missing]]
    return w


def _weighted(vals: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Each row's weighted mean of the members it holds; a row where every weighted member is
    missing falls back to equal weights of the rest (NaN where it holds none)."""
    ok = np.isfinite(vals)
    ww = np.where(ok, w, 0.0)
    ww = np.where((ww.sum(axis=1) > 0)[:, None], ww, np.where(ok, 1.0, 0.0))
    tot = ww.sum(axis=1)
    return np.where(tot > 0, (np.nan_to_num(vals) * ww).sum(axis=1) / np.where(tot > 0, tot, 1), np.nan)


def _row_median(vals: np.ndarray) -> np.ndarray:
    """Each row's median of the members it holds (NaN where it holds none)."""
    held = np.isfinite(vals).any(axis=1)
    mid = np.full(len(vals), np.nan)
    if held.any():
        mid[held] = np.nanmedian(vals[held], axis=1)
    return mid


def subset_blend(
    validation: pd.DataFrame, preds: pd.DataFrame, models: Sequence[str], quantiles: Sequence[float], *,
    name: str, horizon_buckets: Sequence[int] = (4, 8), factor: Literal["checked", "off"] = "off",
    **weight_params: Any,
) -> pd.DataFrame:
    """The blend of `models` only, point and member-mixed quantiles, no interval calibration:
    weights learned from `validation` (`learn_weights`) and applied to `preds` (`combine`);
    with `factor="checked"` the point takes the checked factor as the blend's does
    (`point_factor`). `weight_params`: the rest of `learn_weights`' settings (`without_evidence`
    among them: with no validation row, the members' median or mean)."""
    settings = {**_learn_defaults(), **weight_params, "horizon_buckets": horizon_buckets}
    w, g, held, choice = _learn(validation, models, **settings)
    out = combine(preds, models, w, g, quantiles, name=name, horizon_buckets=horizon_buckets, median=choice == MEDIAN)
    if factor == "checked":
        out[name] = out[name] * point_factor(held_points(held, choice, models), objective=settings["objective"])[0]
    return out


def _learn_defaults() -> dict[str, Any]:
    """`learn_weights`' default settings (its signature is their one home)."""
    return {k: p.default for k, p in inspect.signature(learn_weights).parameters.items() if p.kind is p.KEYWORD_ONLY}


# ---------------------------------------------------------------- point factor
# factors of the blend's point forecast for a bias of every member alike (multiplied in, 0.70 to 1.30)
POINT_FACTORS = np.round(np.arange(0.70, 1.301, 0.02), 2)
# held-out cutoffs the factor is checked on, each with the factor learned before it. Three: on
# 52-week panels the validation origins hold 7 to 20 weeks of history, and with two checks a
# factor of 0.74 learned there passed both (by 1.4 and 1.2 s.e.) and lost at the next origin on
# two of three weekly-sales draws with a random group in their ids (docs/accuracy-decisions.md,
# "Three checks for the point factor"); with three it fails its first check there, and on
# twenty-one stored panels nothing else changes
POINT_CHECKS = 3


def held_points(
    held: list[tuple[pd.DataFrame, dict[float | str, np.ndarray]]], choice: float | str, models: Sequence[str],
) -> pd.DataFrame:
    """The blend's point forecasts on the time-ordered held-out cutoffs (the `choice`
    candidate's weights, learned on the cutoffs before each): `unique_id, cutoff, ds, y, scale,
    pred`, rows with a positive naive scale only (as MASE counts them)."""
    parts = []
    for rows, ws in held:
        if choice not in ws or "scale" not in rows:
            continue
        P = rows[list(models)].to_numpy(dtype="float64")
        part = rows[[ID, CUTOFF, DS, Y, "scale"]].assign(pred=(P * ws[choice]).sum(axis=1))
        parts.append(part[part["scale"].to_numpy(dtype="float64") > 0])
    if not parts:
        return pd.DataFrame(columns=[ID, CUTOFF, DS, Y, "scale", "pred"])
    return pd.concat(parts, ignore_index=True)


def _factor_losses(rows: pd.DataFrame, factors: np.ndarray, objective: str) -> np.ndarray:
    """Mean loss (the weights' objective: scaled absolute error or SMAPE) per (series, cutoff)
    of `rows`' `pred` times each factor (series-cutoffs x factors)."""
    y = rows[Y].to_numpy(dtype="float64")
    pred = rows["pred"].to_numpy(dtype="float64")[:, None] * factors[None, :]
    return _series_mean_loss(rows, _loss(y, pred, objective, rows["scale"].to_numpy(dtype="float64")))


def best_point_factor(rows: pd.DataFrame, objective: str = "mae") -> float:
    """The factor of POINT_FACTORS with the lowest mean loss per (series, cutoff) of `rows`'
    `pred` (`unique_id, cutoff, y, scale, pred`), unchecked."""
    return float(POINT_FACTORS[int(np.argmin(_factor_losses(rows, POINT_FACTORS, objective).mean(axis=0)))])


def point_factor(
    points: pd.DataFrame, n_check: int = POINT_CHECKS, objective: str = "mae",
) -> tuple[float, list[dict[str, float]]]:
    """One factor for the blend's point forecast, for a bias its weights cannot undo (every
    member too high on intermittent series, say): the factor of POINT_FACTORS with the lowest
    mean loss (`objective`, as the weights') on every held-out point (`held_points`), kept only when, at each of the
    latest `n_check` held-out cutoffs, the factor learned on the points known before it beat
    the unscaled blend on that cutoff's points by more than ONE_SE standard errors of their
    paired per-series differences; else 1. Returns the factor and each check (its cutoff,
    the factor learned before it, the mean gain and its standard error)."""
    cutoffs = np.sort(points[CUTOFF].unique()) if len(points) else np.array([])
    if len(cutoffs) < n_check + 1:
        return 1.0, []
    checks = []
    for last in cutoffs[-n_check:]:
        early = points[(points[CUTOFF] < last) & (points[DS] <= last)]
        late = points[points[CUTOFF] == last]
        if early.empty or late.empty:
            return 1.0, checks
        f = best_point_factor(early, objective)
        losses = _factor_losses(late, np.array([1.0, f]), objective)
        d = losses[:, 0] - losses[:, 1]  # > 0 where the factor did better
        se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("inf")
        checks.append({"cutoff": str(pd.Timestamp(last).date()), "factor": f, "gain": float(d.mean()), "se": se})
        if not d.mean() > ONE_SE * se:
            return 1.0, checks
    return best_point_factor(points, objective), checks


# ---------------------------------------------------------------- conformal intervals
# levels of the held-out score table: whole percents (every level of the service's grid); a
# level between two takes the linear interpolation, one beyond them the nearest
CONFORMAL_LEVELS = np.round(np.arange(1, 100) / 100, 2)
MIN_CONFORMAL_ROWS = 200
# the interval width never falls below this share of the series' naive scale, so a member
# spread of zero (a constant history) does not blow up the scores
MIN_WIDTH_OF_SCALE = 0.5


def spread_levels(columns: Sequence[str], models: Sequence[str]) -> tuple[float, float] | None:
    """The widest pair of levels symmetric about the median that every member forecasts (with
    the median); None without one."""
    levels = _common_levels(pd.DataFrame(columns=list(columns)), models)
    if 0.5 not in levels:
        return None
    pairs = [q for q in levels if q < 0.5 and round(1 - q, 2) in levels]
    return (min(pairs), round(1 - min(pairs), 2)) if pairs else None


def _sides(center: np.ndarray, lo: np.ndarray, hi: np.ndarray, scale: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The widths that scale the scores below and above the center."""
    floor = 0.0 if scale is None else MIN_WIDTH_OF_SCALE / 2 * np.nan_to_num(scale, nan=0.0)
    return np.maximum(center - lo, floor), np.maximum(hi - center, floor)


def _scores(y: np.ndarray, center: np.ndarray, below: np.ndarray, above: np.ndarray) -> np.ndarray:
    d = y - center
    return np.where(d < 0, d / np.where(below > 0, below, 1.0), d / np.where(above > 0, above, 1.0))


def _bounds(center: np.ndarray, below: np.ndarray, above: np.ndarray, score: np.ndarray) -> np.ndarray:
    return np.maximum(center + np.where(score < 0, score * below, score * above), 0.0)




def _held_band(
    rows: pd.DataFrame, ws: dict[float | str, np.ndarray], choice: float | str, models: Sequence[str],
    pair: tuple[float, float],
) -> tuple[pd.DataFrame, dict[float, np.ndarray]] | None:
    """A held-out cutoff's rows with an actual and every member's median and pair levels, and
    the blend's (the `choice` candidate's row weights) median and pair levels there; None when
    the candidate or a column is missing."""
    levels = (pair[0], 0.5, pair[1])
    cols = {q: [quantile_columns(m, [q])[0] for m in models] for q in levels}
    need = [c for q in levels for c in cols[q]]
    if choice not in ws or any(c not in rows for c in need):
        return None
    ok = rows[need].notna().all(axis=1).to_numpy() & rows[Y].notna().to_numpy()
    r, w = rows[ok], ws[choice][ok]
    return r, {q: (r[cols[q]].to_numpy(dtype="float64") * w).sum(axis=1) for q in levels}


def conformal_table(
    held: list[tuple[pd.DataFrame, dict[float | str, np.ndarray]]], choice: float | str, models: Sequence[str],
    pair: tuple[float, float], n_buckets: int,
) -> np.ndarray | None:
    """Split-conformal scores of the blend on time-ordered held-out cutoffs: per horizon bucket,
    the quantiles (at CONFORMAL_LEVELS) of the actual's distance from the blended median, over
    the blended interval's width on its side, the weights of each held-out cutoff learned on
    the cutoffs before it only. A bucket with fewer than MIN_CONFORMAL_ROWS held-out rows takes
    the nearest shorter bucket's scores (the width already grows with the step); None when no
    bucket has enough."""
    scores, buckets = [], []
    for rows, ws in held:
        band = _held_band(rows, ws, choice, models, pair)
        if band is None:
            continue
        r, blended = band
        center = blended[0.5]
        below, above = _sides(center, blended[pair[0]], blended[pair[1]],
                              r["scale"].to_numpy(dtype="float64") if "scale" in r else None)
        keep = (below > 1e-9) & (above > 1e-9)
        scores.append(_scores(r[Y].to_numpy(dtype="float64")[keep], center[keep], below[keep], above[keep]))
        buckets.append(r[BUCKET].to_numpy()[keep])
    if not scores:
        return None
    sc, bk = np.concatenate(scores), np.concatenate(buckets)
    table = np.full((n_buckets, len(CONFORMAL_LEVELS)), np.nan)
    for b in range(n_buckets):
        sel = bk == b
        if sel.sum() >= MIN_CONFORMAL_ROWS:
            table[b] = np.quantile(sc[sel], CONFORMAL_LEVELS, method="inverted_cdf")
    if np.isnan(table).all():
        if len(sc) < MIN_CONFORMAL_ROWS:
            return None
        table[0] = np.quantile(sc, CONFORMAL_LEVELS, method="inverted_cdf")
    for b in range(n_buckets):  # buckets without scores: the nearest shorter one, else the nearest longer
        if np.isnan(table[b]).any():
            src = [x for x in range(b - 1, -1, -1) if not np.isnan(table[x]).any()] or \
                  [x for x in range(b + 1, n_buckets) if not np.isnan(table[x]).any()]
            table[b] = table[src[0]]
    # a later bucket's band is never narrower (in width units) than an earlier one's: held-out
    # long steps come from older cutoffs only, and a calm past must not shrink them
    upper = CONFORMAL_LEVELS > 0.5
    for b in range(1, n_buckets):
        table[b] = np.where(upper, np.maximum(table[b], table[b - 1]), np.minimum(table[b], table[b - 1]))
    return table


INTERVALS = ("conformal", "members", "levels")
# rows per chunk of the (rows x combinations) loss matrix: about 2M cells (16 MB per temporary);
# 50,000 rows x 1,001 combinations (400 MB per temporary) ran 18x slower per row
_LEVEL_CELLS = 2_000_000


class _LevelLosses:
    """Every grid combination's scaled pinball loss at one level `q` of the members' own
    quantiles, summed per (cutoff, week) of the rows, computed once: the rows known at a
    held-out cutoff are a union of those groups, so each held-out choice sums groups instead of
    recomputing the loss of every row (that recomputation, in 50,000-row chunks, took 12 of the
    blend's 21 s on Online Retail and the synthetic panel under cProfile). None when a member
    lacks the level or no row has all of them."""

    def __init__(self, cutoff: np.ndarray, ds: np.ndarray, sums: np.ndarray) -> None:
        self.cutoff, self.ds, self.sums = cutoff, ds, sums

    @classmethod
    def of_rows(cls, rows: pd.DataFrame, models: Sequence[str], grid: np.ndarray, q: float) -> _LevelLosses | None:
        cols = [quantile_columns(m, [q])[0] for m in models]
        if any(c not in rows for c in cols):
            return None
        r = rows.dropna(subset=[Y, *cols])
        if r.empty:
            return None
        cut = r[CUTOFF].to_numpy() if CUTOFF in r else np.zeros(len(r), dtype="datetime64[ns]")
        ds = r[DS].to_numpy() if DS in r else np.zeros(len(r), dtype="datetime64[ns]")
        codes = pair_codes(cut, ds)
        order = np.argsort(codes, kind="stable")
        codes = codes[order]
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        y = r[Y].to_numpy(dtype="float64")[order]
        raw = r["scale"].to_numpy(dtype="float64")[order] if "scale" in r else np.ones(len(r))
        scale = np.where(np.isfinite(raw) & (raw > 0), raw, 1.0)
        P = r[cols].to_numpy(dtype="float64")[order]
        sums = np.zeros((len(starts), len(grid)))
        seg_of = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(codes)]))
        chunk = max(1, _LEVEL_CELLS // len(grid))
        for lo in range(0, len(y), chunk):
            hi = min(lo + chunk, len(y))
            loss = pinball(y[lo:hi, None], P[lo:hi] @ grid.T, q) / scale[lo:hi, None]
            seg = seg_of[lo:hi]
            first = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
            sums[seg[first]] += np.add.reduceat(loss, first, axis=0)
        return cls(cut[order][starts], ds[order][starts], sums)

    def best(self, grid: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray | None:
        """The combination with the lowest loss over the groups in `mask` (all by default)."""
        sums = self.sums if mask is None else self.sums[mask]
        if not len(sums):
            return None
        return grid[int(np.argmin(sums.sum(axis=0)))]

    def known_at(self, cutoff: Any) -> np.ndarray:
        """The groups of earlier cutoffs whose week is known at `cutoff`."""
        c = np.datetime64(pd.Timestamp(cutoff))
        return (self.cutoff < c) & (self.ds <= c)


def level_weights(rows: pd.DataFrame, models: Sequence[str], grid: np.ndarray, q: float) -> np.ndarray | None:
    """The grid's weights whose blend of the members' own level-`q` quantiles has the lowest
    mean pinball loss at `q` over `rows` (scaled by each row's naive scale); None without rows."""
    table = _LevelLosses.of_rows(rows, models, grid, q)
    return None if table is None else table.best(grid)


def interval_choice(
    held: list[tuple[pd.DataFrame, dict[float | str, np.ndarray]]], choice: float | str, models: Sequence[str],
    pair: tuple[float, float], n_buckets: int, grid: np.ndarray, validation: pd.DataFrame,
) -> tuple[str, dict[str, float]]:
    """Which quantiles the blend serves, chosen on time-ordered held-out cutoffs:
    - `conformal`: the table of the cutoffs before each held-out one, around the blended median;
    - `members`: the members' own quantiles, blended with the point's weights;
    - `levels`: the same, but each side of the median (the pair's levels) blended with its own
      weights, those with the lowest pinball loss on the `validation` rows of earlier cutoffs
      known by then (the served blend learns them on every validation row: `level_weights`).
    Each is scored by its mean pinball loss at the pair's levels and the median, scaled by the
    series' naive scale, per series and cutoff. The lowest wins only when it beats `conformal`
    by more than ONE_SE standard errors of their paired differences; conformal stays when
    nothing could be compared. Returns the choice and each candidate's held-out loss."""
    levels = (pair[0], 0.5, pair[1])
    per: dict[str, list[np.ndarray]] = {k: [] for k in INTERVALS}
    tables = {q: _LevelLosses.of_rows(validation, models, grid, q) for q in (pair[0], pair[1])} if len(held) > 1 else {}
    for j in range(1, len(held)):
        band = _held_band(*held[j], choice, models, pair)
        if band is None or band[0].empty:
            continue
        r, blended = band
        cutoff = r[CUTOFF].iloc[0]
        side = {q: None if t is None else t.best(grid, t.known_at(cutoff)) for q, t in tables.items()}
        table = conformal_table(held[:j], choice, models, pair, n_buckets)
        if table is None or any(w is None for w in side.values()):
            continue
        y = r[Y].to_numpy(dtype="float64")
        raw = r["scale"].to_numpy(dtype="float64") if "scale" in r else None
        scale = np.ones(len(r)) if raw is None else np.where(np.isfinite(raw) & (raw > 0), raw, 1.0)
        below, above = _sides(blended[0.5], blended[pair[0]], blended[pair[1]], raw)  # as served
        buckets = r[BUCKET].to_numpy()
        own = {q: r[[quantile_columns(m, [q])[0] for m in models]].to_numpy(dtype="float64") @ side[q] for q in side}
        own = dict(zip(levels, np.sort(np.stack([own[pair[0]], blended[0.5], own[pair[1]]]), axis=0), strict=True))
        bounds = {
            "conformal": {q: _bounds(blended[0.5], below, above, conformal_offsets(table, buckets, q)) for q in levels},
            "members": blended,
            "levels": own,
        }
        for k in INTERVALS:
            loss = sum(pinball(y, bounds[k][q], q) for q in levels) / scale / len(levels)
            per[k].append(_series_mean_loss(r, loss))
    if not per["conformal"]:
        return "conformal", {}
    unit = {k: np.concatenate(v) for k, v in per.items()}
    losses = {k: float(v.mean()) for k, v in unit.items()}
    best = min(INTERVALS, key=lambda k: losses[k])
    if best == "conformal":
        return best, losses
    d = unit["conformal"] - unit[best]  # > 0 where the members' quantiles did better
    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("inf")
    return (best if d.mean() > ONE_SE * se else "conformal"), losses


def _with_level_weights(
    out: pd.DataFrame, preds: pd.DataFrame, models: Sequence[str], name: str, quantiles: Sequence[float],
    sides: dict[float, np.ndarray], horizon_buckets: Sequence[int],
) -> pd.DataFrame:
    """`out` with every level but the median blended (`combine`) from the members' own quantiles
    with the global weights of its side of the median (`sides`: a level below and one above ->
    weights), the levels then kept in order."""
    no_series = pd.DataFrame({ID: pd.Series(dtype=preds[ID].dtype), BUCKET: pd.Series(dtype="int64"),
                              **{m: pd.Series(dtype="float64") for m in models}})  # global weights only
    for side, levels in ((min(sides), [q for q in quantiles if q < 0.5]), (max(sides), [q for q in quantiles if q > 0.5])):
        if levels:
            weights = pd.DataFrame([sides[side]], columns=list(models))
            part = combine(preds, models, no_series, weights, levels, name=name, horizon_buckets=horizon_buckets)
            cols = quantile_columns(name, levels)
            out[cols] = part[cols].to_numpy()
    cols = quantile_columns(name, sorted(quantiles))
    out[cols] = np.sort(out[cols].to_numpy(), axis=1)
    return out


def conformal_offsets(table: np.ndarray, buckets: np.ndarray, q: float) -> np.ndarray:
    """The score of level `q` for rows in `buckets` (interpolated between whole percents)."""
    col = np.array([np.interp(q, CONFORMAL_LEVELS, row) for row in table])
    return col[np.minimum(buckets, len(table) - 1)]


# factors of the distance from the median: narrower (0.25) to far wider (64, which lets a low
# bound of a sparse series reach zero)
WIDTH_GRID = np.round(np.exp(np.linspace(np.log(0.25), np.log(64.0), 81)), 4)


def calibrate_widths(
    validation: pd.DataFrame, models: Sequence[str], weights: pd.DataFrame, global_weights: pd.DataFrame,
    *, horizon_buckets: Sequence[int] = (4, 8),
) -> dict[str, float]:
    """One factor per quantile level that scales the blend's distance from its median so the
    share of validation actuals below it matches the level (split-conformal style)."""
    levels = _common_levels(validation, models)
    if 0.5 not in levels or len(levels) < 2:
        return {}
    cols = [c for m in models for c in forecast_columns(m, levels)]
    v = validation.dropna(subset=[Y, *cols])
    if len(v) < 50:
        return {}
    b = combine(v, models, weights, global_weights, levels, name="b", horizon_buckets=horizon_buckets)
    y = v[Y].to_numpy(dtype="float64")
    mid = b["b-q50"].to_numpy()
    out = {}
    for q in levels:
        if q == 0.5:
            continue
        col = f"b-{quantile_columns('b', [q])[0].split('-', 1)[1]}"
        d = b[col].to_numpy() - mid
        below = np.array([np.mean(y <= np.maximum(mid + f * d, 0.0)) for f in WIDTH_GRID])
        out[quantile_columns("", [q])[0][1:]] = float(WIDTH_GRID[_quantile_factor(below, q)])
    return out


def _quantile_factor(below: np.ndarray, q: float) -> int:
    """The grid index whose bound is the level-`q` quantile of the validation actuals: the
    lowest bound with at least a share `q` of actuals at or below it (the quantile's definition,
    which holds for discrete demand too). Below the median the bound falls as the factor grows,
    so that is the largest such factor; above it, the smallest. On sparse series with many
    zero weeks no factor brings the share at or below a low bound down to `q`; the rule then
    widens it to zero instead of keeping it above the zeros. When no factor reaches `q` (an
    upper bound that stays too low), the closest share wins."""
    ok = np.flatnonzero(below >= q)
    if len(ok) == 0:
        return int(np.argmin(np.abs(below - q)))
    return int(ok[-1] if q < 0.5 else ok[0])


def _common_levels(validation: pd.DataFrame, models: Sequence[str]) -> list[float]:
    levels = []
    for pct in range(1, 100):
        if all(f"{m}-q{pct}" in validation.columns for m in models):
            levels.append(pct / 100)
    return levels


def width_factor(q: float, factors: dict[str, float]) -> float | None:
    """The factor of level `q`: its own when calibrated, else that of the nearest calibrated
    level on the same side of the median (so any requested level gets calibrated widths)."""
    key = quantile_suffix(q)
    if key in factors:
        return factors[key]
    side = [(abs(int(k[1:]) / 100 - q), f) for k, f in factors.items() if (int(k[1:]) - 50) * (q - 0.5) > 0]
    return min(side)[1] if side else None


def apply_widths(out: pd.DataFrame, name: str, quantiles: Sequence[float], factors: dict[str, float]) -> pd.DataFrame:
    mid_col = f"{name}-q50"
    if not factors or mid_col not in out:
        return out
    mid = out[mid_col].to_numpy()
    for q in quantiles:
        f = width_factor(q, factors)
        if f is not None:
            col = f"{name}-{quantile_suffix(q)}"
            out[col] = np.maximum(mid + f * (out[col].to_numpy() - mid), 0.0)
    return out


def _joined(forecasts: list[pd.DataFrame]) -> pd.DataFrame:
    """Members' forecasts side by side on `unique_id, ds` (checked forecasts of the same series
    hold the same rows in the same order, sorted: set side by side without a join)."""
    first = forecasts[0]
    if all(same_keys(f, first) for f in forecasts[1:]) and pd.MultiIndex.from_frame(first[[ID, DS]]).is_monotonic_increasing:
        return pd.concat([first.reset_index(drop=True),
                          *(f.drop(columns=[ID, DS]).reset_index(drop=True) for f in forecasts[1:])], axis=1)
    return functools.reduce(lambda a, b: a.merge(b, on=[ID, DS], how="outer"), forecasts)


# The forecasts of the members no what-if plan moves are kept between calls up to this many
# numbers (about 160 MB): some 10,000 items x 12 weeks x 3 members x the service's 50-odd levels.
STEADY_KEPT_VALUES = 20_000_000


class BlendSettings(BlendConfig, ModelSettings):
    """The ensemble's settings: the config's `blend:` section (`BlendConfig`, their one description
    and defaults) plus its members and, for `fit`, its inner backtest."""

    members: list[dict[str, Any]] = Field(
        default_factory=list, description="Members as {model, alias, params} (config `forecast.models`)."
    )
    calibrate: bool = Field(
        True, description="Rescale the blended interval widths so validation coverage is nominal."
    )
    inner_windows: int = Field(3, ge=1, description="Windows of the inner backtest in `fit`.")
    step_weeks: int = Field(4, ge=1, description="Weeks between the inner backtest's windows in `fit`.")


class Blend(Forecaster):
    """The ensemble: members' forecasts blended with per-series, per-horizon-bucket weights."""

    model_name = "blend"
    Settings = BlendSettings
    global_model = True
    uses_groups = True  # handed to its members
    fixed_horizon = True  # its members are fitted for the horizon

    @classmethod
    def test_params(cls) -> dict[str, Any]:
        return {
            "members": [{"model": "naive"}, {"model": "moving_average", "params": {"window": 4}}],
            "inner_windows": 2,
        }

    def _fit(self, df: pd.DataFrame) -> None:
        from training.models import create

        s = self.settings
        if not s.members:
            raise ValueError("blend: no members")
        members = {}
        for spec in s.members:
            m = create(spec["model"], alias=spec.get("alias"), **spec.get("params", {}))
            members[m.alias] = m
        # inner rolling backtest on df: members fitted at earlier cutoffs, scored on what followed
        last = df[DS].max()
        parts = []
        for i in range(s.inner_windows, 0, -1):
            cutoff = last - WEEK * (s.step_weeks * i)
            train = df[df[DS] <= cutoff]
            if train.groupby(ID).size().max() < 3:
                continue
            joined = None
            for name, spec in zip(members, s.members, strict=True):
                m = create(spec["model"], alias=name, **spec.get("params", {}))
                try:
                    fc = m.fit(train, horizon=self.horizon_, groups=self.groups_).predict(
                        h=self.horizon_, quantiles=INNER_QUANTILES
                    )
                except ValueError as e:
                    log.warning("blend: member %s skipped at inner cutoff %s: %s", name, cutoff.date(), e)
                    continue
                joined = fc if joined is None else joined.merge(fc, on=[ID, DS], how="outer")
            if joined is not None:
                scale = naive_scale(train).rename("scale").reset_index()
                known = joined.merge(df[[ID, DS, Y]], on=[ID, DS], how="inner").merge(scale, on=ID, how="left")
                parts.append(known.assign(**{CUTOFF: cutoff}))
        validation = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[ID, DS, CUTOFF, Y])
        for name in members:
            if name not in validation:
                validation[name] = np.nan
        for m in members.values():
            m.fit(df, horizon=self.horizon_, groups=self.groups_)
        self._set(members, validation)

    @classmethod
    def from_members(
        cls, fitted: dict[str, Forecaster], validation: pd.DataFrame, *, alias: str | None = None, **params: Any
    ) -> Blend:
        """A fitted blend from fitted members and their forecasts on earlier windows
        (`unique_id, cutoff, ds, y` + the members' columns, only weeks known at the fit)."""
        blend = cls(alias=alias, **params)
        first = next(iter(fitted.values()))
        blend.last_ds_ = first.last_ds_
        blend.n_series_ = len(blend.last_ds_)
        horizons = [m.horizon_ for m in fitted.values() if getattr(m, "horizon_", None)]
        blend.horizon_ = min(horizons) if horizons else None
        blend._set(fitted, validation)
        blend.fitted_ = True
        return blend

    def _set(self, members: dict[str, Forecaster], validation: pd.DataFrame) -> None:
        s = self.settings
        names = list(members)
        self.members_ = members
        # the known-future plan the members were fitted with (the same for each that reads one):
        # predict(future=other_plan) hands another to those members
        self.future_ = next((m.future_ for m in members.values() if getattr(m, "future_", None) is not None), None)
        self.weights_, self.global_weights_, held, choice = _learn(
            validation, names, grid_step=s.grid_step, min_points=s.min_points, shrinkage=s.shrinkage,
            objective=s.objective, horizon_buckets=s.horizon_buckets, fallback_shrinkage=16.0,
            origin_decay=s.origin_decay, horizon_weights=s.horizon_weights, without_evidence=s.without_evidence,
        )
        self.shrinkage_ = self.weights_.attrs.get("shrinkage")
        self.choice_ = choice
        self.heldout_loss_ = self.weights_.attrs.get("heldout_loss", {})
        self.point_factor_, self.point_checks_ = 1.0, []
        if s.point_factor == "checked":
            self.point_factor_, self.point_checks_ = point_factor(held_points(held, choice, names), objective=s.objective)
        self.width_factors_: dict[str, float] = {}
        self.conformal_: np.ndarray | None = None
        self.pair_ = spread_levels(validation.columns, names)
        scale = validation.dropna(subset=["scale"]) if "scale" in validation else validation.iloc[:0]
        if len(scale) and CUTOFF in scale:
            scale = scale.sort_values(CUTOFF, kind="stable")
        self.scale_ = scale.groupby(ID)["scale"].last() if len(scale) else pd.Series(dtype="float64")
        if not s.calibrate:
            return
        # no validation row to calibrate on (MEDIAN): the median of the members' quantiles
        self.intervals_, self.interval_loss_ = ("members" if choice == MEDIAN else "conformal"), {}
        self.level_weights_: dict[float, np.ndarray] = {}
        if choice == MEDIAN:
            return
        if self.pair_ is not None:
            n_buckets = len(s.horizon_buckets) + 1
            grid = simplex_grid(len(names), s.grid_step)
            if s.intervals == "auto":
                self.intervals_, self.interval_loss_ = interval_choice(
                    held, choice, names, self.pair_, n_buckets, grid, validation)
            else:
                self.intervals_ = s.intervals
            if self.intervals_ == "levels":
                sides = {q: level_weights(validation, names, grid, q) for q in self.pair_}
                if any(w is None for w in sides.values()):
                    self.intervals_ = "members"
                else:
                    self.level_weights_ = {float(q): w for q, w in sides.items()}
            if self.intervals_ in ("members", "levels"):  # the members' quantiles: no table, no factors
                return
            self.conformal_ = conformal_table(held, choice, names, self.pair_, n_buckets)
        if self.conformal_ is None:  # too few held-out rows: the width factors of every window
            self.width_factors_ = calibrate_widths(
                validation, names, self.weights_, self.global_weights_, horizon_buckets=s.horizon_buckets
            )

    def _member_forecasts(
        self, h: int, quantiles: list[float], future: pd.DataFrame | None = None, only: pd.Index | None = None
    ) -> pd.DataFrame:
        """Each member's forecast, of the series `only` when given; `future`: another plan for the
        members fitted with one. On such a what-if call the members that read no plan give the
        forecasts they gave the first one (`_steady`)."""
        whatif = future is not None or only is not None
        forecasts, steady = [], []
        for name, m in self.members_.items():
            reads_plan = getattr(m, "future_", None) is not None
            if whatif and not reads_plan:
                steady.append(name)
                continue
            forecasts.append(m.predict(h=h, quantiles=quantiles, future=future if reads_plan else None, ids=only))
        if steady:
            forecasts.append(self._steady(h, quantiles, steady, only))
        preds = _joined(forecasts)
        preds[STEP] = ((preds[DS] - self.last_ds_.reindex(preds[ID]).to_numpy()) // WEEK).astype("int64")
        return preds

    def _steady(self, h: int, quantiles: list[float], names: list[str], only: pd.Index | None) -> pd.DataFrame:
        """The forecasts of the members `names` (those no plan changes), of the series `only` when
        given. Every series' forecasts are predicted once per horizon and quantiles and kept for
        the next what-if call while they hold at most `STEADY_KEPT_VALUES` numbers; a larger
        catalogue asks the members for the series `only` at each call (a row-wise member computes
        those rows only: `RowwiseForecaster`)."""
        key = (h, tuple(quantiles), tuple(names))
        kept = self.__dict__.get("_steady_kept")
        if kept is None or kept[0] != key:
            size = len(self.last_ds_) * h * (2 + len(names) * (1 + len(quantiles)))
            if size > STEADY_KEPT_VALUES:
                ids = None if only is None else list(only)
                return _joined([self.members_[n].predict(h=h, quantiles=quantiles, ids=ids) for n in names])
            kept = self._steady_kept = (key, _joined([self.members_[n].predict(h=h, quantiles=quantiles) for n in names]))
        fc = kept[1]
        return fc if only is None else fc[fc[ID].isin(only)].reset_index(drop=True)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_steady_kept", None)  # a cache of forecasts: recomputed after loading
        return state

    def _predict(self, h: int, quantiles: list[float]) -> pd.DataFrame:
        return self._planned(h, quantiles, None)

    def _predict_future(self, h: int, quantiles: list[float], future: pd.DataFrame) -> pd.DataFrame:
        # the members' own plan unless another one was given to predict
        return self._planned(h, quantiles, None if future is self.future_ else future)

    def _predict_some(self, h: int, quantiles: list[float], plan: pd.DataFrame | None, only: pd.Index) -> pd.DataFrame:
        return self._planned(h, quantiles, None if plan is self.future_ else plan, only)

    def _planned(
        self, h: int, quantiles: list[float], future: pd.DataFrame | None, only: pd.Index | None = None
    ) -> pd.DataFrame:
        out = self._blended(h, quantiles, future, only)
        factor = getattr(self, "point_factor_", 1.0)
        if factor != 1.0:  # the point only: the quantiles keep their own calibration
            out[self.alias] = out[self.alias] * factor
        return out

    def _blended(
        self, h: int, quantiles: list[float], future: pd.DataFrame | None = None, only: pd.Index | None = None
    ) -> pd.DataFrame:
        names = list(self.members_)
        buckets_at = self.settings.horizon_buckets
        table = getattr(self, "conformal_", None)
        if table is None:
            preds = self._member_forecasts(h, quantiles, future, only)
            out = combine(preds, names, self.weights_, self.global_weights_, quantiles,
                          name=self.alias, horizon_buckets=buckets_at, median=getattr(self, "choice_", None) == MEDIAN)
            sides = getattr(self, "level_weights_", {})
            if sides:
                return _with_level_weights(out, preds, names, self.alias, quantiles, sides, buckets_at)
            return apply_widths(out, self.alias, quantiles, getattr(self, "width_factors_", {}))
        # conformal: the blended median plus each level's held-out score times the blended
        # interval's width on that side
        lo, hi = self.pair_
        preds = self._member_forecasts(h, [lo, 0.5, hi], future, only)
        b = combine(preds, names, self.weights_, self.global_weights_, [lo, 0.5, hi], name="b", horizon_buckets=buckets_at)
        point = b["b"].to_numpy()
        center = b["b-q50"].to_numpy()
        scale = self.scale_.reindex(preds[ID]).to_numpy(dtype="float64") if len(self.scale_) else None
        below, above = _sides(center, b[quantile_columns("b", [lo])[0]].to_numpy(),
                              b[quantile_columns("b", [hi])[0]].to_numpy(), scale)
        buckets = bucket_of(preds[STEP].to_numpy(), buckets_at)
        out = preds[[ID, DS]].copy()
        out[self.alias] = point
        cols = quantile_columns(self.alias, quantiles)
        vals = np.stack([_bounds(center, below, above, conformal_offsets(table, buckets, q)) for q in quantiles], axis=1)
        out[cols] = np.sort(vals, axis=1)
        return out
