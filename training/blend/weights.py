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
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from darkhorse.core.schema import (
    CUTOFF,
    DS,
    ID,
    WEEK,
    Y,
    forecast_columns,
    quantile_columns,
)
from training.metrics import bucket_of, pair_codes, smape

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
