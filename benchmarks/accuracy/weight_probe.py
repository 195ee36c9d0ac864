"""How much a different weighting rule could give the blend, on a suite run's saved member
forecasts: rules learned on the earlier origins (what a blend could do) next to the same rules
fitted on the evaluation weeks themselves (hindsight: the room there is, not a forecast).

    python -m benchmarks.accuracy.weight_probe --run data/bench/accuracy --m4 path/to/m4

At every evaluation origin the validation rows are the members' forecasts at the earlier
origins for weeks known by then (as `replay` builds them), scaled by the naive scale of the
history known at the origin. Rules, each learned on those rows (and, marked `hindsight`, on the
evaluation rows):

* `best_member`: the member with the lowest mean scaled error.
* `global`: the grid mix (`training.blend.weights.simplex_grid`) with the lowest mean scaled error.
* `groups_zero`, `groups_cv`: one grid mix per group of series, grouped by the share of zero
  weeks (edges 5%, 30%, 60%) or the coefficient of variation (tertiles) of the last 52 weeks of
  history; a group with fewer than `MIN_GROUP_ROWS` validation rows takes the global mix.
* `factor`: the global mix times one factor (0.70 to 1.30) for a bias of every member alike.
* `factor_checked`: the best member times its factor (learned on every validation row), only
  when the factor learned on the earlier validation origins beat the member on the latest one
  by more than one standard error of the paired per-series differences: the blend's own check
  (`training.blend.point.point_factor`) on the best member's forecasts; `factor_checked_2`: the same,
  checked on each of the latest two validation origins (each with the factor learned before it); `factor_checked_2_zero`:
  the best member times one such checked factor per zero-share group (as `groups_zero`; a group
  with fewer than `MIN_GROUP_ROWS` validation rows keeps factor 1).
* `within_1se`: the equal mix of the members whose validation error is within one standard
  error (paired, per series) of the best member's.

Prints, per panel, each rule's MASE and its difference to the best member on the evaluation
weeks (the member that is best there, in hindsight). Scale-0 series are left out, as the
suite's MASE leaves them out.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from benchmarks.accuracy import panels as P
from benchmarks.bench_accuracy import load_panel
from darkhorse.core.config import ForecastConfig
from darkhorse.core.schema import CUTOFF, DS, ID, Y
from training.blend.point import best_point_factor, point_factor
from training.blend.weights import simplex_grid
from training.metrics import naive_scale

ZERO_EDGES = (0.05, 0.30, 0.60)
MIN_GROUP_ROWS = 200


def _keys(rows: pd.DataFrame) -> np.ndarray:
    return pd.factorize(pd.MultiIndex.from_arrays([rows[ID].to_numpy(), rows[CUTOFF].to_numpy()]))[0]


def mean_scaled_error(rows: pd.DataFrame, preds: np.ndarray) -> np.ndarray:
    """MASE (mean over series and cutoff of the mean scaled absolute error) of each column of
    `preds` (rows x candidates)."""
    err = np.abs(rows[Y].to_numpy(dtype="float64")[:, None] - preds) / rows["scale"].to_numpy(dtype="float64")[:, None]
    key = _keys(rows)
    # rows summed per (series, cutoff) by one sparse product (np.add.at took minutes on the grid)
    per_key = sp.csr_matrix((np.ones(len(key)), (key, np.arange(len(key)))), shape=(key.max() + 1, len(key)))
    sums = per_key @ err
    return (sums / np.bincount(key)[:, None]).mean(axis=0)


def _per_series(rows: pd.DataFrame, pred: np.ndarray) -> np.ndarray:
    err = np.abs(rows[Y].to_numpy(dtype="float64") - pred) / rows["scale"].to_numpy(dtype="float64")
    key = _keys(rows)
    return np.bincount(key, err) / np.bincount(key)


def history_features(frame: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Share of zero weeks and coefficient of variation of each series' last 52 known weeks."""
    last = frame[(frame[DS] <= cutoff) & (frame[DS] > cutoff - pd.Timedelta(weeks=52))]
    g = last.assign(zero=(last[Y] == 0).astype("float64")).groupby(ID)
    mean = g[Y].mean()
    return pd.DataFrame({"zero": g["zero"].mean(), "cv": g[Y].std() / mean.where(mean > 0)})


class Rules:
    """The weighting rules, each learned from one set of rows (`fit`) and applied to others."""

    def __init__(self, members: Sequence[str], grid_step: float = 0.1) -> None:
        self.members = list(members)
        self.grid = simplex_grid(len(self.members), grid_step)

    def _mix(self, rows: pd.DataFrame) -> np.ndarray:
        P_ = rows[self.members].to_numpy(dtype="float64")
        return self.grid[int(np.argmin(mean_scaled_error(rows, P_ @ self.grid.T)))]

    def fit(self, rows: pd.DataFrame, groups: dict[str, np.ndarray]) -> dict[str, object]:
        P_ = rows[self.members].to_numpy(dtype="float64")
        member = mean_scaled_error(rows, P_)
        best = int(np.argmin(member))
        mix = self._mix(rows)
        out: dict[str, object] = {"best_member": np.eye(len(self.members))[best], "global": mix}
        for name, g in groups.items():
            out[f"groups_{name}"] = {int(k): self._mix(rows[g == k]) for k in np.unique(g)
                                     if (g == k).sum() >= MIN_GROUP_ROWS}
        out["factor"] = best_point_factor(rows.assign(pred=P_ @ mix))
        ref = _per_series(rows, P_[:, best])
        keep = []
        for j in range(len(self.members)):
            d = _per_series(rows, P_[:, j]) - ref
            if d.mean() <= d.std(ddof=1) / np.sqrt(max(len(d), 1)) or j == best:
                keep.append(j)
        w = np.zeros(len(self.members))
        w[keep] = 1 / len(keep)
        out["within_1se"] = w
        out["factor_checked"] = self._checked_factor(rows, best)
        out["factor_checked_2"] = self._checked_factor(rows, best, n_check=2)
        zero = groups["zero"]
        out["factor_checked_2_zero"] = {int(k): self._checked_factor(rows[zero == k], best, n_check=2)
                                        for k in np.unique(zero) if (zero == k).sum() >= MIN_GROUP_ROWS}
        return out

    def _checked_factor(self, rows: pd.DataFrame, best: int, n_check: int = 1) -> float:
        """The best member's factor, kept by the blend's own check (`training.blend.point.point_factor`:
        at each of the latest `n_check` cutoffs, the factor learned before it beat the member on
        that cutoff's rows by one standard error); else 1."""
        return point_factor(rows.assign(pred=rows[self.members[best]]), n_check=n_check)[0]

    def apply(self, learned: dict[str, object], rows: pd.DataFrame, groups: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        P_ = rows[self.members].to_numpy(dtype="float64")
        out = {k: P_ @ learned[k] for k in ("best_member", "global", "within_1se")}
        out["factor"] = (P_ @ learned["global"]) * learned["factor"]
        for k in ("factor_checked", "factor_checked_2"):
            out[k] = (P_ @ learned["best_member"]) * learned[k]
        by_zero = learned["factor_checked_2_zero"]
        out["factor_checked_2_zero"] = (P_ @ learned["best_member"]) * np.array([by_zero.get(int(k), 1.0) for k in groups["zero"]])
        for name, g in groups.items():
            by = learned[f"groups_{name}"]
            W = np.array([by.get(int(k), learned["global"]) for k in g])
            out[f"groups_{name}"] = (P_ * W).sum(axis=1)
        return out


def _groups(rows: pd.DataFrame, feats: pd.DataFrame, cv_edges: Sequence[float]) -> dict[str, np.ndarray]:
    zero = feats["zero"].reindex(rows[ID]).to_numpy()
    cv = feats["cv"].reindex(rows[ID]).to_numpy()
    return {"zero": np.digitize(np.nan_to_num(zero, nan=-1.0), ZERO_EDGES),
            "cv": np.digitize(np.nan_to_num(cv, nan=-1.0), cv_edges)}


def _scaled(frame: pd.DataFrame, members: list[str], scale: pd.DataFrame) -> pd.DataFrame:
    """Rows with an actual, every member's forecast and a positive naive scale."""
    out = frame.dropna(subset=[Y, *members]).merge(scale, on=ID, how="inner")
    return out[out["scale"] > 0].reset_index(drop=True)


def probe(forecasts: pd.DataFrame, history: pd.DataFrame, members: Sequence[str]) -> dict[str, float]:
    """Each rule's MASE over the evaluation rows of every evaluation origin (learned, and
    `hindsight_*` fitted on the evaluation rows), and each member's."""
    rules = Rules(members)
    members = list(members)
    got: dict[str, list[np.ndarray]] = {}
    for c in sorted(forecasts.loc[forecasts["window"] == "eval", CUTOFF].unique()):
        c = pd.Timestamp(c)
        scale = naive_scale(history[history[DS] <= c]).rename("scale").reset_index()
        rows = _scaled(forecasts[(forecasts[CUTOFF] == c) & (forecasts["window"] == "eval")], members, scale)
        val = _scaled(forecasts[(forecasts[CUTOFF] < c) & (forecasts[DS] <= c)], members, scale)
        if rows.empty or val.empty:
            continue
        feats = history_features(history, c)
        cv_edges = list(np.nanquantile(feats["cv"].to_numpy(dtype="float64"), [1 / 3, 2 / 3]))
        gv, gr = _groups(val, feats, cv_edges), _groups(rows, feats, cv_edges)
        for name, pred in rules.apply(rules.fit(val, gv), rows, gr).items():
            got.setdefault(name, []).append(_per_series(rows, pred))
        for name, pred in rules.apply(rules.fit(rows, gr), rows, gr).items():
            if name.startswith("factor_checked"):  # one cutoff: nothing to check on
                continue
            got.setdefault(f"hindsight_{name}", []).append(_per_series(rows, pred))
        for m in members:
            got.setdefault(m, []).append(_per_series(rows, rows[m].to_numpy(dtype="float64")))
    return {k: float(np.concatenate(v).mean()) for k, v in got.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a suite run's output folder (panels/*/forecasts.parquet)")
    ap.add_argument("--members", default=None,
                    help="comma-separated members to probe (default: the default config's enabled members the run's forecasts hold)")
    ap.add_argument("--panels", default=",".join(P.PANELS))
    ap.add_argument("--m4", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args(argv)
    chosen = [m.strip() for m in args.members.split(",") if m.strip()] if args.members else None
    results = {}
    for name in [p.strip() for p in args.panels.split(",") if p.strip()]:
        f = args.run / "panels" / name / "forecasts.parquet"
        panel = load_panel(name, args.m4, args.run / "cache") if f.is_file() else None
        if panel is None:
            continue
        fc = pd.read_parquet(f)
        members = chosen or [s.name for s in ForecastConfig().enabled() if s.name in fc.columns]
        res = probe(fc, panel.history.frame, members)
        best = min(members, key=lambda m: res[m])
        results[name] = {"best_member": best, "mase": res}
        print(f"\n{name}: best member on the evaluation weeks {best} {res[best]:.4f}")
        for k, v in res.items():
            if k not in members:
                print(f"  {k:28s} {v:.4f}  {100 * (v / res[best] - 1):+.2f}%")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
