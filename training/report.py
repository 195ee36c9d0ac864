"""A self-contained HTML report of one backtest run.

`write_report(out_dir)` reads what a backtest leaves in `out_dir`:

* `forecasts.parquet` (required): `unique_id, ds, cutoff, window, y` and, for every model `M`,
  the point forecast `M` and its quantiles `M-qNN`;
* `metrics.json` (required): aggregate forecast and hot-seller metrics, windows, run metadata;
* optional: `series_metrics.parquet`, `hot_sellers.parquet`, `feature_importance.parquet`,
  `blend_weights.parquet`; a section whose file is missing says "not available".

Models whose importances are variable-selection weights (the TFT: features named
`static:<var>`, `encoder:<var>`, `decoder:<var>`) get their own plot, one panel per kind, written
only when such rows exist (`plots/variable_importance.png`).

It writes PNG plots into `out_dir/plots/` and one `out_dir/report.html` with those images embedded
as base64 data URIs, so the page can be moved or mailed on its own. Plots are drawn on
`matplotlib.figure.Figure` objects with the Agg canvas: no pyplot state, no display needed, and
the caller's matplotlib backend is left alone. matplotlib is imported only when plotting.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

ID, DS, Y, CUTOFF, WINDOW = "unique_id", "ds", "y", "cutoff", "window"
BLEND = "blend"
SEASONAL_NAIVE = "seasonal_naive"
NA = "–"
FIGSIZE = (8.0, 4.5)
DPI = 110
TOP_FEATURES = 20
TOP_K_SHARE = 0.20

PLOT_FILES = {
    "forecast": "forecast_vs_actual.png",
    "residuals": "residuals.png",
    "smape": "smape_violin.png",
    "importance": "feature_importance.png",
    "hot": "hot_sellers_precision_at_k.png",
    "weights": "blend_weights.png",
}

VARIABLE_PLOT = "variable_importance.png"
VARIABLE_KINDS = ("static", "encoder", "decoder")

_QUANTILE_COLUMN = re.compile(r"^(?P<model>.+)-q(?P<level>\d+)$")
_RESERVED = {ID, DS, Y, CUTOFF, WINDOW}

# (key, header, direction): "min"/"max" mark the lowest/highest value of the column in bold,
# "target:x" the value closest to x, None nothing.
FORECAST_COLUMNS: list[tuple[str, str, str | None]] = [
    ("smape", "sMAPE", "min"),
    ("mae", "MAE", "min"),
    ("rmse", "RMSE", "min"),
    ("mase", "MASE", "min"),
    ("wape", "WAPE", "min"),
    ("scaled_pinball", "Scaled pinball", "min"),
    ("coverage_80", "Coverage 80%", "target:0.8"),
    ("n_series", "Series", None),
]
RATIO_COLUMNS: list[tuple[str, str, str | None]] = [
    ("mase", "MASE / seasonal naive", "min"),
    ("scaled_pinball", "Pinball / seasonal naive", "min"),
]
HOT_COLUMNS: list[tuple[str, str, str | None]] = [
    ("average_precision", "Average precision", "max"),
    ("precision_at_top", "Precision at top", "max"),
    ("recall_at_top", "Recall at top", "max"),
    ("lift_vs_momentum", "Lift vs momentum", "max"),
    ("brier", "Brier", "min"),
    ("n", "n", None),
    ("positives", "Positives", None),
]

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1000px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; }
th { background: #f4f4f4; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; font-family: monospace; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; margin-top: 0.3em; }
p.na { color: #888; font-style: italic; }
.note { font-size: 0.9em; color: #555; }
"""


@dataclass
class _Run:
    """What the report needs from one backtest directory."""

    out_dir: Path
    forecasts: pd.DataFrame
    metrics: dict[str, Any]
    models: list[str]
    quantiles: dict[str, dict[int, str]]
    series_metrics: pd.DataFrame | None = None
    hot_sellers: pd.DataFrame | None = None
    feature_importance: pd.DataFrame | None = None
    blend_weights: pd.DataFrame | None = None
    eval_cutoffs: list[pd.Timestamp] = field(default_factory=list)

    @property
    def eval_rows(self) -> pd.DataFrame:
        fc = self.forecasts
        if self.eval_cutoffs:
            return fc[fc[CUTOFF].isin(self.eval_cutoffs)]
        return fc


@dataclass
class _Plot:
    key: str
    heading: str
    caption: str
    path: Path | None = None
    missing: str | None = None


# --------------------------------------------------------------------------------------------
# public entry point
# --------------------------------------------------------------------------------------------


def write_report(
    out_dir: str | Path, *, title: str = "DarkHorse backtest", sample_items: int = 6
) -> Path:
    """Write `out_dir/report.html` (and PNGs in `out_dir/plots/`) for one backtest; return its path.

    `forecasts.parquet` and `metrics.json` must exist; every other input is optional and its
    section says "not available" when the file is missing. `sample_items` is the number of
    items drawn in the forecast-vs-actual plot.
    """
    out = Path(out_dir)
    run = _load(out)
    plots_dir = out / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    for name in [*PLOT_FILES.values(), VARIABLE_PLOT]:  # no stale image from an earlier run
        (plots_dir / name).unlink(missing_ok=True)

    plots = [
        _render(run, plots_dir, "forecast", lambda: _plot_forecasts(run, max(1, sample_items))),
        _render(run, plots_dir, "residuals", lambda: _plot_residuals(run)),
        _render(run, plots_dir, "smape", lambda: _plot_smape(run)),
        _render(run, plots_dir, "importance", lambda: _plot_importance(run)),
        _render(run, plots_dir, "hot", lambda: _plot_hot_sellers(run)),
        _render(run, plots_dir, "weights", lambda: _plot_blend_weights(run)),
    ]
    if _variable_models(run):
        plots.insert(4, _render(run, plots_dir, "variables", lambda: _plot_variable_importance(run)))
    path = out / "report.html"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(_html(run, title, plots), encoding="utf-8")
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------


def _load(out: Path) -> _Run:
    fc_path, metrics_path = out / "forecasts.parquet", out / "metrics.json"
    for p in (fc_path, metrics_path):
        if not p.is_file():
            raise FileNotFoundError(f"backtest output {p} not found")
    fc = pd.read_parquet(fc_path)
    missing = [c for c in (ID, DS, Y) if c not in fc.columns]
    if missing:
        raise ValueError(f"{fc_path} lacks column(s) {', '.join(missing)}")
    fc[DS] = pd.to_datetime(fc[DS])
    if CUTOFF in fc.columns:
        fc[CUTOFF] = pd.to_datetime(fc[CUTOFF])
    else:
        fc[CUTOFF] = pd.NaT
    fc[ID] = fc[ID].astype(str)
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) or {}
    if not isinstance(metrics, dict):
        raise ValueError(f"{metrics_path} is not a JSON object")

    quantiles = _quantile_columns(fc.columns)
    models = [m for m in quantiles if m in fc.columns]
    run = _Run(out, fc, metrics, models, quantiles)
    run.series_metrics = _read_optional(out / "series_metrics.parquet")
    run.hot_sellers = _read_optional(out / "hot_sellers.parquet")
    run.feature_importance = _read_optional(out / "feature_importance.parquet")
    run.blend_weights = _read_optional(out / "blend_weights.parquet")
    for frame in (run.series_metrics, run.hot_sellers):
        if frame is not None and CUTOFF in frame.columns:
            frame[CUTOFF] = pd.to_datetime(frame[CUTOFF])
    run.eval_cutoffs = _eval_cutoffs(fc, metrics)
    return run


def _read_optional(path: Path) -> pd.DataFrame | None:
    return pd.read_parquet(path) if path.is_file() else None


def _quantile_columns(columns: Sequence[str]) -> dict[str, dict[int, str]]:
    """model -> {quantile level in percent: column}, models in column order."""
    found: dict[str, dict[int, str]] = {}
    for col in columns:
        m = _QUANTILE_COLUMN.match(str(col))
        if m and m["model"] not in _RESERVED:
            found.setdefault(m["model"], {})[int(m["level"])] = str(col)
    return {model: dict(sorted(levels.items())) for model, levels in found.items()}


def _eval_cutoffs(fc: pd.DataFrame, metrics: dict[str, Any]) -> list[pd.Timestamp]:
    """Cutoffs of the evaluation windows: the `window` column, else metrics.json, else all."""
    cutoffs: set[pd.Timestamp] = set()
    if WINDOW in fc.columns:
        cutoffs = set(fc.loc[fc[WINDOW].astype(str) == "eval", CUTOFF].dropna().unique())
    if not cutoffs:
        for w in metrics.get("windows") or []:
            if isinstance(w, dict) and w.get("role") == "eval" and w.get("cutoff"):
                try:
                    cutoffs.add(pd.Timestamp(w["cutoff"]))
                except (TypeError, ValueError):
                    continue
        cutoffs &= {pd.Timestamp(c) for c in fc[CUTOFF].dropna().unique()}
    return sorted({pd.Timestamp(c) for c in cutoffs})


def _number(value: Any) -> float | None:
    """A finite-or-infinite float, or None for null / non-numeric / NaN."""
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _model_metric(run: _Run, model: str, key: str) -> float | None:
    entry = (run.metrics.get("models") or {}).get(model)
    return _number(entry.get(key)) if isinstance(entry, dict) else None


def _band(run: _Run, model: str) -> tuple[str, str, str] | None:
    """(lower column, upper column, label) of the widest q10-q90-like band of `model`."""
    levels = run.quantiles.get(model, {})
    lows = [q for q in levels if q < 50]
    highs = [q for q in levels if q > 50]
    if not lows or not highs:
        return None
    lo = 10 if 10 in levels else min(lows)
    hi = 90 if 90 in levels else max(highs)
    return levels[lo], levels[hi], f"q{lo}–q{hi}"


def _ranked_models(run: _Run, candidates: Sequence[str]) -> list[str]:
    """`candidates` from best to worst: MASE in metrics.json, else mean series MASE, else MAE."""
    scores: dict[str, float] = {}
    for m in candidates:
        v = _model_metric(run, m, "mase")
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


def _best_single(run: _Run) -> str | None:
    ranked = _ranked_models(run, [m for m in run.models if m != BLEND])
    return ranked[0] if ranked else None


def _featured_model(run: _Run) -> str | None:
    if BLEND in run.models:
        return BLEND
    ranked = _ranked_models(run, run.models)
    return ranked[0] if ranked else None


def _smape(y: np.ndarray, f: np.ndarray) -> np.ndarray:
    denom = np.abs(y) + np.abs(f)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(denom == 0, 0.0, 200.0 * np.abs(y - f) / denom)
    return np.where(np.isnan(y) | np.isnan(f), np.nan, out)


# --------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------


def _figure(figsize: tuple[float, float] = FIGSIZE, **subplots: Any) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=DPI)
    axes = fig.subplots(**subplots) if subplots else fig.subplots()
    return fig, axes


def _render(
    run: _Run,
    plots_dir: Path,
    key: str,
    draw: Callable[[], tuple[Figure | None, str, str]],
) -> _Plot:
    """Draw one plot; a missing input or a drawing error leaves a "not available" note."""
    headings = {
        "forecast": "Forecast vs actual",
        "residuals": "Residuals",
        "smape": "sMAPE per series",
        "importance": "Feature importance",
        "hot": "Hot sellers: precision at k",
        "weights": "Blend weights",
        "variables": "Variable importance (TFT variable selection)",
    }
    plot = _Plot(key, headings[key], "")
    try:
        fig, caption, missing = draw()
    except Exception as exc:  # one broken plot must not sink the whole report
        log.warning("report plot %s failed", key, exc_info=True)
        plot.missing = f"plot failed: {type(exc).__name__}: {exc}"
        return plot
    if fig is None:
        plot.missing = missing
        return plot
    path = plots_dir / PLOT_FILES.get(key, VARIABLE_PLOT)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, format="png")
    fig.clear()
    plot.path, plot.caption = path, caption
    return plot


def _sample_items(rows: pd.DataFrame, n: int) -> list[str]:
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


def _plot_forecasts(run: _Run, sample_items: int) -> tuple[Figure | None, str, str]:
    model = _featured_model(run)
    if model is None:
        return None, "", "no model columns in forecasts.parquet"
    fc = run.forecasts
    last = max(run.eval_cutoffs) if run.eval_cutoffs else fc[CUTOFF].max()
    window = fc[fc[CUTOFF] == last] if pd.notna(last) else fc
    items = _sample_items(window, sample_items)
    if not items:
        return None, "", "no realized values in the last evaluation window"

    actual = fc[fc[ID].isin(items)].groupby([ID, DS])[Y].mean().sort_index()
    band = _band(run, model)
    ncols = min(3, len(items))
    nrows = math.ceil(len(items) / ncols)
    fig, axes = _figure(
        (FIGSIZE[0], max(FIGSIZE[1], 2.25 * nrows)),
        nrows=nrows,
        ncols=ncols,
        sharex=True,
        squeeze=False,
    )
    for ax, item in zip(axes.flat, items, strict=False):
        ys = actual.loc[item]
        ax.plot(ys.index, ys.to_numpy(), color="#222", lw=1.0, label="actual")
        part = window[window[ID] == item].sort_values(DS)
        if band is not None:
            ax.fill_between(
                part[DS],
                part[band[0]],
                part[band[1]],
                color="C1",
                alpha=0.25,
                lw=0,
                label=band[2],
            )
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
    cutoff_text = f"{pd.Timestamp(last):%Y-%m-%d}" if pd.notna(last) else "the last cutoff"
    band_text = f" with its {band[2]} band" if band else ""
    caption = (
        f"Actual weekly demand (black) for {len(items)} items (the largest by volume in the last "
        f"evaluation window, then median-volume ones) and the {model} forecast{band_text} made "
        f"at cutoff {cutoff_text} (dashed line)."
    )
    return fig, caption, ""


def _plot_residuals(run: _Run) -> tuple[Figure | None, str, str]:
    shown = []
    if BLEND in run.models:
        shown.append(BLEND)
    best = _best_single(run)
    if best is not None:
        shown.append(best)
    rows = run.eval_rows
    residuals = {m: (rows[Y] - rows[m]).dropna().to_numpy(dtype=float) for m in shown}
    residuals = {m: r[np.isfinite(r)] for m, r in residuals.items()}
    residuals = {m: r for m, r in residuals.items() if r.size}
    if not residuals:
        return None, "", "no residuals on the evaluation windows"
    pooled = np.concatenate(list(residuals.values()))
    lo, hi = np.percentile(pooled, [1, 99])
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    bins = np.linspace(lo, hi, 51)
    fig, ax = _figure()
    for i, (m, r) in enumerate(residuals.items()):
        clipped = r[(r >= lo) & (r <= hi)]
        label = f"{m} (best single model)" if m == best and m != BLEND else m
        ax.hist(clipped, bins=bins, alpha=0.5, color=f"C{i}", label=label)
    ax.axvline(0, color="#444", lw=0.8)
    ax.set_xlabel("y − point forecast")
    ax.set_ylabel("rows")
    ax.legend(fontsize=8)
    caption = (
        "Distribution of forecast errors (actual minus point forecast) on the evaluation windows "
        f"for {' and '.join(residuals)}, limited to the 1st–99th percentile; mass right of zero "
        "means under-forecasting."
    )
    return fig, caption, ""


def _series_smape(run: _Run) -> tuple[dict[str, np.ndarray], str]:
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
        per_row = pd.Series(_smape(y, rows[m].to_numpy(dtype=float)), index=rows.index)
        data[m] = per_row.groupby([rows[ID], rows[CUTOFF]], dropna=False).mean().to_numpy()
    return data, "forecasts.parquet (series_metrics.parquet not available)"


def _plot_smape(run: _Run) -> tuple[Figure | None, str, str]:
    data, source = _series_smape(run)
    data = {m: v[np.isfinite(v)] for m, v in data.items()}
    data = {m: v for m, v in data.items() if v.size}
    if not data:
        return None, "", "no sMAPE values"
    fig, ax = _figure()
    positions = np.arange(1, len(data) + 1)
    spread = [(p, v) for p, v in zip(positions, data.values(), strict=True) if np.ptp(v) > 0]
    if spread:
        parts = ax.violinplot(
            [v for _, v in spread],
            positions=[p for p, _ in spread],
            showmedians=True,
            widths=0.8,
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
    return fig, caption, ""


def _plot_importance(run: _Run) -> tuple[Figure | None, str, str]:
    fi = run.feature_importance
    if fi is None:
        return None, "", "feature_importance.parquet is missing"
    if not {"model", "feature", "importance"} <= set(fi.columns) or fi.empty:
        return None, "", "feature_importance.parquet has no model/feature/importance rows"
    fi = fi.dropna(subset=["importance"])
    selection = set(_variable_models(run))  # drawn in their own plot
    fi = fi[~fi["model"].astype(str).isin(selection)]
    models = list(dict.fromkeys(fi["model"].astype(str)))
    if not models:
        return None, "", "feature_importance.parquet has no importance values"
    ncols = min(2, len(models))
    nrows = math.ceil(len(models) / ncols)
    width = FIGSIZE[0] if ncols == 1 else 11.0
    fig, axes = _figure(
        (width, max(FIGSIZE[1], 5.0 * nrows)), nrows=nrows, ncols=ncols, squeeze=False
    )
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
    return fig, caption, ""


def _variable_models(run: _Run) -> list[str]:
    """Models whose every importance row is a `static:`/`encoder:`/`decoder:` variable weight."""
    fi = run.feature_importance
    if fi is None or not {"model", "feature", "importance"} <= set(fi.columns) or fi.empty:
        return []
    kinds = fi["feature"].astype(str).str.split(":", n=1).str[0]
    ok = kinds.isin(VARIABLE_KINDS) & fi["feature"].astype(str).str.contains(":", regex=False)
    by_model = ok.groupby(fi["model"].astype(str)).all()
    return [str(m) for m in by_model.index if by_model[m]]


def _plot_variable_importance(run: _Run) -> tuple[Figure | None, str, str]:
    fi = run.feature_importance
    models = _variable_models(run)
    if fi is None or not models:
        return None, "", "no variable-selection importances"
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
    return fig, caption, ""


def _precision_at_k(group: pd.DataFrame, k_max: int) -> np.ndarray:
    ranked = group.sort_values(ID).sort_values("score", ascending=False, kind="stable")
    hits = ranked["label"].to_numpy(dtype=float)[:k_max]
    return np.cumsum(hits) / np.arange(1, len(hits) + 1)


def _plot_hot_sellers(run: _Run) -> tuple[Figure | None, str, str]:
    hs = run.hot_sellers
    if hs is None:
        return None, "", "hot_sellers.parquet is missing"
    if not {ID, "model", "score", "label"} <= set(hs.columns):
        return None, "", "hot_sellers.parquet lacks unique_id/model/score/label"
    known = hs.dropna(subset=["score", "label"]).copy()
    known[ID] = known[ID].astype(str)
    if CUTOFF not in known.columns:
        known[CUTOFF] = pd.NaT
    if run.eval_cutoffs:
        eval_only = known[known[CUTOFF].isin(run.eval_cutoffs)]
        known = eval_only if not eval_only.empty else known
    if known.empty:
        return None, "", "no hot-seller rows with a known label"
    fig, ax = _figure()
    models = list(dict.fromkeys(known["model"].astype(str)))
    for i, m in enumerate(models):
        curves = []
        for _, group in known[known["model"].astype(str) == m].groupby(CUTOFF, dropna=False):
            k_max = max(1, math.ceil(TOP_K_SHARE * group[ID].nunique()))
            curves.append(_precision_at_k(group, k_max))
        length = max(len(c) for c in curves)
        padded = np.full((len(curves), length), np.nan)
        for row, c in enumerate(curves):
            padded[row, : len(c)] = c
        mean = np.nanmean(padded, axis=0)
        ax.plot(np.arange(1, length + 1), mean, color=f"C{i}", lw=1.4, label=m)
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
    return fig, caption, ""


def _plot_blend_weights(run: _Run) -> tuple[Figure | None, str, str]:
    bw = run.blend_weights
    if bw is None:
        return None, "", "blend_weights.parquet is missing"
    if not {"model", "weight"} <= set(bw.columns) or bw.dropna(subset=["weight"]).empty:
        return None, "", "blend_weights.parquet has no model/weight rows"
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
            x + (i - (len(table.columns) - 1) / 2) * width,
            table[source].to_numpy(),
            width=width,
            color=f"C{i}",
            label=label,
        )
    ax.set_xticks(x, labels=[str(m) for m in table.index], rotation=20, fontsize=8)
    ax.set_ylabel("mean weight")
    ax.legend(fontsize=8)
    caption = (
        "Mean weight the blend gives each model, split by whether the weights were fitted per "
        "series or globally; a model near zero contributes little to the blend."
    )
    return fig, caption, ""


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any, *, integer: bool = False) -> str:
    """3-4 significant digits; counts as integers; null as a dash."""
    x = _number(value)
    if x is None:
        return NA if value is None or isinstance(value, float) else _esc(value)
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if integer or (float(x).is_integer() and abs(x) >= 1000):
        return f"{round(x):,d}"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if x == 0:
        return "0"
    return f"{x:.4g}" if abs(x) >= 1e-3 else f"{x:.3g}"


def _best_rows(values: list[float | None], direction: str | None) -> set[int]:
    """Indices holding the best value of a column (all of them on ties)."""
    if direction is None:
        return set()
    if direction.startswith("target:"):
        target = float(direction.split(":", 1)[1])
        key = [None if v is None or math.isnan(v) else abs(v - target) for v in values]
        better = min
    else:
        key = [None if v is None or math.isnan(v) else v for v in values]
        better = min if direction == "min" else max
    present = [k for k in key if k is not None]
    if len(set(present)) < 2:  # nothing to single out
        return set()
    best = better(present)
    return {i for i, k in enumerate(key) if k is not None and k == best}


def _metric_table(
    rows: list[tuple[str, dict[str, Any]]],
    columns: list[tuple[str, str, str | None]],
    *,
    row_header: str,
    bold_name: str | None = None,
) -> str:
    """One row per (name, values), the best value of each column in bold."""
    integer_keys = {"n_series", "n", "positives"}
    best = {
        i: _best_rows([_number(vals.get(key)) for _, vals in rows], direction)
        for i, (key, _, direction) in enumerate(columns)
    }
    head = "".join(f"<th>{_esc(label)}</th>" for _, label, _ in columns)
    body = []
    for r, (name, vals) in enumerate(rows):
        name_html = _esc(name)
        if name == bold_name:
            name_html = f"<b>{name_html}</b>"
        cells = [f'<th scope="row">{name_html}</th>']
        for i, (key, _, _) in enumerate(columns):
            text = _fmt(vals.get(key), integer=key in integer_keys)
            if r in best[i]:
                text = f"<b>{text}</b>"
            cells.append(f'<td class="num">{text}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f"<table><thead><tr><th>{_esc(row_header)}</th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _na(what: str) -> str:
    return f'<p class="na">{_esc(what)}</p>'


def _meta_section(run: _Run) -> str:
    m = run.metrics
    fc = run.forecasts
    items = [
        ("Config hash", m.get("config_hash")),
        ("Data snapshot", m.get("data_snapshot")),
        ("Created at", m.get("created_at")),
        ("Series in forecasts", fc[ID].nunique()),
        ("Models", ", ".join(run.models) or None),
    ]
    eval_rows = run.eval_rows
    if not eval_rows.empty and eval_rows[CUTOFF].notna().any():
        horizon = eval_rows.groupby([ID, CUTOFF])[DS].nunique().max()
        items.append(("Horizon (weeks)", int(horizon)))
    dl = "".join(
        f"<dt>{_esc(k)}</dt><dd>{NA if v is None or v == '' else _esc(v)}</dd>" for k, v in items
    )
    parts = [f'<dl class="meta">{dl}</dl>', "<h3>Windows</h3>"]
    windows = [w for w in (m.get("windows") or []) if isinstance(w, dict)]
    if windows:
        keys = list(dict.fromkeys(["cutoff", "role", *[k for w in windows for k in w]]))
        head = "".join(f"<th>{_esc(k)}</th>" for k in keys)
        body = "".join(
            "<tr>"
            + "".join(f"<td>{NA if w.get(k) is None else _esc(w.get(k))}</td>" for k in keys)
            + "</tr>"
            for w in windows
        )
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    else:
        parts.append(_na("Window list not available in metrics.json."))
    return "".join(parts)


def _forecast_section(run: _Run) -> str:
    models_metrics = run.metrics.get("models")
    if not isinstance(models_metrics, dict) or not models_metrics:
        return _na("Forecast metrics not available in metrics.json.")
    names = list(models_metrics) + [m for m in run.models if m not in models_metrics]
    ratios = (run.metrics.get("ratios_vs") or {}).get(SEASONAL_NAIVE)
    columns = list(FORECAST_COLUMNS)
    rows: list[tuple[str, dict[str, Any]]] = []
    for name in names:
        vals = dict(models_metrics.get(name) or {})
        if isinstance(ratios, dict):
            r = ratios.get(name) or {}
            vals["ratio_mase"] = r.get("mase")
            vals["ratio_scaled_pinball"] = r.get("scaled_pinball")
        rows.append((name, vals))
    if isinstance(ratios, dict) and ratios:
        columns += [(f"ratio_{key}", label, d) for key, label, d in RATIO_COLUMNS]
    mase_best = _best_rows([_number(v.get("mase")) for _, v in rows], "min")
    bold_name = rows[min(mase_best)][0] if len(mase_best) == 1 else None
    note = (
        '<p class="note">Best value of each column in bold; the model with the lowest MASE is '
        "in bold in the first column. Ratios below 1 beat the seasonal naive baseline.</p>"
        if isinstance(ratios, dict) and ratios
        else '<p class="note">Best value of each column in bold; the model with the lowest MASE '
        "is in bold in the first column. Ratios vs seasonal naive not available.</p>"
    )
    return _metric_table(rows, columns, row_header="Model", bold_name=bold_name) + note


def _hot_section(run: _Run) -> str:
    hot = run.metrics.get("hot_sellers")
    if not isinstance(hot, dict) or not hot:
        return _na("Hot-seller metrics not available in metrics.json.")
    rows = [(name, vals if isinstance(vals, dict) else {}) for name, vals in hot.items()]
    return _metric_table(rows, HOT_COLUMNS, row_header="Scorer")


def _timings_section(run: _Run) -> str:
    timings = run.metrics.get("timings_s")
    if not isinstance(timings, dict) or not timings:
        return _na("Timings not available in metrics.json.")
    total = sum(x for x in (_number(v) for v in timings.values()) if x is not None)
    body = "".join(
        f'<tr><th scope="row">{_esc(name)}</th><td class="num">{_fmt(secs)}</td>'
        f'<td class="num">{_share(secs, total)}</td></tr>'
        for name, secs in timings.items()
    )
    return (
        "<table><thead><tr><th>Model / step</th><th>Seconds</th><th>Share</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _share(value: Any, total: float) -> str:
    x = _number(value)
    if x is None or not total or not math.isfinite(x):
        return NA
    return f"{100 * x / total:.1f}%"


HOW_TO_READ = (
    "<p><b>sMAPE</b> is the symmetric mean absolute percentage error, "
    "200·|y − f| / (|y| + |f|) averaged over weeks (0 when both are 0; range 0–200). "
    "<b>MAE</b> and <b>RMSE</b> are the mean absolute and root mean squared errors in units. "
    "<b>MASE</b> divides the MAE by the in-sample MAE of the one-step naive forecast on the "
    "series' training weeks, so 1 means as good as that naive forecast and lower is better. "
    "<b>WAPE</b> is the sum of absolute errors over the sum of actuals. "
    "<b>Scaled pinball</b> is the quantile (pinball) loss averaged over the predicted quantiles "
    "and scaled the same way as MASE; it rewards sharp and calibrated intervals. "
    "<b>Coverage 80%</b> is the share of actuals inside the q10–q90 interval and should be near "
    "0.80: lower means intervals that are too narrow, higher too wide. Ratios against the "
    "seasonal naive model below 1 mean the model beats that baseline. "
    "For hot sellers, <b>average precision</b> summarizes the ranking of true hot sellers, "
    "<b>precision / recall at top</b> are measured on the top-ranked share of items, "
    "<b>lift vs momentum</b> compares precision with a pure momentum ranking (above 1 is "
    "better), and <b>Brier</b> is the mean squared error of predicted probabilities (only for "
    "scorers that output probabilities). Metrics are computed on the evaluation windows.</p>"
)


def _plot_html(plot: _Plot) -> str:
    head = f"<h3>{_esc(plot.heading)}</h3>"
    if plot.path is None:
        return head + _na(f"{plot.heading} not available: {plot.missing}.")
    data = base64.b64encode(plot.path.read_bytes()).decode("ascii")
    return (
        f'{head}<figure><img src="data:image/png;base64,{data}" alt="{_esc(plot.heading)}">'
        f'<figcaption>{_esc(plot.caption)} <span class="note">(plots/'
        f"{_esc(plot.path.name)})</span></figcaption></figure>"
    )


def _html(run: _Run, title: str, plots: list[_Plot]) -> str:
    sections = [
        ("Run", _meta_section(run)),
        ("How to read this", HOW_TO_READ),
        ("Forecast metrics", _forecast_section(run)),
        ("Hot-seller metrics", _hot_section(run)),
        ("Timings", _timings_section(run)),
        ("Plots", "".join(_plot_html(p) for p in plots)),
    ]
    body = "".join(f"<h2>{_esc(h)}</h2>{content}" for h, content in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{CSS}</style></head>"
        f"<body><h1>{_esc(title)}</h1>{body}</body></html>\n"
    )
