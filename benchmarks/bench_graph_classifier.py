"""The XGBoost hot-seller classifier with and without the product-graph and item text features,
on the same rolling origins.

Per dataset the graph marts and the weekly panel are built by dbt (`bench_graph.build_marts`):
synthetic reviews with and without the planted graph effects (`generate_reviews(spread=...)`)
and, with `--online-retail`, the shipped Online Retail. At each origin (the last `--origins`
labelled weeks, `--step` weeks apart) `training.hot_sellers.score_origin` scores the items once per
arm (`--arms`): `classifier.graph_features` off, on and `auto` (kept only where they won on the labelled
weeks before the origin; a naive forecast as the growth forecast), `text` (`text_features` on,
graph off) and `text_graph` (both on); all see only the labels known at the origin, and the graph
and text features of a week are those known at its close (training/hot_sellers/graph_features.py,
text_features.py). It prints the classifier's hot-seller AP and precision
at the top 5% per origin, and per dataset the mean of each arm, the difference to `without`
(mean +- standard error over origins) and the origins where the arm was better; JSON beside.

Every arm runs with `text_score` off unless it sets it (`text_score`: the supervised text score
in the classifier; `--final text_score`: as its own scorer, `classifier_text_score`).

With `--final` it scores the final hot-seller ranking instead: origins in turn, each passed the
earlier origins' scores as the backtest does, under `graph_features: scorer` and/or
`text_features: scorer` (`run_final`), and compares the final ranking with the graph or text
classifier as a scorer to the one without it, over the origins where the ranking was learned from
earlier labelled origins (`final_summary`).

    nice -n 10 python benchmarks/bench_graph_classifier.py --rows 200000 --items 600 --origins 6
    nice -n 10 python benchmarks/bench_graph_classifier.py --final --origins 24 --step 2 --seed 0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_graph import build_marts
from benchmarks.bench_multitask import final_choice, naive_forecast, panel
from darkhorse.core.config import load_config
from darkhorse.core.schema import CUTOFF, DS, ID
from training import hot_sellers as hs
from training.hot_sellers.classifier import GRAPH_SCORER, TEXT_SCORE_SCORER, TEXT_SCORER
from training.metrics import average_precision, top_fraction

REPO = Path(__file__).resolve().parents[1]
ARMS = {"without": {"graph_features": False}, "with": {"graph_features": True}, "auto": {"graph_features": "auto"},
        "text": {"text_features": True}, "text_score": {"text_score": True}, "text_graph": {"graph_features": True, "text_features": True}}
FINAL = {"scorer": ({"graph_features": "scorer"}, GRAPH_SCORER), "auto": ({"graph_features": "auto"}, None),
         "text": ({"text_features": "scorer"}, TEXT_SCORER),
         "text_score": ({"text_score": "scorer"}, TEXT_SCORE_SCORER),
         "both": ({"graph_features": "scorer", "text_score": "scorer"}, (GRAPH_SCORER, TEXT_SCORE_SCORER))}


def _metrics(scores: pd.Series, labels: pd.DataFrame, cutoff: pd.Timestamp) -> tuple[float | None, float | None]:
    lab = labels[labels[DS] == cutoff].set_index(ID)["label"]
    both = pd.concat([scores.rename("score"), lab], axis=1, join="inner")
    s, y = both["score"].to_numpy(dtype="float64"), both["label"].to_numpy(dtype="float64")
    ap = average_precision(s, y)
    return ap, (top_fraction(s, y, 0.05)[0] if ap is not None else None)


def run_dataset(name: str, marts: Path, *, origins: int, step: int, horizon: int, lookback: int,
                arms: list[str], classifier: dict[str, Any]) -> dict[str, Any]:
    frame, labels, covs = panel(marts)
    last = labels[DS].max()
    cutoffs = [last - pd.Timedelta(weeks=step * i) for i in range(origins)][::-1]
    rows = []
    for cutoff in cutoffs:
        train = frame[frame[DS] <= cutoff].reset_index(drop=True)
        fc = naive_forecast(train, cutoff, horizon)
        for arm in arms:
            on = ARMS[arm]
            settings = hs.Settings(lookback=lookback, horizon=horizon, floor=1.0, marts_dir=str(marts),
                                   classifier={"text_score": False, **classifier, **on, "customer_signals": False})
            t0 = time.perf_counter()
            s, clf = hs.score_origin(train, fc, labels, cutoff=cutoff, covariates=covs, settings=settings)
            wall = time.perf_counter() - t0
            for model in ("classifier", "momentum"):
                got = s[s["model"] == model].set_index(ID)["score"]
                ap, p5 = _metrics(got, labels, cutoff)
                rows.append({"dataset": name, CUTOFF: str(cutoff.date()), "arm": arm, "model": model,
                             "ap": ap, "p_at_5": p5, "wall_s": round(wall, 1)})
            gain = getattr(clf, "feature_importance_", pd.Series(dtype="float64"))
            share = float(gain.filter(like="graph_").sum() / gain.sum()) if gain.sum() else 0.0
            text_share = float(gain.filter(like="text_").sum() / gain.sum()) if gain.sum() else 0.0
            rows[-2]["graph_gain_share"], rows[-2]["text_gain_share"] = round(share, 3), round(text_share, 3)
            picked = getattr(clf, "selection_", {}).get("graph_features")
            if picked is not None:
                rows[-2]["auto"] = picked
            note = "" if picked is None else (f", auto {'kept' if picked['kept'] else 'dropped'} "
                                              f"(gains {picked['gains']})")
            print(f"  {name} {cutoff.date()} {arm:>7}: classifier AP {rows[-2]['ap']:.3f} "
                  f"P@5% {rows[-2]['p_at_5']:.3f} ({wall:.1f} s, gain share graph {share:.2f} text {text_share:.2f}{note})",
                  flush=True)
    return {"dataset": name, "cutoffs": [str(c.date()) for c in cutoffs], "rows": rows,
            "items": int(frame[ID].nunique()), "weeks": int(frame[DS].nunique())}


def _final_without(s: pd.DataFrame, earlier: pd.DataFrame | None, labels: pd.DataFrame, cutoff: pd.Timestamp,
                   settings: hs.Settings, first_week: pd.Timestamp,
                   scorer: str | tuple[str, ...] = GRAPH_SCORER) -> tuple[pd.Series, dict]:
    """The final ranking this origin gets when `scorer` (`classifier_graph`, `classifier_text`)
    is not a scorer: score_origin's own combination (`hot_sellers.final_ranking`) over the other
    scores, learned on the earlier origins' scores less `scorer`. The classifier of
    `graph_features: scorer` is the one of `graph_features: false` (same rows, same columns;
    likewise for the text), so this is the default run's final ranking without a second pass."""
    wide = s.pivot_table(index=ID, columns="model", values="score", aggfunc="first")
    dropped = {"final", *((scorer,) if isinstance(scorer, str) else scorer)}
    scores = {n: wide[n] for n in wide.columns if n not in dropped}
    final, choice = hs.final_ranking(scores, earlier, hs.known_labels(labels, cutoff), cutoff=cutoff,
                                     settings=settings, first_week=first_week)
    return final, choice.as_dict()


def run_final(name: str, marts: Path, *, origins: int, step: int, horizon: int, lookback: int, arms: list[str],
              classifier: dict[str, Any], choice_settings: dict[str, Any]) -> dict[str, Any]:
    """The final ranking over rolling origins, each origin passed the scores of the earlier ones
    (as the backtest does). Arm `scorer` (graph_features: scorer) gives `final_scorer`, the final
    ranking with the graph classifier among its scorers, and from the same scores `final_without`
    (less `classifier_graph`); arm `text` (text_features: scorer) likewise `final_text` with
    `classifier_text` (and `final_without` when `scorer` is not run); arm `auto` runs
    graph_features: auto through the same final ranking. `choice_settings`: how the final ranking
    learns its combination (`final_choice`: the config's)."""
    frame, labels, covs = panel(marts)
    last = labels[DS].max()
    cutoffs = [last - pd.Timedelta(weeks=step * i) for i in range(origins)][::-1]
    rows = []
    earlier: dict[str, list[pd.DataFrame]] = {arm: [] for arm in arms}
    for cutoff in cutoffs:
        train = frame[frame[DS] <= cutoff].reset_index(drop=True)
        fc = naive_forecast(train, cutoff, horizon)
        for arm in arms:
            mode, scorer = FINAL[arm]
            settings = hs.Settings(lookback=lookback, horizon=horizon, floor=1.0, marts_dir=str(marts),
                                   **choice_settings,
                                   classifier={"text_score": False, **classifier, **mode, "customer_signals": False})
            prior = pd.concat(earlier[arm], ignore_index=True) if earlier[arm] else None
            t0 = time.perf_counter()
            s, _ = hs.score_origin(train, fc, labels, cutoff=cutoff, covariates=covs, settings=settings,
                                   earlier_scores=prior)
            wall = time.perf_counter() - t0
            earlier[arm].append(s)
            got = {m: g.set_index(ID)["score"] for m, g in s.groupby("model")}
            choice = {f"final_{arm}": s.attrs["choice"]}
            if scorer is not None:
                final = got.pop("final")
                if arm == "scorer" or "scorer" not in arms:
                    got["final_without"], choice["final_without"] = _final_without(
                        s, prior, labels, cutoff, settings, train[DS].min(), scorer)
                else:
                    got = {m: v for m, v in got.items() if m == scorer}
                got[f"final_{arm}"] = final
            else:
                got = {f"final_{arm}": got["final"]}
            for model, sc in got.items():
                ap, p5 = _metrics(sc, labels, cutoff)
                row = {"dataset": name, CUTOFF: str(cutoff.date()), "arm": arm, "model": model, "ap": ap,
                       "p_at_5": p5, "wall_s": round(wall, 1)}
                if model in choice:
                    row["choice"] = choice[model]
                rows.append(row)
            line = ", ".join(f"{r['model']} {r['ap']:.3f}" for r in rows[-len(got):] if r["ap"] is not None)
            w = s.attrs["choice"]
            print(f"  {name} {cutoff.date()} {arm:>6}: {line} ({wall:.0f} s; final {w['method']} {w['weights']})",
                  flush=True)
    return {"dataset": name, "cutoffs": [str(c.date()) for c in cutoffs], "rows": rows,
            "items": int(frame[ID].nunique()), "weeks": int(frame[DS].nunique())}


def final_summary(results: list[dict[str, Any]]) -> pd.DataFrame:
    """Per dataset and ranking: mean AP and P@5% over the origins where the final ranking was
    learned (not the fallback) in the runs compared; against `final_without`: the mean difference
    of AP, its standard error over those origins, the origins better and worse, and the origins
    whose final ranking gave the arm's scorer (`classifier_graph`, `classifier_text`,
    `classifier_text_score`) a weight."""
    df = pd.DataFrame([r for d in results for r in d["rows"]])
    learned = df[df["model"].str.startswith("final")].assign(
        learned=lambda d: d["choice"].map(lambda c: c["method"] != "fallback"))
    ok = learned.groupby(["dataset", CUTOFF])["learned"].all()
    df = df.merge(ok.rename("learned").reset_index(), on=["dataset", CUTOFF])
    df = df[df["learned"]]
    wide = df.pivot_table(index=["dataset", CUTOFF], columns="model", values="ap")
    out = []
    for name, g in wide.groupby(level=0):
        d = df[df["dataset"] == name]
        p5 = d.groupby("model")["p_at_5"].mean()
        weighted = {f"final_{arm}": int(d[d["model"] == f"final_{arm}"]["choice"].map(
            lambda c, n=name_: any(c["weights"].get(x, 0) > 0 for x in ((n,) if isinstance(n, str) else n))).sum())
            for arm, (_, name_) in FINAL.items() if name_}
        for model in [m for m in ("final_without", *(f"final_{arm}" for arm in FINAL), "classifier",
                                  GRAPH_SCORER, TEXT_SCORER, TEXT_SCORE_SCORER) if m in g.columns]:
            diff = g[model] - g["final_without"]
            out.append({"dataset": name, "ranking": model, "origins": len(g), "ap": g[model].mean(),
                        "ap_se": g[model].std(ddof=1) / np.sqrt(len(g)) if len(g) > 1 else np.nan,
                        "p_at_5": p5.get(model), "ap_diff": diff.mean(),
                        "ap_diff_se": diff.std(ddof=1) / np.sqrt(len(g)) if len(g) > 1 else np.nan,
                        "better": int((diff > 1e-12).sum()), "worse": int((diff < -1e-12).sum()),
                        "scorer_weighted": weighted.get(model)})
    return pd.DataFrame(out)


def summary(results: list[dict[str, Any]]) -> pd.DataFrame:
    """Per dataset and arm: mean AP and P@5% and the mean wall seconds of score_origin; against
    `without`: mean difference of AP, its standard error over origins and the origins where the
    arm was better and worse."""
    df = pd.DataFrame([r for d in results for r in d["rows"] if r["model"] == "classifier"])
    wide = df.pivot_table(index=["dataset", CUTOFF], columns="arm", values="ap")
    out = []
    for name, g in wide.groupby(level=0):
        p5 = df[df["dataset"] == name].groupby("arm")["p_at_5"].mean()
        wall = df[df["dataset"] == name].groupby("arm")["wall_s"].mean()
        for arm in [a for a in ARMS if a in g.columns]:
            diff = g[arm] - g["without"]
            out.append({"dataset": name, "arm": arm, "origins": len(g), "ap": g[arm].mean(), "p_at_5": p5.get(arm),
                        "wall_s": wall.get(arm),
                        "ap_diff": diff.mean(),
                        "ap_diff_se": diff.std(ddof=1) / np.sqrt(len(g)) if len(g) > 1 else np.nan,
                        "origins_better": int((diff > 0).sum()), "origins_worse": int((diff < 0).sum())})
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", type=Path, default=REPO / "data" / "bench" / "graph_classifier")
    p.add_argument("--rows", type=int, default=200_000, help="synthetic reviews per dataset")
    p.add_argument("--items", type=int, default=600)
    p.add_argument("--weeks", type=int, default=104)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--origins", type=int, default=6)
    p.add_argument("--step", type=int, default=4)
    p.add_argument("--online-retail", action="store_true", help="also the shipped Online Retail")
    p.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS),
                   help="which arms to run (`without` is always run: the others are compared with it)")
    p.add_argument("--classifier", type=json.loads, default={},
                   help='more classifier settings (JSON) for every arm, e.g. \'{"auto_folds": 6}\'')
    p.add_argument("--tag", default="", help="suffix of the JSON file's name")
    p.add_argument("--final", nargs="*", choices=list(FINAL), default=None,
                   help="score the final ranking instead, origins in turn with the earlier origins' scores: "
                   "`scorer` (final with and without classifier_graph), `text` (with classifier_text), `text_score` "
                   "(with classifier_text_score), `both` (classifier_graph and classifier_text_score), `auto` "
                   "(default: scorer)")
    p.add_argument("--skip-synthetic", action="store_true", help="only the shipped Online Retail (with --online-retail)")
    args = p.parse_args(argv)
    args.out_dir = args.out_dir.resolve()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    cfg = load_config(REPO / "darkhorse.yaml")
    horizon, lookback = cfg.panel.horizon_weeks, cfg.panel.lookback_weeks
    kind = "" if args.final is None else "_final"
    out_json = (args.out_dir /
                f"bench_graph_classifier{kind}_{args.seed}{'_or' if args.online_retail else ''}{args.tag}.json")
    arms = ["without", *[a for a in args.arms if a != "without"]]
    datasets: list[tuple[str, list[dict[str, Any]]]] = []
    for name, spread in () if args.skip_synthetic else (("synthetic_spread", True), ("synthetic", False)):
        from synthetic.generator import generate_reviews

        reviews = args.out_dir / f"{name}_{args.rows}_{args.seed}.jsonl.gz"
        if not reviews.exists():
            generate_reviews(reviews, rows=args.rows, seed=args.seed, n_items=args.items, weeks=args.weeks, spread=spread)
        datasets.append((name, [{"name": "reviews", "kind": "amazon_reviews", "path": str(reviews)}]))
    if args.online_retail:
        src = cfg.sources[0].model_dump(mode="json", exclude_none=True)
        src["path"] = [str(pth) for pth in cfg.source_paths(cfg.sources[0])]
        datasets.append(("online_retail", [src]))
    results = []
    for name, sources in datasets:
        work = args.out_dir / (name if name == "online_retail" else f"{name}_{args.rows}_{args.seed}")
        marts = work / "marts"
        if not (marts / "item_graph_features.parquet").exists():
            marts, _ = build_marts(work, sources)
        print(f"{name}: marts in {marts}", flush=True)
        if args.final is not None:
            results.append(run_final(name, marts, origins=args.origins, step=args.step, horizon=horizon,
                                     lookback=lookback, arms=args.final or ["scorer"], classifier=args.classifier,
                                     choice_settings=final_choice(cfg)))
        else:
            results.append(run_dataset(name, marts, origins=args.origins, step=args.step, horizon=horizon,
                                       lookback=lookback, arms=arms, classifier=args.classifier))
        out_json.write_text(json.dumps({"datasets": results}, indent=2, default=float))
    table = final_summary(results) if args.final is not None else summary(results)
    out_json.write_text(
        json.dumps({"datasets": results, "summary": table.to_dict("records")}, indent=2, default=float))
    if args.final is not None:
        print("\nfinal hot-seller ranking AP with classifier_graph / classifier_text as a scorer / auto, against the "
              "final ranking "
              "without (origins where it was learned; mean +- s.e. over origins)")
    else:
        print("\nclassifier hot-seller AP per arm (graph / text features; mean over origins; diff to without)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
