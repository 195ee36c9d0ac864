"""The blend's intervals, split-conformal on the held-out rows its weights are chosen on
(`weights.py`): per horizon bucket, the quantiles at
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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from darkhorse.core.schema import (
    CUTOFF,
    DS,
    ID,
    Y,
    forecast_columns,
    quantile_columns,
    quantile_suffix,
)
from training.blend.weights import BUCKET, ONE_SE, _series_mean_loss, combine
from training.metrics import pair_codes, pinball

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
