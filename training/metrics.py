"""Forecast and ranking metrics, per series and global.

* SMAPE (0..200): 200 |y - f| / (|y| + |f|), 0 where both are 0.
* MAE, RMSE, WAPE (sum |e| / sum |y|).
* MASE: MAE over the series' in-sample naive MAE before the cutoff: the one-step naive for
  weeks, the seasonal naive of the grain's day for intervals (`naive_scale(season=...)`).
  A series whose history never changed (scale 0, or a single week: new items) has no MASE of
  its own; it is not dropped silently but reported apart: `n_series_unscaled` counts the
  series with such a window and `mase_unscaled` is their MAE over the panel's mean naive scale at the same cutoff
  (the mean of the positive scales), so their errors are on the same footing as the rest.
  `n_series_scaled` counts the series (not the rows) that have a MASE.
* scaled pinball: mean pinball loss over the quantiles, over the same naive scale.
* coverage_80: share of actuals inside [q10, q90].
Global values are means of per-(series, window) values (M4 style), WAPE pooled.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from darkhorse.core.schema import CUTOFF, ID, Y, quantile_columns

# hot-seller scorers whose score is a probability (the classifiers, prior-corrected): the only
# ones with a Brier score. `final` is a ranking (a rank-weighted stack), momentum and the
# growth scores are ratios; a value that happens to lie in [0, 1] is not a probability.
PROBABILITY_SCORES = ("classifier", "transformer")
FORECAST_METRICS = ("smape", "mae", "rmse", "mase", "wape", "scaled_pinball", "coverage_80")


def smape(y: np.ndarray, f: np.ndarray) -> np.ndarray:
    den = np.abs(y) + np.abs(f)
    return np.where(den > 0, 200.0 * np.abs(y - f) / np.where(den > 0, den, 1.0), 0.0)


def pinball(y: np.ndarray, q: np.ndarray, level: float) -> np.ndarray:
    d = y - q
    return np.maximum(level * d, (level - 1.0) * d)


def pair_codes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One code per distinct (a, b) pair (a series and a cutoff), numbered in order of first
    appearance as `pd.factorize` numbers their MultiIndex, without building its tuples: on a
    2,000-series panel those tuples took most of the blend's seconds."""
    ca, _ = pd.factorize(a)
    cb, ub = pd.factorize(b)
    return pd.factorize(ca.astype("int64") * max(len(ub), 1) + cb)[0]


def naive_scale(history: pd.DataFrame, *, season: int = 1) -> pd.Series:
    """In-sample MAE of the naive forecast `season` steps back per series (history sorted by
    id, ds): the one-step naive for weeks (`season` 1), the seasonal naive of the grain's day
    for intervals (288 at 5 min, as the M4 guide scales hourly series with m = 24). A series
    no longer than its season is scaled by its one-step naive instead."""
    if season < 1:
        raise ValueError(f"naive_scale: season must be at least 1, got {season}")
    groups = history.groupby(ID, sort=False)[Y]
    d = groups.diff().abs()
    if season > 1:
        long = groups.transform("size").to_numpy() > season
        d = d.where(~long, groups.diff(season).abs())
    return d.groupby(history[ID], sort=False).mean()


def panel_scale(scale: pd.DataFrame) -> pd.DataFrame:
    """`cutoff, panel_scale`: the mean of the positive, finite naive scales at each cutoff."""
    v = scale[np.isfinite(scale["scale"].to_numpy(dtype="float64")) & (scale["scale"] > 0)]
    return v.groupby(CUTOFF, sort=False)["scale"].mean().rename("panel_scale").reset_index()


def series_metrics(
    fc: pd.DataFrame, model: str, quantiles: Sequence[float], scale: pd.DataFrame
) -> pd.DataFrame:
    """Per (series, cutoff) metrics of one model. `scale`: `unique_id, cutoff, scale`."""
    qs = sorted(quantiles)
    qcols = quantile_columns(model, qs)
    y = fc[Y].to_numpy(dtype="float64")
    f = fc[model].to_numpy(dtype="float64")
    e = np.abs(y - f)
    if qs:
        pin = np.mean([pinball(y, fc[c].to_numpy(dtype="float64"), q) for q, c in zip(qs, qcols, strict=True)], axis=0)
    else:  # a point forecast alone (the suite's peers): no pinball loss
        pin = np.full(len(y), np.nan)
    lo, hi = _interval_columns(model, qs)
    cov = ((y >= fc[lo].to_numpy()) & (y <= fc[hi].to_numpy())).astype("float64") if lo else np.full(len(y), np.nan)
    tmp = pd.DataFrame(
        {ID: fc[ID].to_numpy(), CUTOFF: fc[CUTOFF].to_numpy(), "smape": smape(y, f), "ae": e,
         "se": (y - f) ** 2, "absy": np.abs(y), "pin": pin, "cov": cov}
    )
    g = tmp.groupby([ID, CUTOFF], sort=False).agg(
        smape=("smape", "mean"), mae=("ae", "mean"), mse=("se", "mean"), sum_ae=("ae", "sum"),
        sum_y=("absy", "sum"), pin=("pin", "mean"), coverage_80=("cov", "mean"), n=("ae", "size"),
    ).reset_index()
    g = g.merge(scale, on=[ID, CUTOFF], how="left").merge(panel_scale(scale), on=CUTOFF, how="left")
    sc = g["scale"].to_numpy(dtype="float64")
    ok = np.isfinite(sc) & (sc > 0)
    g["rmse"] = np.sqrt(g.pop("mse"))
    g["mase"] = np.where(ok, g["mae"] / np.where(ok, sc, 1.0), np.nan)
    ps = g.pop("panel_scale").to_numpy(dtype="float64")
    g["mase_unscaled"] = np.where(~ok & (ps > 0), g["mae"] / np.where(ps > 0, ps, 1.0), np.nan)
    g["scaled_pinball"] = np.where(ok, g["pin"] / np.where(ok, sc, 1.0), np.nan)
    g["wape"] = np.where(g["sum_y"] > 0, g["sum_ae"] / g["sum_y"].where(g["sum_y"] > 0, 1.0), np.nan)
    g["model"] = model
    return g


def bucket_of(step: np.ndarray, edges: Sequence[int]) -> np.ndarray:
    """Bucket index of each step: edges [4, 8] give 0 for 1-4, 1 for 5-8, 2 for 9 and beyond."""
    return np.searchsorted(np.asarray(list(edges), dtype="int64"), np.asarray(step, dtype="int64"), side="left")


def coverage_by_bucket(
    fc: pd.DataFrame, model: str, quantiles: Sequence[float], edges: Sequence[int],
    intervals: Sequence[tuple[float, float]] = ((0.1, 0.9), (0.01, 0.99)),
) -> dict[str, dict[str, float | int]]:
    """Share of actuals inside each central interval of `model` whose two levels it forecasts
    (`coverage_80` for q10-q90, `coverage_98` for q1-q99), per horizon-step bucket (`edges`
    as the blend's: [4, 8] gives "1-4", "5-8", "9+"), over the rows of `fc` with an actual
    (`cutoff` and `ds` give the step)."""
    have = {round(q, 6) for q in quantiles}
    pairs = [(lo, hi) for lo, hi in intervals if round(lo, 6) in have and round(hi, 6) in have]
    f = fc[fc[Y].notna()]
    if not pairs or f.empty:
        return {}
    step = ((f["ds"] - f[CUTOFF]) // pd.Timedelta(weeks=1)).to_numpy()
    bucket = bucket_of(step, edges)
    bounds = [0, *edges]
    names = [f"{a + 1}-{b}" for a, b in itertools.pairwise(bounds)] + [f"{bounds[-1] + 1}+"]
    y = f[Y].to_numpy(dtype="float64")
    out: dict[str, dict[str, float | int]] = {}
    for b, name in enumerate(names):
        sel = bucket == b
        if not sel.any():
            continue
        row: dict[str, float | int] = {"n": int(sel.sum())}
        for lo, hi in pairs:
            lo_c, hi_c = quantile_columns(model, [lo, hi])
            inside = (y[sel] >= f[lo_c].to_numpy()[sel]) & (y[sel] <= f[hi_c].to_numpy()[sel])
            row[f"coverage_{round((hi - lo) * 100)}"] = float(inside.mean())
        out[name] = row
    return out


def _interval_columns(model: str, qs: Sequence[float]) -> tuple[str | None, str | None]:
    names = dict(zip([round(q * 100) for q in qs], quantile_columns(model, qs), strict=True))
    if 10 in names and 90 in names:
        return names[10], names[90]
    return None, None


def summarize(per_series: pd.DataFrame) -> dict[str, float | int | None]:
    """Global metrics of one model from its per-series rows."""
    def mean(c: str) -> float | None:
        v = per_series[c].to_numpy(dtype="float64")
        v = v[np.isfinite(v)]
        return float(v.mean()) if v.size else None

    total_y = float(per_series["sum_y"].sum())
    scaled = np.isfinite(per_series["mase"].to_numpy(dtype="float64"))
    unscaled = per_series.loc[~scaled, ID].unique()
    return {
        "smape": mean("smape"),
        "mae": mean("mae"),
        "rmse": mean("rmse"),
        "mase": mean("mase"),
        "wape": float(per_series["sum_ae"].sum() / total_y) if total_y > 0 else None,
        "scaled_pinball": mean("scaled_pinball"),
        "coverage_80": mean("coverage_80"),
        "n_series": int(per_series[ID].nunique()),
        "n_series_scaled": int(per_series.loc[scaled, ID].nunique()),
        "n_series_unscaled": len(unscaled),
        "mase_unscaled": mean("mase_unscaled") if "mase_unscaled" in per_series else None,
    }


def paired_difference(per_series: pd.DataFrame, a: str, b: str, column: str = "mase") -> dict[str, float | int] | None:
    """Model `a` minus model `b` on the (series, window) rows where both have `column`
    (`series_metrics` rows of both models): the mean difference, its standard error clustered
    by series (a series' windows are not independent: residuals are summed within a series
    before they are squared), the difference in percent of `b`'s mean on the same rows, and the number of series.
    None when fewer than two series have both."""
    keys = [ID, CUTOFF]
    va = per_series.loc[per_series["model"] == a, [*keys, column]]
    vb = per_series.loc[per_series["model"] == b, [*keys, column]]
    j = va.merge(vb, on=keys, suffixes=("_a", "_b"))
    j = j[np.isfinite(j[f"{column}_a"].to_numpy(dtype="float64")) & np.isfinite(j[f"{column}_b"].to_numpy(dtype="float64"))]
    d = (j[f"{column}_a"] - j[f"{column}_b"]).to_numpy(dtype="float64")
    n_series = int(j[ID].nunique())
    if n_series < 2:
        return None
    diff = float(d.mean())
    # cluster-robust: the residuals summed within a series, squared, summed over series
    sums = pd.Series(d - diff).groupby(j[ID].to_numpy(), sort=False).sum().to_numpy()
    se = float(np.sqrt((sums**2).sum() * n_series / (n_series - 1)) / len(d))
    base = float(j[f"{column}_b"].mean())
    return {"diff": diff, "se": se, "pct": 100.0 * diff / base if base else float("nan"), "n_series": n_series}


# --------------------------------------------------------------------------- ranking
def _unknown_last(score: np.ndarray) -> np.ndarray:
    """`score` as floats with a missing score ranked last, all missing ones tied."""
    score = np.asarray(score, dtype="float64")
    return np.where(np.isnan(score), -np.inf, score)


def average_precision(score: np.ndarray, label: np.ndarray, *, ties: str = "threshold") -> float | None:
    """Average precision of ranking by `score` (None without positives).

    `ties="threshold"` counts items with equal scores as one threshold (each positive among them
    gets the precision at the end of their group: the usual definition, independent of row
    order); `ties="row"` orders them as their rows come (what a served list of tied scores
    shows, and how the final hot-seller choice weighs its candidates: see
    `training.hot_sellers.combine`)."""
    pos = label.sum()
    if pos == 0:
        return None
    if ties not in ("threshold", "row"):
        raise ValueError(f"average_precision: ties must be 'threshold' or 'row', not {ties!r}")
    score = _unknown_last(score)
    order = np.argsort(-score, kind="stable")
    hits = label[order]
    seen = np.arange(1, len(hits) + 1)
    tp = np.cumsum(hits)
    if ties == "threshold":
        s = score[order]
        # the last row of every group of equal scores: each row takes its group's end
        last = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]
        end = np.repeat(last, np.diff(np.r_[-1, last]))
        tp, seen = tp[end], seen[end]
    return float((tp / seen * hits).sum() / pos)


def top_fraction(score: np.ndarray, label: np.ndarray, fraction: float) -> tuple[float, float]:
    """Precision and recall of the top `fraction` of items by score. Items whose score ties the
    cut count by their share: a tied group straddling it adds its positives' rate times the
    places it fills (the mean over every order of the tie)."""
    k = max(1, round(len(score) * fraction))
    score = _unknown_last(score)
    order = np.argsort(-score, kind="stable")
    s, hits_sorted = score[order], label[order]
    cut = s[k - 1]
    above = s > cut
    tied = s == cut
    n_above = int(above.sum())
    hits = float(hits_sorted[above].sum()) + (k - n_above) * float(hits_sorted[tied].mean())
    pos = label.sum()
    return float(hits / k), (float(hits / pos) if pos else float("nan"))


def ranking_metrics(
    df: pd.DataFrame, *, fraction: float, baseline: str = "momentum",
    probabilities: Sequence[str] = PROBABILITY_SCORES,
) -> dict[str, dict[str, float | int | None]]:
    """Per score model, averaged over cutoffs: AP, P/R at the top fraction, lift, Brier.

    `df`: `unique_id, cutoff, model, score, label` (rows with an unknown label are ignored).
    Lift = precision at the top fraction over the baseline's. Brier only for the scorers named
    in `probabilities` (None for the others, `final` included).
    """
    known = df[df["label"].notna()]
    out: dict[str, dict[str, float | int | None]] = {}
    for model, g in known.groupby("model", sort=True):
        aps, ps, rs, briers = [], [], [], []
        is_prob = str(model) in probabilities
        for _, c in g.groupby("cutoff"):
            s = c["score"].to_numpy(dtype="float64")
            lab = c["label"].to_numpy(dtype="float64")
            ap = average_precision(s, lab)
            if ap is not None:
                aps.append(ap)
            p, r = top_fraction(s, lab, fraction)
            ps.append(p)
            rs.append(r)
            if is_prob:
                briers.append(float(np.mean((s - lab) ** 2)))
        out[str(model)] = {
            "average_precision": float(np.mean(aps)) if aps else None,
            "precision_at_top": float(np.mean(ps)) if ps else None,
            "recall_at_top": float(np.nanmean(rs)) if rs else None,
            "brier": float(np.mean(briers)) if briers else None,
            "n": len(g),
            "positives": int(g["label"].sum()),
            "cutoffs": int(g["cutoff"].nunique()),
        }
    base = out.get(baseline, {}).get("precision_at_top")
    for m in out.values():
        p = m["precision_at_top"]
        m["lift_vs_momentum"] = (p / base) if (base and p is not None) else None
    return out
