"""Backtest one configuration on every panel, then the tables, the rank summary and the page.

Per panel: `training.backtest.run_backtest` with the suite's forecast, backtest, blend and
hot-seller settings and the panel's own panel settings (horizon, lookback, label quantile).
From its result the suite reports, over the evaluation windows:

* per member and the blend: MASE, scaled pinball, 80% coverage, sMAPE and the member's
  backtest seconds (every window, warm-up included);
* hot sellers: AP and precision at the label's top fraction for every scorer the backtest
  returned, plus two the suite computes from the backtest's own forecasts when the scorer set
  lacks them: `seasonal_naive_growth` and `blend_growth` (the label's growth formula applied to
  that column's forecast: mean forecast over the horizon / max(mean units over the lookback
  weeks, growth floor)); `blend_growth` reads the point blend, `forecast_growth` the growth
  blend (without the members marked `growth: false`) where the configuration has one;
* M4 Weekly: the official sMAPE / MASE / OWA of every member and the blend at the last origin,
  which is the official split (`benchmarks.accuracy.m4`), next to the published figures;
* the peers asked for (`benchmarks.accuracy.peers`: the tools a user would pick instead), fitted
  at the evaluation origins: MASE, sMAPE, seconds, the blend against each, growth read from each
  as a hot-seller scorer (`peer_<name>_growth`), and on M4 the official measures.

The rank summary averages, over the panels, each model's (and peer's) rank by MASE and by scaled pinball
(1 = best in that panel) and each hot-seller scorer's rank by AP.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from benchmarks.accuracy import m4 as m4mod
from benchmarks.accuracy.panels import Panel
from benchmarks.accuracy.peers import score_peers
from darkhorse.core.config import Config, ModelSpec
from darkhorse.core.schema import CUTOFF, DS, ID, WEEK, Y
from training.backtest import other_blend_mase, run_backtest
from training.blend.weights import MEDIAN
from training.hot_sellers import FINAL
from training.metrics import average_precision, ranking_metrics

log = logging.getLogger(__name__)

BLEND = "blend"
SUITE_GROWTH = {"seasonal_naive_growth": "seasonal_naive", "blend_growth": BLEND}
PEER_PREFIX = "peer_"
# the pooled comparison's row against each panel's best input, picked after the fact
BEST_IN_HINDSIGHT = "best_in_hindsight"
SCORER_ORDER = ("momentum", "seasonal_naive_growth", "blend_growth", "forecast_growth", "classifier", "transformer", FINAL)


# --------------------------------------------------------------------------- one panel
def growth_from_forecast(forecasts: pd.DataFrame, history_frame: pd.DataFrame, column: str, *, lookback: int, floor: float) -> pd.DataFrame:
    """`unique_id, cutoff, score`: the label's growth formula applied to `column`'s forecasts
    (`unique_id, cutoff, ds` + `column`)."""
    fc = forecasts
    rows = []
    for cutoff, g in fc.groupby(CUTOFF, sort=True):
        f = history_frame
        past = f[(f[DS] > cutoff - WEEK * lookback) & (f[DS] <= cutoff)].groupby(ID)[Y].sum() / lookback
        future = g.groupby(ID)[column].mean()
        s = future / np.maximum(past.reindex(future.index).fillna(0.0), floor)
        rows.append(pd.DataFrame({ID: future.index.astype(str), CUTOFF: cutoff, "score": s.to_numpy(dtype="float64")}))
    return pd.concat(rows, ignore_index=True)


def final_vs_best(hot: pd.DataFrame) -> dict[str, Any] | None:
    """The final ranking's AP minus the best other scorer's (best by mean AP over the origins),
    paired by origin: the mean difference, its standard error over the origins (None with one),
    and the per-origin differences. `hot`: `unique_id, cutoff, model, score, label`."""
    known = hot[hot["label"].notna()]
    ap = {(str(m), c): average_precision(g["score"].to_numpy(dtype="float64"), g["label"].to_numpy(dtype="float64"))
          for (m, c), g in known.groupby(["model", CUTOFF], sort=True)}
    if not ap:
        return None
    table = pd.Series(ap, dtype="float64").unstack()
    if FINAL not in table.index or len(table.index) < 2:
        return None
    table = table.dropna(axis=1)
    others = table.drop(index=FINAL)
    best = str(others.mean(axis=1).idxmax())
    d = (table.loc[FINAL] - table.loc[best]).to_numpy()
    if not len(d):
        return None
    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else None
    return {"best": best, "diff": float(d.mean()), "se": se, "n_origins": len(d),
            "per_origin": [round(float(x), 6) for x in d]}


def is_final_input(scorer: str) -> bool:
    """Whether `scorer` is one the final ranking may learn from: every scorer but the growth
    read from a peer's forecast (the suite adds those for comparison only)."""
    return not scorer.startswith(PEER_PREFIX)


def peer_scorer(name: str) -> str:
    """The hot-seller scorer that reads growth from peer `name`'s forecast."""
    return f"{PEER_PREFIX}{name}_growth"


def eval_origins(windows: list[dict[str, Any]]) -> set[pd.Timestamp]:
    """The evaluation origins of a run's `windows` (metrics.json / result.json)."""
    return {pd.Timestamp(w["cutoff"]) for w in windows if w["role"] == "eval"}


def hot_seller_table(
    hot: pd.DataFrame, forecasts: pd.DataFrame, evals: set[pd.Timestamp], panel: Panel, peer_forecasts: pd.DataFrame | None = None,
    peers: Sequence[str] = (),
) -> tuple[dict[str, dict[str, Any]], list[str], dict | None]:
    """Ranking metrics of every scorer over the evaluation origins `evals`; names the suite added; the
    final ranking against the best other scorer (`final_vs_best`; the peers' growth is not an
    input of the final ranking, so it is left out of that comparison). `hot`, `forecasts`: the
    backtest's scores and forecasts; `peer_forecasts`: the peers' forecasts at the evaluation
    origins (`peers.score_peers`), one scorer per peer."""
    have = set(hot["model"].unique()) if len(hot) else set()
    labels = panel.history.labels[[ID, DS, "label"]].rename(columns={DS: CUTOFF})
    parts, added = [hot], []
    sources = [(name, column, forecasts) for name, column in SUITE_GROWTH.items()]
    sources += [(peer_scorer(p), p, peer_forecasts) for p in peers]
    for name, column, frame in sources:
        if name in have or frame is None or column not in frame.columns:
            continue
        if frame[column].isna().all():  # a peer that failed at every origin: no scorer to rank by
            continue
        s = growth_from_forecast(frame, panel.history.frame, column, lookback=panel.panel.lookback_weeks, floor=panel.panel.growth_floor)
        s = s.merge(labels, on=[ID, CUTOFF], how="left")
        s["model"] = name
        parts.append(s[[ID, CUTOFF, "model", "score", "label"]])
        added.append(name)
    allhot = pd.concat([p for p in parts if len(p)], ignore_index=True)
    allhot = allhot[allhot[CUTOFF].isin(evals)]
    inputs = allhot[allhot["model"].map(is_final_input)]
    return ranking_metrics(allhot, fraction=1 - panel.panel.hot_seller_quantile), added, final_vs_best(inputs)


def panel_config(panel: Panel, config: Config) -> Config:
    """`config` with the panel's own settings and marts: its marts folder, or one that does not
    exist (no customer or graph features from the config's marts leak into a panel read from
    elsewhere)."""
    marts = panel.marts or Path(config.data_dir) / f"no-marts-for-{panel.name}"
    return config.model_copy(update={"panel": panel.panel, "paths": config.paths.model_copy(update={"marts": marts})})


def run_panel(panel: Panel, config: Config, specs: list[ModelSpec], *, out: Path | None, show_progress: bool,
              with_hot_sellers: bool = True, peers: Sequence[str] = ()) -> dict[str, Any]:
    cfg = panel_config(panel, config)
    h = panel.history
    n_series = int(h.frame[ID].nunique())
    log.info("%s: %d series, %d rows, weeks %s..%s, horizon %d: backtest of %s",
             panel.name, n_series, len(h.frame), h.first_week.date(), h.last_week.date(),
             panel.panel.horizon_weeks, ", ".join(s.name for s in specs))
    t0 = time.perf_counter()
    result = run_backtest(cfg, history=h, specs=specs, out_dir=None, report=False, show_progress=show_progress,
                          with_hot_sellers=with_hot_sellers)
    wall = time.perf_counter() - t0
    met = result.metrics
    timings = met["timings_s"]
    evals = {w["cutoff"] for w in met["windows"] if w["role"] == "eval"}
    n_windows = len(result.cutoffs)
    models = {}
    for m in result.models:
        v = met["models"][m]
        models[m] = {k: v.get(k) for k in ("mase", "scaled_pinball", "coverage_80", "smape", "wape")}
        models[m]["seconds"] = timings.get(m)
        models[m]["seconds_per_window"] = (timings[m] / n_windows) if timings.get(m) is not None else None
    peer_rec, peer_fc = {}, None
    if peers:
        t1 = time.perf_counter()
        peer_rec, peer_fc = score_peers(h, result.forecasts, result.series_metrics, list(peers),
                                        horizon=panel.panel.horizon_weeks, seed=cfg.training.seed)
        log.info("%s: peers %s in %.0f s", panel.name, ", ".join(peers), time.perf_counter() - t1)
    hot, added, final_vs = hot_seller_table(result.hot_sellers, result.forecasts, eval_origins(met["windows"]), panel,
                                            peer_fc, peers)
    rec: dict[str, Any] = {
        "panel": panel.name,
        "description": panel.description,
        "n_series": n_series,
        "n_rows": len(h.frame),
        "first_week": str(h.first_week.date()),
        "last_week": str(h.last_week.date()),
        "horizon": panel.panel.horizon_weeks,
        "label_positive_share": float(h.labels["label"].mean()) if len(h.labels) else None,
        "windows": met["windows"],
        # why fewer evaluation windows ran than configured (`backtest.short_panel`), or None
        "windows_reduced": met.get("windows_reduced"),
        "wall_s": round(wall, 1),
        "timings_s": timings,
        "models": models,
        # enabled members this panel does not fit (`min_history_weeks`), with the reason
        "members_left_out": met["members_left_out"],
        # the tools a user would pick instead, at the evaluation origins (`peers`)
        "peers": peer_rec,
        "hot_sellers": hot,
        "hot_seller_fraction": round(1 - panel.panel.hot_seller_quantile, 6),
        "suite_scorers": added,
        # the final ranking's AP minus the best other scorer's, paired by evaluation origin
        "final_vs_best": final_vs,
        "model_info": met.get("model_info", {}),
        # the blend's MASE with each member left out (weights re-learned, nothing refitted)
        "contributions": met.get("contributions", {}),
        # the blend minus its best member in MASE, with the paired standard error
        "blend_vs_best": met.get("blend_vs_best"),
        # per evaluation origin: the weights' candidate and the quantiles' source, with held-out losses
        "blend_choice": [c for c in met.get("blend_choice", []) if c["cutoff"] in evals],
        "extra": {k: v for k, v in panel.extra.items() if k != "m4"},
    }
    if "m4" in panel.extra:
        data: m4mod.M4Weekly = panel.extra["m4"]
        official = m4mod.score_backtest(data, result.forecasts, result.models)
        official["naive (suite scorer)"] = m4mod.score(data, m4mod.naive_forecasts(data))
        if peer_fc is not None:
            official.update(m4mod.score_backtest(data, peer_fc, list(peers)))
        rec["m4_official"] = official
        rec["m4_published"] = m4mod.PUBLISHED
        rec["m4_origin"] = str(data.split.date())
    if out is not None:
        d = out / "panels" / panel.name
        d.mkdir(parents=True, exist_ok=True)
        result.forecasts.to_parquet(d / "forecasts.parquet", index=False)
        result.hot_sellers.to_parquet(d / "hot_sellers.parquet", index=False)
        if peer_fc is not None:
            peer_fc.to_parquet(d / "peer_forecasts.parquet", index=False)
        (d / "result.json").write_text(json.dumps(jsonable(rec), indent=2))
    log.info("%s: done in %.0f s (blend MASE %s)", panel.name, wall, fmt(models.get(BLEND, {}).get("mase")))
    return rec


# --------------------------------------------------------------------------- summary
def rank_summary(panels: list[dict[str, Any]]) -> dict[str, Any]:
    """Average rank (1 = best) of each model by MASE and scaled pinball, of each scorer by AP."""
    def ranks(getter, ascending: bool) -> dict[str, dict[str, float]]:
        per: dict[str, list[float]] = {}
        for p in panels:
            s = pd.Series({k: v for k, v in getter(p).items() if v is not None}, dtype="float64")
            for k, r in s.rank(ascending=ascending, method="average").items():
                per.setdefault(str(k), []).append(float(r))
        return {k: {"mean_rank": float(np.mean(v)), "panels": len(v)} for k, v in per.items()}

    def mase(p: dict[str, Any]) -> dict[str, float | None]:
        return {**{m: v["mase"] for m, v in p["models"].items()},
                **{peer_label(m): v["mase"] for m, v in p.get("peers", {}).items()}}

    return {
        "mase": ranks(mase, True),
        "scaled_pinball": ranks(lambda p: {m: v["scaled_pinball"] for m, v in p["models"].items()}, True),
        "hot_seller_ap": ranks(lambda p: {m: v["average_precision"] for m, v in p["hot_sellers"].items()}, False),
        "final_vs_scorers": final_vs_scorers(panels),
        "short_panels": short_panels(panels),
    }


def short_panels(panels: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """The panels whose ranks rest on less than the suite's plan: those that ran fewer evaluation
    windows than asked (`windows_reduced`) or whose blend took the members' median at some
    evaluation origin (no earlier origin to learn weights from). Per panel: its evaluation windows
    and those median origins. Their ranks count like any panel's, on fewer rows and, where the
    blend had no evidence, without the learned blend."""
    out = {}
    for i, p in enumerate(panels):
        alone = median_origins(p)
        if p.get("windows_reduced") or alone:
            out[str(p.get("panel", f"panel {i}"))] = {"eval_windows": len(eval_origins(p.get("windows", []))),
                                                      "median_origins": alone}
    return out


def median_origins(p: dict[str, Any]) -> int:
    """A panel's evaluation origins whose blend took the members' median (no earlier origin)."""
    return sum(c.get("choice") == MEDIAN for c in p.get("blend_choice", []))


def final_vs_scorers(panels: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The final hot-seller ranking against every other scorer, pooled over `panels` (each
    panel's AP is its mean over its evaluation origins): per scorer, the mean over the panels
    that have it of final minus it, the standard error over those panels (None with one; a
    panel's origins share weeks of their labels, so the panel is the unit), the panels where the
    final is at least as good, and the per-panel differences. `best_in_hindsight` compares with
    each panel's best input (`final_vs_best`'s pick: the peers' growth left out), picked after
    the fact among noisy estimates, so it is biased against the final ranking; pooled, each
    scorer is one fixed choice."""
    means = pd.DataFrame({p.get("panel", f"panel {i}"): {m: v["average_precision"] for m, v in p["hot_sellers"].items()}
                          for i, p in enumerate(panels) if p.get("hot_sellers")}).T.astype("float64")
    if FINAL not in means.columns or means[FINAL].isna().all():
        return {}
    others = [c for c in means.columns if c != FINAL]
    inputs = [c for c in others if is_final_input(c)]
    columns = {c: means[c] for c in others}
    if inputs:
        columns[BEST_IN_HINDSIGHT] = means[inputs].max(axis=1, skipna=True)
    out = {}
    for name, col in columns.items():
        d = (means[FINAL] - col).dropna()
        if d.empty:
            continue
        out[name] = {"diff": float(d.mean()), "se": float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else None,
                     "panels": len(d), "at_least_as_good": int((d >= -1e-12).sum()),
                     "per_panel": {str(k): round(float(v), 6) for k, v in d.items()}}
    return out


def peer_label(name: str) -> str:
    """How a peer is named in the tables, the ranks and the plot."""
    return f"peer: {name}"


def fmt(v: Any, nd: int = 3) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def _scorer_key(name: str) -> tuple[int, str]:
    if name in SCORER_ORDER:
        return (SCORER_ORDER.index(name), name)
    return (len(SCORER_ORDER) + name.startswith(PEER_PREFIX), name)  # the peers' growth last


def panel_tables(p: dict[str, Any]) -> list[Table]:
    m4 = p.get("m4_official")
    n_win = len(p["windows"])
    t = Table(title=f"{p['panel']}: {p['description']} | {p['n_series']} series, {p['first_week']}..{p['last_week']}, "
                    f"h={p['horizon']}, {n_win} origins ({sum(w['role'] == 'eval' for w in p['windows'])} eval), wall {p['wall_s']:.0f} s")
    t.add_column("model")
    for c in ("MASE", "sc. pinball", "cov 80", "sMAPE", "s (all windows)", "blend MASE without"):
        t.add_column(c, justify="right")
    if m4:
        for c in ("M4 sMAPE", "M4 MASE", "M4 OWA"):
            t.add_column(c, justify="right")
    best = min((v["mase"] for v in p["models"].values() if v["mase"] is not None), default=None)
    for m, v in p["models"].items():
        other, inside = other_blend_mase(p.get("contributions", {}).get(m, {}))
        without = fmt(other) if inside else f"with it {fmt(other)}"
        row = [m, fmt(v["mase"]), fmt(v["scaled_pinball"]), fmt(v["coverage_80"]), fmt(v["smape"], 2), fmt(v["seconds"], 1), without]
        if m4:
            o = m4.get(m, {})
            row += [fmt(o.get("smape")), fmt(o.get("mase")), fmt(o.get("owa"))]
        style = "bold" if m == BLEND else ("green" if v["mase"] is not None and v["mase"] == best else None)
        t.add_row(*row, style=style)
    for name, v in p.get("peers", {}).items():
        row = [peer_label(name), fmt(v["mase"]), "-", "-", fmt(v["smape"], 2), fmt(v["seconds"], 1), ""]
        if m4:
            o = m4.get(name, {})
            row += [fmt(o.get("smape")), fmt(o.get("mase")), fmt(o.get("owa"))]
        t.add_row(*row, style="italic")
    if p["timings_s"].get("hot_sellers") is not None:
        t.add_row("(hot-seller scorers)", "", "", "", "", fmt(p["timings_s"]["hot_sellers"], 1), "", *([""] * 3 if m4 else []), style="dim")
    if m4:
        o = m4["naive (suite scorer)"]
        t.add_row("naive, suite's M4 scorer", *["" for _ in range(6)], fmt(o["smape"]), fmt(o["mase"]), fmt(o["owa"]), style="dim")
        for name, v in p["m4_published"].items():
            owa = 0.5 * (v["smape"] / m4mod.NAIVE2["smape"] + v["mase"] / m4mod.NAIVE2["mase"]) if v["smape"] else None
            t.add_row(f"published: {name}", *["" for _ in range(6)], fmt(v["smape"]), fmt(v["mase"]), fmt(owa), style="dim")
    vs = p.get("blend_vs_best")
    if vs:
        t.caption = (f"blend - best member ({vs['best']}): MASE {vs['diff']:+.4f} +- {vs['se']:.4f} "
                     f"(s.e. over {vs['n_series']} series, {vs['pct']:+.2f}%)")
    if p.get("peers"):
        t.caption = (t.caption or "blend") + "; the peers' seconds: their fits at the evaluation origins only"
    for name, v in p.get("peers", {}).items():
        d = v.get("blend_vs")
        if d:
            t.caption = (t.caption or "blend") + (f"; blend - {peer_label(name)}: MASE {d['diff']:+.4f} +- {d['se']:.4f} "
                                                  f"({d['pct']:+.2f}%)")
    sources = [str(c["intervals"]) for c in p.get("blend_choice", []) if c.get("intervals")]
    if sources:
        shown = "; quantiles per eval origin: " + ", ".join(sources)
        t.caption = (t.caption or "blend") + shown
    if p.get("windows_reduced"):
        t.caption = (t.caption or "blend") + f"; fewer evaluation windows: {p['windows_reduced']}"
    alone = median_origins(p)
    if alone:
        t.caption = (t.caption or "blend") + f"; the members' median at {alone} eval origin(s) with no earlier one"
    left = p.get("members_left_out") or {}
    if left:
        t.caption = (t.caption or "blend") + "; not fitted here: " + ", ".join(f"{m} ({why})" for m, why in left.items())
    factors = [c.get("point_factor") for c in p.get("blend_choice", [])]
    if any(f is not None for f in factors):
        shown = "; point factor per eval origin: " + ", ".join("-" if f is None else f"{f:g}" for f in factors)
        t.caption = (t.caption or "blend") + shown
    frac = p["hot_seller_fraction"]
    h = Table(title=f"{p['panel']}: hot sellers (top {frac:.0%}, mean over eval origins; * = computed by the suite)")
    for c in ("scorer", "AP", f"P@{frac:.0%}", f"R@{frac:.0%}", "positives"):
        h.add_column(c, justify="left" if c == "scorer" else "right")
    for name in sorted(p["hot_sellers"], key=_scorer_key):
        v = p["hot_sellers"][name]
        label = name + (" *" if name in p.get("suite_scorers", []) else "")
        h.add_row(label, fmt(v["average_precision"]), fmt(v["precision_at_top"]), fmt(v["recall_at_top"]), str(v["positives"]),
                  style="bold" if name == FINAL else None)
    fv = p.get("final_vs_best")
    if fv:
        se = f" +- {fv['se']:.3f}" if fv["se"] is not None else ""
        h.caption = (f"final - best other scorer ({fv['best']}): AP {fv['diff']:+.3f}{se} "
                     f"(s.e. over {fv['n_origins']} origins; per origin {', '.join(f'{x:+.3f}' for x in fv['per_origin'])})")
    return [t, h]


def summary_table(summary: dict[str, Any], n_panels: int) -> list[Table]:
    t = Table(title=f"rank summary over {n_panels} panel(s): mean rank, 1 = best")
    for c in ("model", "MASE rank", "sc. pinball rank", "panels"):
        t.add_column(c, justify="left" if c == "model" else "right")
    for m, v in sorted(summary["mase"].items(), key=lambda kv: kv[1]["mean_rank"]):
        sp = summary["scaled_pinball"].get(m, {})
        t.add_row(m, fmt(v["mean_rank"], 2), fmt(sp.get("mean_rank"), 2), str(v["panels"]), style="bold" if m == BLEND else None)
    short = summary.get("short_panels") or {}
    if short:
        t.caption = "short panels, ranked on less: " + "; ".join(
            f"{name} ({v['eval_windows']} eval window(s)"
            + (f", the members' median at {v['median_origins']}" if v["median_origins"] else "") + ")"
            for name, v in short.items())
    h = Table(title="hot-seller scorers: mean rank by AP")
    for c in ("scorer", "AP rank", "panels"):
        h.add_column(c, justify="left" if c == "scorer" else "right")
    for m, v in sorted(summary["hot_seller_ap"].items(), key=lambda kv: kv[1]["mean_rank"]):
        h.add_row(m, fmt(v["mean_rank"], 2), str(v["panels"]))
    vs = summary.get("final_vs_scorers") or {}
    if not vs:
        return [t, h]
    f = Table(title="the final hot-seller ranking against each scorer, pooled over the panels (AP, mean over panels)")
    for c in ("scorer", "final - it", "s.e. (over panels)", "final at least as good", "panels"):
        f.add_column(c, justify="left" if c == "scorer" else "right")
    for m in sorted(vs, key=lambda n: (n == BEST_IN_HINDSIGHT, _scorer_key(n))):
        v = vs[m]
        f.add_row(m, f"{v['diff']:+.3f}", fmt(v["se"]), str(v["at_least_as_good"]), str(v["panels"]),
                  style="bold" if m == BEST_IN_HINDSIGHT else None)
    f.caption = (f"{BEST_IN_HINDSIGHT}: each panel's best input picked after the fact (biased against the final "
                 "ranking where inputs are about equal)")
    return [t, h, f]


def render(panels: list[dict[str, Any]], summary: dict[str, Any], *, width: int = 160) -> Console:
    console = Console(record=True, width=width)
    for p in panels:
        for t in panel_tables(p):
            console.print(t)
        console.print()
    for t in summary_table(summary, len(panels)):
        console.print(t)
    return console


def mase_plot(panels: list[dict[str, Any]]) -> str | None:
    """PNG (base64) of each model's MASE relative to seasonal naive, one group per panel."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = [{**p["models"], **{peer_label(k): v for k, v in p.get("peers", {}).items()}} for p in panels]
    models = sorted({m for r in rows for m in r}, key=lambda m: (m == BLEND, m.startswith("peer: "), m))
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * len(panels) + 3.5), 4))
    width = 0.8 / max(len(models), 1)
    for i, m in enumerate(models):
        vals = []
        for r in rows:
            ref = r.get("seasonal_naive", {}).get("mase")
            v = r.get(m, {}).get("mase")
            vals.append(v / ref if (v is not None and ref) else np.nan)
        ax.bar(np.arange(len(panels)) + i * width, vals, width, label=m)
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_xticks(np.arange(len(panels)) + 0.4 - width / 2, [p["panel"] for p in panels])
    ax.set_ylabel("MASE / seasonal naive")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars, never over them
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def write_page(path: Path, console: Console, panels: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    body = console.export_html(inline_styles=True, code_format="<pre style=\"font-size:12px\">{code}</pre>", clear=False)
    png = mase_plot(panels)
    img = f'<h2>MASE relative to seasonal naive</h2><img src="data:image/png;base64,{png}">' if png else ""
    cmd = meta.get("command", "")
    path.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>DarkHorse accuracy suite</title></head>"
        f"<body style='font-family:sans-serif'><h1>DarkHorse accuracy suite</h1><p><code>{cmd}</code><br>"
        f"{meta.get('created_at', '')}, config {meta.get('config', '')} ({meta.get('config_hash', '')}), "
        f"commit {meta.get('commit', '')}</p>{img}<h2>Tables</h2>{body}</body></html>"
    )


def jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, float | np.floating):
        v = float(x)
        return v if np.isfinite(v) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, pd.Timestamp | Path):
        return str(x)
    return x


__all__ = ["eval_origins", "growth_from_forecast", "hot_seller_table", "rank_summary", "render", "run_panel", "write_page"]
