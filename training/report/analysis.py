"""What the report derives from a `Run`: model rankings, the featured model, sampled items,
per-series sMAPE, precision-at-k curves. Plain pandas/numpy, no drawing and no markup.

sMAPE is `training.metrics.smape`, the one the backtest reports (its metric, not a copy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from darkhorse.core.schema import CUTOFF, ID, Y
from training.backtest import BLEND
from training.metrics import smape
from training.report.run import Run

# feature-name prefixes of variable-selection weights (the TFT: `static:<var>`, ...)
VARIABLE_KINDS = ("static", "encoder", "decoder")


def number(value: Any) -> float | None:
    """A finite-or-infinite float, or None for null / non-numeric / NaN."""
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def model_metric(run: Run, model: str, key: str) -> float | None:
    entry = (run.metrics.get("models") or {}).get(model)
    return number(entry.get(key)) if isinstance(entry, dict) else None


def reference_ratios(run: Run) -> tuple[str | None, dict[str, Any] | None]:
    """(reference model, model -> ratios) of metrics.json's `ratios_vs`, if it has one."""
    ratios = run.metrics.get("ratios_vs")
    if not isinstance(ratios, dict) or not ratios:
        return None, None
    reference, values = next(iter(ratios.items()))
    return str(reference), values if isinstance(values, dict) else None


def band(run: Run, model: str) -> tuple[str, str, str] | None:
    """(lower column, upper column, label) of the widest q10-q90-like band of `model`."""
    levels = run.quantiles.get(model, {})
    lows = [q for q in levels if q < 50]
    highs = [q for q in levels if q > 50]
    if not lows or not highs:
        return None
    lo = 10 if 10 in levels else min(lows)
    hi = 90 if 90 in levels else max(highs)
    return levels[lo], levels[hi], f"q{lo}–q{hi}"


def ranked_models(run: Run, candidates: Sequence[str]) -> list[str]:
    """`candidates` from best to worst: MASE in metrics.json, else mean series MASE, else MAE."""
    scores: dict[str, float] = {}
    for m in candidates:
        v = model_metric(run, m, "mase")
        if v is not None and math.isfinite(v):
            scores[m] = v
    sm = run.series_metrics
    if not scores and sm is not None and {"model", "mase"} <= set(sm.columns):
        means = sm.groupby("model")["mase"].mean()
        scores = {m: float(means[m]) for m in candidates if m in means and np.isfinite(means[m])}
    if not scores:
        rows = run.eval_rows
        for m in candidates:
            err = (rows[Y] - rows[m]).abs().mean()
            if np.isfinite(err):
                scores[m] = float(err)
    order = {m: i for i, m in enumerate(candidates)}
    return sorted(scores, key=lambda m: (scores[m], order[m]))


def ensemble(run: Run) -> str:
    """The ensemble's column: metrics.json `ensemble` (the load backtest's), else the blend."""
    return str(run.metrics.get("ensemble") or BLEND)


def grain(run: Run) -> str | None:
    """metrics.json `freq` (an interval backtest's grain, e.g. "5min"); None for weeks."""
    freq = run.metrics.get("freq")
    return str(freq) if freq else None


def period_unit(run: Run) -> str:
    """What one forecast step is, in words: "weeks", or "5min intervals"."""
    freq = grain(run)
    return f"{freq} intervals" if freq else "weeks"


def best_single(run: Run) -> str | None:
    ranked = ranked_models(run, [m for m in run.models if m != ensemble(run)])
    return ranked[0] if ranked else None


def featured_model(run: Run) -> str | None:
    """The blend (or the ensemble) when there is one, else the best-ranked model."""
    if ensemble(run) in run.models:
        return ensemble(run)
    ranked = ranked_models(run, run.models)
    return ranked[0] if ranked else None


def sample_items(rows: pd.DataFrame, n: int) -> list[str]:
    """The ceil(n/2) items with the largest total y, then those closest to the median total."""
    totals = rows.groupby(ID)[Y].sum(min_count=1).dropna()
    if totals.empty:
        return []
    ranked = (
        totals.rename("total").reset_index().sort_values(["total", ID], ascending=[False, True])
    )
    n = min(n, len(ranked))
    top = ranked[ID].head(math.ceil(n / 2)).tolist()
    rest = ranked[~ranked[ID].isin(top)].copy()
    rest["gap"] = (rest["total"] - float(totals.median())).abs()
    median = rest.sort_values(["gap", ID])[ID].head(n - len(top)).tolist()
    return top + median


def residuals(run: Run, models: Sequence[str]) -> dict[str, np.ndarray]:
    """Finite `y - point forecast` of each model on the evaluation windows (empty ones left out)."""
    rows = run.eval_rows
    out = {}
    for m in models:
        r = (rows[Y] - rows[m]).dropna().to_numpy(dtype=float)
        r = r[np.isfinite(r)]
        if r.size:
            out[m] = r
    return out


def series_smape(run: Run) -> tuple[dict[str, np.ndarray], str]:
    """model -> sMAPE per series and evaluation window, and where the values came from."""
    sm = run.series_metrics
    if sm is not None and {"model", "smape"} <= set(sm.columns):
        rows = sm
        if run.eval_cutoffs and CUTOFF in sm.columns:
            eval_only = sm[sm[CUTOFF].isin(run.eval_cutoffs)]
            rows = eval_only if not eval_only.empty else sm
        order = [m for m in run.models if m in set(rows["model"])]
        order += sorted(set(rows["model"].astype(str)) - set(order))
        data = {m: rows.loc[rows["model"] == m, "smape"].to_numpy(dtype=float) for m in order}
        return data, "series_metrics.parquet"
    rows = run.eval_rows
    y = rows[Y].to_numpy(dtype=float)
    data = {}
    for m in run.models:
        f = rows[m].to_numpy(dtype=float)
        # a week without an actual or a forecast has no error (not a perfect one)
        per_row = pd.Series(np.where(np.isnan(y) | np.isnan(f), np.nan, smape(y, f)), index=rows.index)
        data[m] = per_row.groupby([rows[ID], rows[CUTOFF]], dropna=False).mean().to_numpy()
    return data, "forecasts.parquet (series_metrics.parquet not available)"


def variable_models(run: Run) -> list[str]:
    """Models whose every importance row is a `static:`/`encoder:`/`decoder:` variable weight."""
    fi = run.feature_importance
    if fi is None or not {"model", "feature", "importance"} <= set(fi.columns) or fi.empty:
        return []
    kinds = fi["feature"].astype(str).str.split(":", n=1).str[0]
    ok = kinds.isin(VARIABLE_KINDS) & fi["feature"].astype(str).str.contains(":", regex=False)
    by_model = ok.groupby(fi["model"].astype(str)).all()
    return [str(m) for m in by_model.index if by_model[m]]


def precision_at_k(group: pd.DataFrame, k_max: int) -> np.ndarray:
    """Precision of the k best-scored items of one cutoff, k = 1 .. k_max."""
    ranked = group.sort_values(ID).sort_values("score", ascending=False, kind="stable")
    hits = ranked["label"].to_numpy(dtype=float)[:k_max]
    return np.cumsum(hits) / np.arange(1, len(hits) + 1)


def known_hot_sellers(hs: pd.DataFrame, cutoffs: Sequence[pd.Timestamp]) -> pd.DataFrame:
    """Rows of `hs` (`unique_id, model, score, label`[, cutoff]) with a score and a known label,
    only those of `cutoffs` when there are any."""
    known = hs.dropna(subset=["score", "label"]).copy()
    known[ID] = known[ID].astype(str)
    if CUTOFF not in known.columns:
        known[CUTOFF] = pd.NaT
    if len(cutoffs):
        eval_only = known[known[CUTOFF].isin(cutoffs)]
        known = eval_only if not eval_only.empty else known
    return known


def mean_precision_curves(known: pd.DataFrame, top_share: float) -> dict[str, np.ndarray]:
    """Scorer -> precision at k averaged over cutoffs, k up to `top_share` of a cutoff's items."""
    out = {}
    for m in dict.fromkeys(known["model"].astype(str)):
        curves = []
        for _, group in known[known["model"].astype(str) == m].groupby(CUTOFF, dropna=False):
            k_max = max(1, math.ceil(top_share * group[ID].nunique()))
            curves.append(precision_at_k(group, k_max))
        length = max(len(c) for c in curves)
        padded = np.full((len(curves), length), np.nan)
        for row, c in enumerate(curves):
            padded[row, : len(c)] = c
        out[m] = np.nanmean(padded, axis=0)
    return out
