"""Replay the blend on a suite run's saved member forecasts: other members, other blend settings,
nothing refitted.

    python -m benchmarks.accuracy.replay --run data/bench/accuracy --m4 path/to/m4
    python -m benchmarks.accuracy.replay --run data/bench/accuracy --members naive,xgboost,theta
    python -m benchmarks.accuracy.replay --run data/bench/accuracy --set origin_decay=0.5 --add other/run
    python -m benchmarks.accuracy.replay --run OUT --panel-file sales.csv --panel-columns Store+Dept,Date,Sales
    python -m benchmarks.accuracy.replay --run data/bench/accuracy --without-evidence --set without_evidence=equal

At every evaluation origin of a panel the blend is built as the backtest builds it
(`Blend.from_members` on the members' forecasts at the earlier origins, the naive scale of the
history known at the origin), from members that return their saved forecasts instead of
refitting. With the run's own members and settings the replay reproduces the run's blend. Every stored
panel is replayed unless `--panels` names some; a run of `--panel-file` panels is read again with
the flags the run was given.
`--add RUN` merges the member columns of another run with the same windows (a member run on its
own, `bench_accuracy.py --models NAME`) into the saved forecasts first; a member saved in both
takes the added run's forecasts. `--without-evidence` builds every evaluation origin's blend as
if no earlier origin existed (a short panel's first window: `blend.without_evidence`).
Prints, per panel, the blend's MASE / scaled pinball / 80% coverage against its best member's
MASE, the difference in percent with its standard error (paired, clustered by series:
`training.backtest.blend_vs_best`), and the official measures on M4.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.accuracy import m4 as m4mod
from benchmarks.accuracy import panel_file as PF
from benchmarks.bench_accuracy import REPO, add_panel_file_args, load_panel, panel_files
from darkhorse.core.config import BlendConfig, load_config
from darkhorse.core.schema import CUTOFF, DS, ID, Y, forecast_columns
from training.backtest import _blend_params, blend_vs_best
from training.blend.model import Blend
from training.hot_sellers import COMBINED
from training.hot_sellers.features import point_columns
from training.metrics import naive_scale, series_metrics, summarize
from training.models.base import Forecaster

log = logging.getLogger(__name__)

BLEND = "blend"


class Stored(Forecaster):
    """A member whose forecasts at one origin were saved: `predict` returns them."""

    model_name = "stored"
    probabilistic = True

    def __init__(self, frame: pd.DataFrame, *, alias: str, cutoff: pd.Timestamp, horizon: int) -> None:
        super().__init__(alias=alias)
        self.frame_ = frame
        ids = np.sort(frame[ID].unique())
        self.last_ds_ = pd.Series(pd.Timestamp(cutoff), index=pd.Index(ids, name=ID), name=DS)
        self.n_series_ = len(self.last_ds_)
        self.horizon_ = horizon
        self.fitted_ = True

    def _predict(self, h: int, quantiles: list[float]) -> pd.DataFrame:
        cols = forecast_columns(self.alias, quantiles)
        missing = [c for c in cols if c not in self.frame_]
        if missing:
            raise ValueError(f"replay: member {self.alias!r} has no saved {missing}")
        f = self.frame_.sort_values([ID, DS], kind="stable")
        f = f[f[DS] <= self.last_ds_.iloc[0] + pd.Timedelta(weeks=h)]
        return f[[ID, DS, *cols]].reset_index(drop=True)


def replay_panel(
    forecasts: pd.DataFrame, history_frame: pd.DataFrame, members: list[str], blend_params: dict[str, Any],
    quantiles: list[float], horizon: int, *, evidence: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The evaluation rows with a `blend` column set (and its quantiles), and the naive scale per
    (series, cutoff) of every origin. `evidence=False`: each blend sees no earlier origin."""
    cutoffs = sorted(forecasts[CUTOFF].unique())
    cols = [c for m in members for c in forecast_columns(m, quantiles)]
    hist = history_frame.sort_values([ID, DS], kind="stable")
    scales, parts = [], []
    for cutoff in cutoffs:
        cutoff = pd.Timestamp(cutoff)
        sc = naive_scale(hist[hist[DS] <= cutoff]).rename("scale").reset_index()
        sc[CUTOFF] = cutoff
        scales.append(sc)
        rows = forecasts[forecasts[CUTOFF] == cutoff]
        if (rows["window"] != "eval").all():
            continue
        prev = forecasts[(forecasts[CUTOFF] < cutoff) & (forecasts[DS] <= cutoff) & forecasts[Y].notna()]
        validation = prev[[ID, CUTOFF, DS, Y, *cols]].reset_index(drop=True).merge(sc[[ID, "scale"]], on=ID, how="left")
        if not evidence:
            validation = validation.iloc[:0]
        fitted = {m: Stored(rows[[ID, DS, *forecast_columns(m, quantiles)]].dropna(subset=[m]), alias=m, cutoff=cutoff, horizon=horizon)
                  for m in members}
        blend = Blend.from_members(fitted, validation, **blend_params)
        log.info("%s: choice %s, intervals %s, point factor %s, global weights %s", cutoff.date(), blend.choice_,
                 blend.intervals_, blend.point_factor_, blend.global_weights_.iloc[0].round(2).to_dict())
        for check in blend.point_checks_:
            log.info("  factor check %s", check)
        bfc = blend.predict(h=horizon, quantiles=quantiles)
        keep = rows[[ID, DS, CUTOFF, "window", Y, *cols]]
        parts.append(keep.merge(bfc, on=[ID, DS], how="left"))
    return pd.concat(parts, ignore_index=True), pd.concat(scales, ignore_index=True)


def score(evalf: pd.DataFrame, names: list[str], quantiles: list[float], scale: pd.DataFrame) -> tuple[dict[str, dict[str, Any]], pd.DataFrame]:
    """Each model's global metrics, and the per-(series, window) rows they come from."""
    out, rows = {}, []
    for m in names:
        per = series_metrics(evalf[evalf[Y].notna()], m, quantiles, scale)
        s = summarize(per)
        out[m] = {k: s.get(k) for k in ("mase", "scaled_pinball", "coverage_80", "smape")}
        rows.append(per)
    return out, pd.concat(rows, ignore_index=True)


def parse_sets(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for it in items:
        k, _, v = it.partition("=")
        out[k.strip()] = json.loads(v) if (v and v[0] in "[{0123456789.-") or v in ("true", "false") else v
    return out


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a suite run's output folder (panels/*/forecasts.parquet)")
    ap.add_argument("--add", type=Path, action="append", default=[], help="another run whose member columns join the saved ones")
    ap.add_argument("--config", type=Path, default=REPO / "darkhorse.yaml", help="blend settings (default: darkhorse.yaml)")
    ap.add_argument("--members", default=None, help="comma-separated members (default: every saved member the config does not keep out of the blend)")
    ap.add_argument("--set", action="append", default=[], help="a blend setting, KEY=VALUE (e.g. origin_decay=0.5)")
    ap.add_argument("--panels", default=None, help="comma-separated subset (default: every stored panel)")
    ap.add_argument("--m4", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    ap.add_argument("--without-evidence", action="store_true",
                    help="build each evaluation origin's blend as if no earlier origin existed")
    ap.add_argument("-v", "--verbose", action="store_true", help="log each origin's choice and global weights")
    add_panel_file_args(ap)  # as given to the run
    args = ap.parse_args(argv)
    if args.verbose:
        log.setLevel(logging.INFO)
    cfg = load_config(args.config)
    try:
        files = panel_files(args, set(), cfg)
    except PF.PanelFileError as e:
        raise SystemExit(str(e)) from None
    stored = sorted(p.parent.name for p in (args.run / "panels").glob("*/forecasts.parquet"))
    blend_cfg = BlendConfig(**{**cfg.blend.model_dump(), **parse_sets(args.set)})
    cfg = cfg.model_copy(update={"blend": blend_cfg})
    quantiles = list(cfg.forecast.quantiles)
    kept_out = {s.name for s in cfg.forecast.models if not s.blend}  # fitted and saved, never blended (`ModelSpec.blend`)
    results = {}
    for name in [p.strip() for p in args.panels.split(",") if p.strip()] if args.panels else stored:
        f = args.run / "panels" / name / "forecasts.parquet"
        if not f.is_file():
            continue
        fc = pd.read_parquet(f)
        for extra in args.add:
            g = extra / "panels" / name / "forecasts.parquet"
            if g.is_file():
                other = pd.read_parquet(g)
                new = [c for c in other.columns if c not in (ID, DS, CUTOFF, "window", Y) and not c.startswith(BLEND)]
                fc = fc.drop(columns=[c for c in new if c in fc]).merge(other[[ID, DS, CUTOFF, *new]], on=[ID, DS, CUTOFF], how="left")
        saved = [c for c in point_columns(fc) if c not in COMBINED]  # the blend and the growth blend are no members
        members = [m.strip() for m in args.members.split(",")] if args.members else [m for m in saved if m not in kept_out]
        panel = load_panel(name, args.m4, args.run / "cache", files)
        if panel is None:
            continue
        horizon = panel.panel.horizon_weeks
        fc = fc.drop(columns=[c for c in fc.columns if c == BLEND or c.startswith(BLEND + "-")])
        params = _blend_params(cfg, [])
        params.pop("members")
        evalf, scale = replay_panel(fc, panel.history.frame, members, params, quantiles, horizon,
                                    evidence=not args.without_evidence)
        res, per_series = score(evalf[evalf["window"] == "eval"], [*members, BLEND], quantiles, scale)
        best = min(members, key=lambda m: res[m]["mase"])
        vs = blend_vs_best(per_series, res, members)
        rec = {"members": res, "best_member": best,
               "blend_vs_best_pct": 100 * (res[BLEND]["mase"] / res[best]["mase"] - 1), "blend_vs_best": vs}
        if "m4" in panel.extra:
            rec["m4_official"] = m4mod.score_backtest(panel.extra["m4"], evalf, [*members, BLEND])
        results[name] = rec
        b = res[BLEND]
        m4s = rec.get("m4_official", {}).get(BLEND)
        print(f"{name:18s} blend {b['mase']:.4f} / {b['scaled_pinball']:.4f} / {b['coverage_80']:.3f}  "
              f"best {best} {res[best]['mase']:.4f}  ({rec['blend_vs_best_pct']:+.2f}%"
              + (f" +- {100 * vs['se'] / res[best]['mase']:.2f}%)" if vs else ")")
              + (f"  M4 sMAPE/MASE/OWA {m4s['smape']:.3f}/{m4s['mase']:.3f}/{m4s['owa']:.3f}" if m4s else ""),
              flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
