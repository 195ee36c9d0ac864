"""Replay the final hot-seller ranking on a suite run's stored scores: other settings of the
learned combination, nothing refitted.

    python -m benchmarks.accuracy.hot_replay --run data/bench/accuracy
    python -m benchmarks.accuracy.hot_replay --run OUT --min-origins 2,3,4 --stack-margin 1,2
    python -m benchmarks.accuracy.hot_replay --run OUT --tie-margin 0,1,2
    python -m benchmarks.accuracy.hot_replay --run OUT --tie-min-origins 2,3

At every evaluation origin of a panel the final ranking is chosen as the backtest chooses it
(`hot_sellers.final_ranking` over the scorers the run stored at that origin, learned on the scores stored at
earlier origins whose labels were known by then: an origin's label is known `horizon` weeks
after it), then scored with the run's labels. With the run's own settings the replay reproduces
the run's final ranking. Prints, per setting, the final AP per panel (mean over the evaluation
origins) and what was chosen at each origin with `-v`.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from darkhorse.core.config import load_config
from darkhorse.core.schema import CUTOFF, DS, ID, WEEK
from training.hot_sellers import FINAL, Settings, final_ranking
from training.hot_sellers.combine import STACK_MARGIN_SE, TIE_MIN_ORIGINS
from training.metrics import average_precision

REPO = Path(__file__).resolve().parents[2]


def replay_panel(folder: Path, *, min_origins: int, weight_step: float, stack_margin_se: float, season: int,
                 min_positives: int = 1, tie_margin_se: float = 0.0,
                 tie_min_origins: int = TIE_MIN_ORIGINS) -> dict[str, Any]:
    """The final ranking's AP at each evaluation origin of one stored panel, and its choice."""
    hot = pd.read_parquet(folder / "hot_sellers.parquet")
    rec = json.loads((folder / "result.json").read_text())
    horizon = int(rec["horizon"])
    hot[CUTOFF] = pd.to_datetime(hot[CUTOFF])
    evals = sorted(pd.Timestamp(w["cutoff"]) for w in rec["windows"] if w["role"] == "eval")
    labels = hot.drop_duplicates([ID, CUTOFF])[[ID, CUTOFF, "label"]].dropna()
    scores = hot[hot["model"] != FINAL]
    # the final ranking reads only these settings (the scorers' lookback and floor are spent)
    settings = Settings(lookback=0, horizon=horizon, floor=0.0, season=season, min_labelled_origins=min_origins,
                        min_origin_positives=min_positives, weight_step=weight_step, tie_margin_se=tie_margin_se,
                        stack_margin_se=stack_margin_se, tie_min_origins=tie_min_origins)
    out: dict[str, Any] = {}
    for cutoff in evals:
        now = scores[scores[CUTOFF] == cutoff]
        if now.empty:
            continue
        current = {str(m): g.set_index(ID)["score"] for m, g in now.groupby("model", sort=True)}
        earlier = scores[scores[CUTOFF] < cutoff]
        known = labels[labels[CUTOFF] + WEEK * horizon <= cutoff].rename(columns={CUTOFF: DS})
        # labels are stored at the scored origins only: the last known week is the origin's horizon back
        final, choice = final_ranking(current, earlier, known, cutoff=cutoff, settings=settings,
                                      first_week=pd.Timestamp(rec["first_week"]), last_known=cutoff - WEEK * horizon)
        y = now.drop_duplicates(ID).set_index(ID)["label"].reindex(final.index)
        ok = y.notna().to_numpy()
        out[str(cutoff.date())] = {
            "ap": average_precision(final.to_numpy()[ok], y.to_numpy(dtype="float64")[ok]),
            "method": choice.method, "weights": choice.weights, "labelled_origins": len(choice.origins),
        }
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a suite run's output folder (panels/*/hot_sellers.parquet)")
    ap.add_argument("--panels", default=None, help="comma-separated subset (default: every stored panel)")
    ap.add_argument("--config", type=Path, default=REPO / "darkhorse.yaml",
                    help="the run's config: the defaults of --min-origins and --weight-step")
    ap.add_argument("--min-origins", default=None, help="values of hot_sellers.min_labelled_origins, comma-separated")
    ap.add_argument("--stack-margin", default=str(STACK_MARGIN_SE), help="stack margins in standard errors, comma-separated")
    ap.add_argument("--weight-step", type=float, default=None, help="hot_sellers.stack_weight_step")
    ap.add_argument("--tie-margin", default=None, help="values of hot_sellers.tie_margin_se, comma-separated")
    ap.add_argument("--tie-min-origins", default=str(TIE_MIN_ORIGINS),
                    help="known origins the tie rule needs, comma-separated values")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each origin's choice")
    args = ap.parse_args(argv)
    hs = load_config(args.config).hot_sellers
    min_origins = args.min_origins or str(hs.min_labelled_origins)
    weight_step = args.weight_step or hs.stack_weight_step
    tie_margin = args.tie_margin or str(hs.tie_margin_se)
    folders = sorted(p.parent for p in (args.run / "panels").glob("*/hot_sellers.parquet"))
    if args.panels:
        want = args.panels.split(",")
        folders = [f for f in folders if f.name in want]
    if not folders:
        raise SystemExit(f"--run: no panels/*/hot_sellers.parquet under {args.run}")
    print("min_origins  margin  tie  tie_min  " + "  ".join(f.name for f in folders))
    for mo, mg, tm, tn in itertools.product([int(x) for x in min_origins.split(",")],
                                            [float(x) for x in args.stack_margin.split(",")],
                                            [float(x) for x in tie_margin.split(",")],
                                            [int(x) for x in args.tie_min_origins.split(",")]):
        res = {f.name: replay_panel(f, min_origins=mo, weight_step=weight_step, stack_margin_se=mg,
                                    min_positives=hs.min_origin_positives, tie_margin_se=tm, tie_min_origins=tn,
                                    season=hs.season_length)
               for f in folders}
        means = [np.mean([v["ap"] for v in r.values()]) if r else float("nan") for r in res.values()]
        print(f"{mo:>11d}  {mg:>6.1f}  {tm:>3.1f}  {tn:>7d}  "
              + "  ".join(f"{m:.3f}".rjust(len(n)) for m, n in zip(means, res, strict=True)))
        if args.verbose:
            for name, r in res.items():
                for cutoff, v in r.items():
                    print(f"    {name} {cutoff}: AP {v['ap']:.3f} {v['method']} {v['weights']} "
                          f"({v['labelled_origins']} labelled origins)")


if __name__ == "__main__":
    main()
