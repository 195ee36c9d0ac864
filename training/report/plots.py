"""The report's figures: one function per plot, each returning a matplotlib `Figure` and its
caption, or raising `Unavailable` with the reason when its input is missing.

Plots are drawn on `matplotlib.figure.Figure` objects with the Agg canvas: no pyplot state, no
display needed, and the caller's matplotlib backend is left alone. matplotlib is imported only
when a figure is drawn. Nothing here reads or writes files.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from darkhorse.core.errors import DarkHorseError
from darkhorse.core.schema import CUTOFF, DS, ID, Y
from training.report import analysis
from training.report.analysis import VARIABLE_KINDS
from training.report.run import Run

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIGSIZE = (8.0, 4.5)
DPI = 110
TOP_FEATURES = 20
TOP_K_SHARE = 0.20

# key -> (file under plots/, heading); the variable-importance plot exists only for TFT runs
PLOTS = {
    "forecast": ("forecast_vs_actual.png", "Forecast vs actual"),
    "residuals": ("residuals.png", "Residuals"),
    "smape": ("smape_violin.png", "sMAPE per series"),
    "importance": ("feature_importance.png", "Feature importance"),
    "variables": ("variable_importance.png", "Variable importance (TFT variable selection)"),
    "hot": ("hot_sellers_precision_at_k.png", "Hot sellers: precision at k"),
    "weights": ("blend_weights.png", "Blend weights"),
}
VARIABLE_PLOT = PLOTS["variables"][0]
PLOT_FILES = {key: file for key, (file, _) in PLOTS.items() if key != "variables"}

Drawn = tuple["Figure", str]


class Unavailable(DarkHorseError):
    """The plot's input is missing; the message says which (`write_report` shows it in the
    page instead of the plot; it never leaves the report)."""


def planned(run: Run, sample_items: int) -> list[tuple[str, Callable[[], Drawn]]]:
    """The report's plots in page order: (key, draw)."""
    plots: list[tuple[str, Callable[[], Drawn]]] = [
        ("forecast", lambda: forecasts(run, max(1, sample_items))),
        ("residuals", lambda: residuals(run)),
        ("smape", lambda: smape(run)),
        ("importance", lambda: importance(run)),
        ("hot", lambda: hot_sellers(run)),
        ("weights", lambda: blend_weights(run)),
    ]
    if analysis.variable_models(run):
        plots.insert(4, ("variables", lambda: variable_importance(run)))
    return plots


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes (tight layout, the report's resolution); the figure is cleared."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, dpi=DPI, format="png")
    fig.clear()
    return buf.getvalue()


def _figure(figsize: tuple[float, float] = FIGSIZE, **subplots: Any) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=DPI)
    axes = fig.subplots(**subplots) if subplots else fig.subplots()
    return fig, axes


def forecasts(run: Run, sample_items: int) -> Drawn:
    model = analysis.featured_model(run)
    if model is None:
        raise Unavailable("no model columns in forecasts.parquet")
    fc = run.forecasts
    last = max(run.eval_cutoffs) if run.eval_cutoffs else fc[CUTOFF].max()
    window = fc[fc[CUTOFF] == last] if pd.notna(last) else fc
    items = analysis.sample_items(window, sample_items)
    if not items:
        raise Unavailable("no realized values in the last evaluation window")

    actual = fc[fc[ID].isin(items)].groupby([ID, DS])[Y].mean().sort_index()
    band = analysis.band(run, model)
    ncols = min(3, len(items))
    nrows = math.ceil(len(items) / ncols)
    fig, axes = _figure(
        (FIGSIZE[0], max(FIGSIZE[1], 2.25 * nrows)), nrows=nrows, ncols=ncols, sharex=True, squeeze=False
    )
    for ax, item in zip(axes.flat, items, strict=False):
        ys = actual.loc[item]
        ax.plot(ys.index, ys.to_numpy(), color="#222", lw=1.0, label="actual")
        part = window[window[ID] == item].sort_values(DS)
        if band is not None:
            ax.fill_between(part[DS], part[band[0]], part[band[1]], color="C1", alpha=0.25, lw=0, label=band[2])
        ax.plot(part[DS], part[model], color="C1", lw=1.4, label=model)
        if pd.notna(last):
            ax.axvline(last, color="#888", ls="--", lw=0.8)
        label = item if len(item) <= 28 else item[:27] + "…"
        ax.set_title(label, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.tick_params(axis="x", labelrotation=30)
    for ax in list(axes.flat)[len(items) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, loc="upper left")
    freq = analysis.grain(run)
    stamp = "%Y-%m-%d %H:%M" if freq else "%Y-%m-%d"
    cutoff_text = f"{pd.Timestamp(last):{stamp}}" if pd.notna(last) else "the last cutoff"
    band_text = f" with its {band[2]} band" if band else ""
    what = f"load per {freq} interval (black) for {len(items)} series" if freq else f"weekly demand (black) for {len(items)} items"
    caption = (
        f"Actual {what} (the largest by volume in the last "
        f"evaluation window, then median-volume ones) and the {model} forecast{band_text} made "
        f"at cutoff {cutoff_text} (dashed line)."
    )
    return fig, caption


def residuals(run: Run) -> Drawn:
    shown = []
    blend = analysis.ensemble(run)
    if blend in run.models:
        shown.append(blend)
    best = analysis.best_single(run)
    if best is not None:
        shown.append(best)
    errors = analysis.residuals(run, shown)
    if not errors:
        raise Unavailable("no residuals on the evaluation windows")
    pooled = np.concatenate(list(errors.values()))
    lo, hi = np.percentile(pooled, [1, 99])
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    bins = np.linspace(lo, hi, 51)
    fig, ax = _figure()
    for i, (m, r) in enumerate(errors.items()):
        clipped = r[(r >= lo) & (r <= hi)]
        label = f"{m} (best single model)" if m == best and m != blend else m
        ax.hist(clipped, bins=bins, alpha=0.5, color=f"C{i}", label=label)
    ax.axvline(0, color="#444", lw=0.8)
    ax.set_xlabel("y − point forecast")
    ax.set_ylabel("rows")
    ax.legend(fontsize=8)
    caption = (
        "Distribution of forecast errors (actual minus point forecast) on the evaluation windows "
        f"for {' and '.join(errors)}, limited to the 1st–99th percentile; mass right of zero "
        "means under-forecasting."
    )
    return fig, caption


def smape(run: Run) -> Drawn:
    data, source = analysis.series_smape(run)
    data = {m: v[np.isfinite(v)] for m, v in data.items()}
    data = {m: v for m, v in data.items() if v.size}
    if not data:
        raise Unavailable("no sMAPE values")
    fig, ax = _figure()
    positions = np.arange(1, len(data) + 1)
    spread = [(p, v) for p, v in zip(positions, data.values(), strict=True) if np.ptp(v) > 0]
    if spread:
        parts = ax.violinplot(
            [v for _, v in spread], positions=[p for p, _ in spread], showmedians=True, widths=0.8
        )
        for body in parts["bodies"]:
            body.set_alpha(0.55)
    for p, v in zip(positions, data.values(), strict=True):
        if np.ptp(v) == 0:  # a constant sample has no density to draw
            ax.plot([p], [v[0]], marker="_", markersize=20, color="C0")
    ax.set_xticks(positions, labels=list(data), rotation=20, fontsize=8)
    ax.set_ylabel("sMAPE (0–200)")
    caption = (
        "Distribution over series and evaluation windows of each model's sMAPE (from "
        f"{source}); lower and narrower is better, the middle bar marks the median."
    )
    return fig, caption


def importance(run: Run) -> Drawn:
    fi = run.feature_importance
    if fi is None:
        raise Unavailable("feature_importance.parquet is missing")
    if not {"model", "feature", "importance"} <= set(fi.columns) or fi.empty:
        raise Unavailable("feature_importance.parquet has no model/feature/importance rows")
    fi = fi.dropna(subset=["importance"])
    selection = set(analysis.variable_models(run))  # drawn in their own plot
    fi = fi[~fi["model"].astype(str).isin(selection)]
    models = list(dict.fromkeys(fi["model"].astype(str)))
    if not models:
        raise Unavailable("feature_importance.parquet has no importance values")
    ncols = min(2, len(models))
    nrows = math.ceil(len(models) / ncols)
    width = FIGSIZE[0] if ncols == 1 else 11.0
    fig, axes = _figure((width, max(FIGSIZE[1], 5.0 * nrows)), nrows=nrows, ncols=ncols, squeeze=False)
    for ax, m in zip(axes.flat, models, strict=False):
        top = (
            fi[fi["model"].astype(str) == m]
            .groupby("feature")["importance"]
            .sum()
            .sort_values(ascending=False, kind="stable")
            .head(TOP_FEATURES)[::-1]
        )
        ax.barh([str(f) for f in top.index], top.to_numpy(), color="C0")
        ax.set_title(m, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(models) :]:
        ax.set_visible(False)
    caption = (
        f"The {TOP_FEATURES} most important features of each model that reports importances, "
        "as the model measures it (longer bar means more influence)."
    )
    return fig, caption


def variable_importance(run: Run) -> Drawn:
    fi = run.feature_importance
    models = analysis.variable_models(run)
    if fi is None or not models:
        raise Unavailable("no variable-selection importances")
    fig, axes = _figure(
        (11.0, max(FIGSIZE[1], 3.2 * len(models))), nrows=len(models), ncols=len(VARIABLE_KINDS),
        squeeze=False,
    )
    for row, m in enumerate(models):
        part = fi[fi["model"].astype(str) == m].dropna(subset=["importance"])
        kind = part["feature"].astype(str).str.split(":", n=1).str[0]
        name = part["feature"].astype(str).str.split(":", n=1).str[1]
        for col, k in enumerate(VARIABLE_KINDS):
            ax = axes[row, col]
            vals = part[kind == k].groupby(name[kind == k])["importance"].sum()
            total = vals.sum()
            vals = (vals / total if total > 0 else vals).sort_values(kind="stable").tail(TOP_FEATURES)
            if vals.empty:
                ax.set_visible(False)
                continue
            ax.barh([str(v) for v in vals.index], vals.to_numpy(), color=f"C{col}")
            ax.set_title(f"{m}: {k} variables", fontsize=9)
            ax.tick_params(labelsize=7)
    caption = (
        "Share of each input in the TFT's variable-selection networks, averaged over the backtest "
        "windows' prediction batches: static covariates, the encoder's past inputs and the "
        "decoder's known future inputs (each panel sums to 1)."
    )
    return fig, caption


def hot_sellers(run: Run) -> Drawn:
    hs = run.hot_sellers
    if hs is None:
        raise Unavailable("hot_sellers.parquet is missing")
    if not {ID, "model", "score", "label"} <= set(hs.columns):
        raise Unavailable("hot_sellers.parquet lacks unique_id/model/score/label")
    known = analysis.known_hot_sellers(hs, run.eval_cutoffs)
    if known.empty:
        raise Unavailable("no hot-seller rows with a known label")
    fig, ax = _figure()
    curves = analysis.mean_precision_curves(known, TOP_K_SHARE)
    for i, (m, mean) in enumerate(curves.items()):
        ax.plot(np.arange(1, len(mean) + 1), mean, color=f"C{i}", lw=1.4, label=m)
    base = float(known["label"].mean())
    ax.axhline(base, color="#888", ls=":", lw=1.0, label=f"base rate {base:.3g}")
    ax.set_xlabel("k (top-ranked items per cutoff)")
    ax.set_ylabel("precision at k")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    caption = (
        "Share of true hot sellers among each scorer's k highest-scored items, k up to "
        f"{TOP_K_SHARE:.0%} of the items of a cutoff, averaged over evaluation cutoffs where "
        "the label is known; the dotted line is what random picks would achieve."
    )
    return fig, caption


def blend_weights(run: Run) -> Drawn:
    bw = run.blend_weights
    if bw is None:
        raise Unavailable("blend_weights.parquet is missing")
    if not {"model", "weight"} <= set(bw.columns) or bw.dropna(subset=["weight"]).empty:
        raise Unavailable("blend_weights.parquet has no model/weight rows")
    bw = bw.dropna(subset=["weight"]).copy()
    bw["source"] = bw["source"].astype(str) if "source" in bw.columns else "all"
    table = bw.pivot_table(index="model", columns="source", values="weight", aggfunc="mean")
    order = [m for m in run.models if m in table.index]
    order += sorted(str(m) for m in table.index if m not in order)
    table = table.reindex(order)
    counts = bw.groupby("source")[ID].nunique() if ID in bw.columns else None
    fig, ax = _figure()
    x = np.arange(len(table.index))
    width = 0.8 / max(1, len(table.columns))
    for i, source in enumerate(table.columns):
        label = str(source)
        if counts is not None and source in counts and counts[source] > 1:
            label += f" ({counts[source]} series)"
        ax.bar(
            x + (i - (len(table.columns) - 1) / 2) * width, table[source].to_numpy(), width=width,
            color=f"C{i}", label=label,
        )
    ax.set_xticks(x, labels=[str(m) for m in table.index], rotation=20, fontsize=8)
    ax.set_ylabel("mean weight")
    ax.legend(fontsize=8)
    caption = (
        "Mean weight the blend gives each model, split by whether the weights were fitted per "
        "series or globally; a model near zero contributes little to the blend."
    )
    return fig, caption
