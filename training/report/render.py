"""The report page: the run's numbers formatted into tables and rendered through the Jinja2
template `templates/report.html.j2` (autoescaped; the template holds all the markup and the
style). Nothing here reads data files or draws.
"""

from __future__ import annotations

import base64
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import jinja2

from darkhorse.core.config import HotSellerConfig, label_share_far_above
from darkhorse.core.schema import CUTOFF, DS, ID
from training.backtest import other_blend_mase
from training.blend.point import POINT_CHECKS
from training.blend.weights import MEDIAN
from training.metrics import PROBABILITY_SCORES
from training.report.analysis import grain, number, period_unit, reference_ratios
from training.report.run import Run

NA = "–"
TEMPLATE = "report.html.j2"

# (key, header, direction): "min"/"max" mark the lowest/highest value of the column in bold,
# "target:x" the value closest to x, None nothing.
Column = tuple[str, str, str | None]
FORECAST_COLUMNS: list[Column] = [
    ("smape", "sMAPE", "min"),
    ("mae", "MAE", "min"),
    ("rmse", "RMSE", "min"),
    ("mase", "MASE", "min"),
    ("wape", "WAPE", "min"),
    ("scaled_pinball", "Scaled pinball", "min"),
    ("coverage_80", "Coverage 80%", "target:0.8"),
    ("n_series", "Series", None),
]
RATIO_COLUMNS: list[Column] = [("mase", "MASE", "min"), ("scaled_pinball", "Pinball", "min")]
HOT_COLUMNS: list[Column] = [
    ("average_precision", "Average precision", "max"),
    ("precision_at_top", "Precision at top", "max"),
    ("recall_at_top", "Recall at top", "max"),
    ("lift_vs_momentum", "Lift vs momentum", "max"),
    ("brier", "Brier", "min"),
    ("n", "n", None),
    ("positives", "Positives", None),
]
INTEGER_KEYS = {"n_series", "n", "positives"}

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("training.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class PlotView:
    """One plot as the page shows it: the PNG, or why there is none."""

    key: str
    heading: str
    filename: str
    caption: str = ""
    png: bytes | None = None
    missing: str = ""

    @property
    def png_base64(self) -> str:
        return base64.b64encode(self.png).decode("ascii") if self.png else ""


@dataclass(frozen=True)
class Cell:
    text: str
    bold: bool = False


@dataclass(frozen=True)
class Row:
    name: str
    cells: list[Cell]
    bold: bool = False


@dataclass(frozen=True)
class Grid:
    """A plain table: column names and rows of text."""

    columns: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Table:
    row_header: str
    headers: list[str]
    rows: list[Row]
    note: str = ""


def render(run: Run, title: str, plots: list[PlotView]) -> str:
    """The report page of `run` with `plots` (in page order)."""
    return _ENV.get_template(TEMPLATE).render(
        title=title,
        meta=meta_items(run),
        unit=period_unit(run),
        scale=scale_text(run),
        windows=windows_table(run),
        forecast=forecast_table(run),
        hot=hot_table(run),
        timings=timing_table(run),
        decisions=decision_tables(run),
        plots=plots,
    )


# ---------------------------------------------------------------------------- formatting
def fmt(value: Any, *, integer: bool = False) -> str:
    """3-4 significant digits; counts as integers; null as a dash."""
    x = number(value)
    if x is None:
        return NA if value is None or isinstance(value, float) else str(value)
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if integer or (float(x).is_integer() and abs(x) >= 1000):
        return f"{round(x):,d}"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if x == 0:
        return "0"
    return f"{x:.4g}" if abs(x) >= 1e-3 else f"{x:.3g}"


def best_rows(values: list[float | None], direction: str | None) -> set[int]:
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


def metric_table(
    rows: list[tuple[str, dict[str, Any]]], columns: list[Column], *, row_header: str,
    bold_name: str | None = None, note: str = "",
) -> Table:
    """One row per (name, values), the best value of each column in bold."""
    best = [best_rows([number(vals.get(key)) for _, vals in rows], d) for key, _, d in columns]
    return Table(
        row_header=row_header,
        headers=[label for _, label, _ in columns],
        rows=[
            Row(
                name=name,
                bold=name == bold_name,
                cells=[
                    Cell(fmt(vals.get(key), integer=key in INTEGER_KEYS), r in best[i])
                    for i, (key, _, _) in enumerate(columns)
                ],
            )
            for r, (name, vals) in enumerate(rows)
        ],
        note=note,
    )


# ------------------------------------------------------------------------------ sections
def meta_items(run: Run) -> list[tuple[str, str]]:
    m = run.metrics
    items: list[tuple[str, Any]] = [
        ("Config hash", m.get("config_hash")),
        ("Data snapshot", m.get("data_snapshot")),
        ("Created at", m.get("created_at")),
        ("Series in forecasts", run.forecasts[ID].nunique()),
        ("Models", ", ".join(run.models) or None),
    ]
    eval_rows = run.eval_rows
    if not eval_rows.empty and eval_rows[CUTOFF].notna().any():
        horizon = eval_rows.groupby([ID, CUTOFF])[DS].nunique().max()
        items.append((f"Horizon ({period_unit(run)})", int(horizon)))
    if grain(run):
        items.append(("MASE season", f"{run.metrics.get('season_length')} intervals (a day)"))
    return [(k, NA if v is None or v == "" else str(v)) for k, v in items]


def scale_text(run: Run) -> str:
    """What MASE and the scaled pinball are scaled by, in words."""
    m = run.metrics.get("season_length")
    if grain(run) and m:
        return (f"the seasonal naive forecast a day back (m = {m} intervals of {grain(run)}, the M4 "
                "guide's scaling; the one-step naive for a series shorter than a day) on the "
                "series' history before the origin")
    return "the one-step naive forecast on the series' training weeks"


def windows_table(run: Run) -> Grid | None:
    windows = [w for w in (run.metrics.get("windows") or []) if isinstance(w, dict)]
    if not windows:
        return None
    keys = list(dict.fromkeys(["cutoff", "role", *[k for w in windows for k in w]]))
    return Grid(keys, [[NA if w.get(k) is None else str(w.get(k)) for k in keys] for w in windows])


def forecast_table(run: Run) -> Table | None:
    models_metrics = run.metrics.get("models")
    if not isinstance(models_metrics, dict) or not models_metrics:
        return None
    names = list(models_metrics) + [m for m in run.models if m not in models_metrics]
    reference, ratios = reference_ratios(run)
    columns = list(FORECAST_COLUMNS)
    rows: list[tuple[str, dict[str, Any]]] = []
    for name in names:
        vals = dict(models_metrics.get(name) or {})
        if ratios:
            r = ratios.get(name) or {}
            vals.update({f"ratio_{key}": r.get(key) for key, _, _ in RATIO_COLUMNS})
        rows.append((name, vals))
    shown = (reference or "").replace("_", " ")
    if ratios:
        columns += [(f"ratio_{key}", f"{label} / {shown}", d) for key, label, d in RATIO_COLUMNS]
    mase_best = best_rows([number(v.get("mase")) for _, v in rows], "min")
    bold_name = rows[min(mase_best)][0] if len(mase_best) == 1 else None
    note = (
        "Best value of each column in bold; the model with the lowest MASE is in bold in the "
        "first column. "
        + (f"Ratios below 1 beat the {shown} baseline." if ratios else "Ratios vs seasonal naive not available.")
        + blend_vs_best_text(run)
        + interval_source_text(run)
        + point_factor_text(run)
        + member_fallback_text(run)
        + members_left_out_text(run)
        + windows_reduced_text(run)
        + median_blend_text(run)
    )
    return metric_table(rows, columns, row_header="Model", bold_name=bold_name, note=note)


def member_fallback_text(run: Run) -> str:
    """One sentence per member that forecast every item by its fallback baseline at some
    evaluation origins (metrics.json `model_info.<member>[cutoff].fallback`: a history too short
    for it), with how many and the last reason; empty when none did."""
    info = run.metrics.get("model_info")
    if not isinstance(info, dict):
        return ""
    evals = {str(c)[:10] for c in eval_cutoffs(run)}
    out = ""
    for member, per_origin in info.items():
        if member == "hot_sellers" or not isinstance(per_origin, dict):
            continue
        fell = [v for k, v in per_origin.items() if str(k)[:10] in evals and isinstance(v, dict) and v.get("fallback")]
        if fell:
            out += (f" {member} forecast every item by its {fell[-1]['fallback']} fallback at {len(fell)} of "
                    f"{len(evals)} evaluation origins ({fell[-1].get('reason', 'history too short')}).")
    return out


def members_left_out_text(run: Run) -> str:
    """One sentence per enabled member this panel does not fit (metrics.json `members_left_out`:
    a panel shorter than its `min_history_weeks`), with the reason; empty when none sat out."""
    left = run.metrics.get("members_left_out")
    if not isinstance(left, dict):
        return ""
    return "".join(f" {member} is not fitted on this panel: {why}." for member, why in left.items())


def windows_reduced_text(run: Run) -> str:
    """Why the backtest ran fewer evaluation windows than configured (metrics.json
    `windows_reduced`, `backtest.short_panel`); empty when it ran them all."""
    why = run.metrics.get("windows_reduced")
    return f" Fewer evaluation windows than configured: {why}." if isinstance(why, str) and why else ""


def median_blend_text(run: Run) -> str:
    """One sentence on the evaluation origins whose blend had no earlier origin to learn weights
    from (metrics.json `blend_choice[].choice` = `median`, `blend.without_evidence`); empty when none."""
    choices = eval_choices(run)
    n = sum(c.get("choice") == MEDIAN for c in choices)
    if not n:
        return ""
    return (f" At {n} of {len(choices)} evaluation origins no earlier origin was there to learn the blend "
            "weights from: there the blend is the median of its members, row by row.")


def blend_vs_best_text(run: Run) -> str:
    """One sentence on the blend against its best member (metrics.json `blend_vs_best`): the
    paired MASE difference and its standard error, called a tie within two standard errors."""
    d = run.metrics.get("blend_vs_best")
    if not isinstance(d, dict) or number(d.get("diff")) is None or number(d.get("se")) is None:
        return ""
    diff, se = float(d["diff"]), float(d["se"])
    verdict = "a tie" if abs(diff) <= 2 * se else ("better" if diff < 0 else "worse")
    return (f" Blend minus its best member ({d.get('best')}) in MASE: {fmt(diff)} ± {fmt(se)} (standard error "
            f"over {d.get('n_series')} series, {fmt(d.get('pct'))}%): {verdict}.")


def eval_cutoffs(run: Run) -> set[Any]:
    """The evaluation origins' cutoffs as metrics.json `windows` writes them (empty when missing)."""
    windows = run.metrics.get("windows")
    if not isinstance(windows, list):
        return set()
    return {w.get("cutoff") for w in windows if isinstance(w, dict) and w.get("role") == "eval"}


def eval_choices(run: Run) -> list[dict[str, Any]]:
    """metrics.json `blend_choice` at the evaluation origins (empty when either is missing)."""
    choices = run.metrics.get("blend_choice")
    if not isinstance(choices, list):
        return []
    evals = eval_cutoffs(run)
    return [c for c in choices if isinstance(c, dict) and c.get("cutoff") in evals]


def interval_source_text(run: Run) -> str:
    """One sentence on where the blend's quantiles came from at the evaluation origins
    (metrics.json `blend_choice[].intervals`, chosen on held-out pinball loss), with the
    held-out losses of the last origin's choice."""
    picked = [c for c in eval_choices(run) if c.get("intervals")]
    if not picked:
        return ""
    sources = ", ".join(f"{k} at {n}" for k, n in Counter(str(c["intervals"]) for c in picked).items())
    losses = picked[-1].get("interval_loss") or {}
    shown = ", ".join(f"{k} {fmt(v)}" for k, v in losses.items() if number(v) is not None)
    return (f" The blend's quantiles (chosen on held-out pinball loss) came from: {sources} of {len(picked)} "
            f"evaluation origins" + (f"; held-out loss at the last: {shown}." if shown else "."))


def point_factor_text(run: Run) -> str:
    """One sentence on the factor the blend's point forecast took at the evaluation origins
    (metrics.json `blend_choice[].point_factor`: kept only when it beat the unscaled blend on
    each of the latest POINT_CHECKS held-out origins), when it took one anywhere."""
    factors = [f for f in (number(c.get("point_factor")) for c in eval_choices(run)) if f is not None]
    scaled = [f for f in factors if f != 1.0]
    if not scaled:
        return ""
    shown = ", ".join(f"{k:g} at {n}" for k, n in sorted(Counter(scaled).items()))
    return (f" The blend's point forecast took a factor (checked on the latest {POINT_CHECKS} held-out origins) of {shown} "
            f"of {len(factors)} evaluation origins; its quantiles are not scaled.")


def hot_table(run: Run) -> Table | None:
    hot = run.metrics.get("hot_sellers")
    if not isinstance(hot, dict) or not hot:
        return None
    rows = []
    for name, vals in hot.items():
        vals = dict(vals) if isinstance(vals, dict) else {}
        if name not in PROBABILITY_SCORES:  # a ranking score is not a probability: no Brier
            vals["brier"] = None
        rows.append((name, vals))
    note = " ".join(t for t in (hot_choice_text(run), hot_evidence_text(run)) if t)
    return metric_table(rows, HOT_COLUMNS, row_header="Scorer", note=note)


# below this many hot sellers per origin an AP is noise: the evidence a labelled origin needs to
# count in the final ranking's choice (hot_sellers.min_origin_positives, its default)
FEW_POSITIVES_PER_ORIGIN = HotSellerConfig.model_fields["min_origin_positives"].default


def hot_evidence_text(run: Run) -> str:
    """A warning when the hot-seller table rests on few labels (metrics.json `hot_sellers.final`
    `positives`, `n`, `cutoffs`): under FEW_POSITIVES_PER_ORIGIN hot sellers per evaluation origin,
    or a share of hot sellers far above the configured top share (a small catalogue, where the top
    share rounds up to whole items); empty otherwise."""
    hot = run.metrics.get("hot_sellers")
    final = hot.get("final") if isinstance(hot, dict) else None
    if not isinstance(final, dict):
        return ""
    positives, n, cutoffs = (number(final.get(k)) for k in ("positives", "n", "cutoffs"))
    if not positives or not n or not cutoffs:
        return ""
    per_origin, share, target = positives / cutoffs, positives / n, number(run.metrics.get("hot_seller_fraction"))
    small = target is not None and label_share_far_above(share, target)
    if per_origin >= FEW_POSITIVES_PER_ORIGIN and not small:
        return ""
    text = (f"These figures rest on {int(positives)} hot sellers over {int(cutoffs)} evaluation origins "
            f"({per_origin:.1f} per origin)")
    if small:
        text += f", {share:.0%} of the {int(n)} item-weeks scored rather than the top {target:.0%} (few items: it rounds up to whole ones)"
    return text + ": differences of a few hundredths in AP are noise here."


def hot_choice_text(run: Run) -> str:
    """One sentence on how the final hot-seller ranking combined its scorers at the evaluation
    origins (metrics.json `model_info.hot_sellers`, per origin) and in the release
    (`release.hot_sellers`); empty when neither is recorded."""
    info = run.metrics.get("model_info")
    per_origin = info.get("hot_sellers") if isinstance(info, dict) else None
    parts = []
    if isinstance(per_origin, dict):
        evals = {str(c)[:10] for c in eval_cutoffs(run)}  # per_origin is keyed by the cutoff's date
        picked = [c for k, c in per_origin.items() if str(k)[:10] in evals and isinstance(c, dict)]
        if picked:
            counts = Counter(_combination(c) for c in picked)
            parts.append("at the evaluation origins " + ", ".join(f"{k} at {n}" for k, n in counts.items())
                         + f" of {len(picked)}")
    release = run.metrics.get("release")
    released = release.get("hot_sellers") if isinstance(release, dict) else None
    if isinstance(released, dict) and released.get("weights"):
        parts.append(f"in the release {_combination(released)}")
    if not parts:
        return ""
    return ("How the final ranking combined its scorers (learned on earlier origins whose labels were known; "
            "fallback where too few were): " + "; ".join(parts) + ".")


def _combination(choice: dict[str, Any]) -> str:
    """`method (weight scorer + ...)`, heaviest first; a single scorer without its weight."""
    weights = choice.get("weights") or {}
    terms = sorted(weights.items(), key=lambda kv: (-float(kv[1]), kv[0]))
    shown = terms[0][0] if len(terms) == 1 else " + ".join(f"{float(w):.3g} {name}" for name, w in terms)
    return f"{choice.get('method')} ({shown})"


def timing_table(run: Run) -> Grid | None:
    """Seconds per model or step and their share; for members, when metrics.json has their
    `contributions`, the blend's MASE without the member and the change (positive: the member
    helps the blend). For a member kept out of the blend (`ModelSpec.blend`), the blend's MASE
    with it added, marked so, and the change it would have made."""
    timings = run.metrics.get("timings_s")
    if not isinstance(timings, dict) or not timings:
        return None
    total = sum(x for x in (number(v) for v in timings.values()) if x is not None)
    contributions = run.metrics.get("contributions")
    contributions = contributions if isinstance(contributions, dict) and contributions else None
    columns = ["Model / step", "Seconds", "Share"]
    if contributions:
        columns += ["Blend MASE without it", "Change in blend MASE"]
    rows = []
    for name, secs in timings.items():
        row = [str(name), fmt(secs), _share(secs, total)]
        if contributions:
            c = contributions.get(name)
            c = c if isinstance(c, dict) else {}
            other, inside = other_blend_mase(c)
            row += [fmt(other) if inside else f"{fmt(other)} with it (kept out)", fmt(c.get("delta"))]
        rows.append(row)
    return Grid(columns, rows)


def decision_tables(run: Run) -> list[tuple[str, Grid]]:
    """The decision replay (metrics.json `decisions`, `training.decisions`): per period, the
    newsvendor's regret per unit of realized demand for each model, level-by-level sum then
    sample paths; then the share of period totals at or below each predicted quantile."""
    d = run.metrics.get("decisions")
    if not isinstance(d, dict) or not d.get("scenarios"):
        return []
    rows = [r for r in d["scenarios"] if isinstance(r, dict)]
    models = list(dict.fromkeys(str(r.get("model")) for r in rows))
    out = []
    for period in sorted({int(r["period"]) for r in rows}):
        def cell(model: str, cap: float, ratio: float, period: int = period) -> str:
            got = {r.get("method"): r.get("regret_per_unit") for r in rows if r.get("model") == model
                   and int(r["period"]) == period and r.get("capacity") == cap and r.get("cost_ratio") == ratio}
            return " → ".join(fmt(got[m]) for m in ("sum", "paths") if m in got) or NA

        keys = sorted({(r["capacity"], r["cost_ratio"]) for r in rows if int(r["period"]) == period})
        grid = Grid(["Capacity", "cu / co", *models],
                    [[f"{100 * cap:g}%", f"{ratio:g}", *(cell(m, cap, ratio) for m in models)] for cap, ratio in keys])
        out.append((f"Regret per unit of demand, {period}-week periods (sum → paths)", grid))
    cov = [c for c in d.get("coverage") or [] if isinstance(c, dict)]
    if cov:
        levels = list((cov[0].get("below") or {}).keys())
        grid = Grid(["Model", "Weeks", "Method", *[f"≤ q{100 * float(q):g}" for q in levels], "80% interval", "98% interval"],
                    [[str(c.get("model")), str(c.get("period")), str(c.get("method")),
                      *(fmt((c.get("below") or {}).get(q)) for q in levels),
                      fmt(c.get("interval_80")), fmt(c.get("interval_98"))] for c in cov])
        out.append(("Share of period totals at or below the predicted quantile", grid))
    return out


def _share(value: Any, total: float) -> str:
    x = number(value)
    if x is None or not total or not math.isfinite(x):
        return NA
    return f"{100 * x / total:.1f}%"
