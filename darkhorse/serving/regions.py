"""Region forecasts of a release: written by `darkhorse release`, read by the service.

`regions.parquet`, beside the bento's `release.json`, holds the reconciled item x region
hierarchy (`training.hierarchy`: total, regions, items, item x region of the top items and
regions, the rest of the regions as `OTHER`) fitted on the published item x region panel
through the release's last trained week, at the service's quantile grid: one row per series
and week, `unique_id, level, item_id, region, ds, mean` and `q<level>` columns. Every level
adds up (the quantiles too: each is the sum of its bottom quantiles). `/v1/allocate` with
`level: region` or `item_region` splits a capacity across these series with the same modes
as items; a period of w weeks is the weekly quantiles added level by level. Under a what-if
plan the named items' series move as the release's forecast of each item moves
(`RegionForecasts.planned`), and every level still adds up.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from darkhorse.core.errors import DarkHorseError

REGIONS_FILE = "regions.parquet"


class RegionLookupError(DarkHorseError, LookupError):
    """Unknown regions or item x region pairs in a request; `field` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def write(config, *, last_week, horizon: int, levels, path: Path) -> int:
    """Fit and reconcile the hierarchy on the config's published item x region panel through
    `last_week` and write it to `path`; returns the number of series (0, nothing written,
    when the marts have no item x region rows: no source with a region column)."""
    from darkhorse.core.marts import mart_path
    from training import hierarchy

    src = mart_path(config.marts_dir, "item_region_weeks")
    if not src.is_file():
        return 0
    panel = pd.read_parquet(src, columns=["item_id", "region", "week_start", "units"])
    panel = panel[pd.to_datetime(panel["week_start"]) <= pd.Timestamp(last_week)]
    if panel.empty:
        return 0
    c = config.customers
    frame = hierarchy.forecast_frame(
        panel, top_items=c.hierarchy_top_items, top_regions=c.hierarchy_top_regions, horizon=horizon,
        quantiles=[float(q) for q in levels], method=c.reconciliation,
    )
    frame.to_parquet(path, index=False)
    return int(frame["unique_id"].nunique())


@dataclass
class RegionForecasts:
    """The reconciled series of a release as arrays: `grid[s, week, k]` at `levels[k]`."""

    keys: pd.DataFrame  # unique_id, level, item_id, region (+ category where named; row order of the arrays)
    weeks: np.ndarray
    mean: np.ndarray  # (n, h)
    grid: np.ndarray  # (n, h, K)
    levels: np.ndarray  # (K,)

    def __post_init__(self) -> None:
        self.position = {
            (lv, "" if pd.isna(i) else str(i), "" if pd.isna(r) else str(r)): k
            for k, (lv, i, r) in enumerate(self.keys[["level", "item_id", "region"]].itertuples(index=False))
        }
        self.period = np.cumsum(self.grid, axis=1)  # comonotone sum over the first w weeks

    @cached_property
    def summing(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The bottom (item x region) rows, their items, and which of them each series adds up
        (n, n_bottom): built once per release, read by every planned request."""
        k = self.keys
        level = k["level"].to_numpy()
        bottom = np.flatnonzero(level == "item_region")
        item = k["item_id"].astype(str).to_numpy()
        region = k["region"].astype(str).to_numpy()
        category = k["category"].astype(str).to_numpy() if "category" in k else np.full(len(k), "")
        adds = np.zeros((len(k), len(bottom)), dtype=bool)
        for s, lv in enumerate(level):
            if lv == "total":
                adds[s] = True
            elif lv == "category":
                adds[s] = category[bottom] == category[s]
            elif lv == "region":
                adds[s] = region[bottom] == region[s]
            elif lv == "item":
                adds[s] = item[bottom] == item[s]
            else:
                adds[s] = bottom == s
        return bottom, item[bottom], adds

    def planned(
        self, released: dict[str, np.ndarray], planned: dict[str, np.ndarray],
        within: dict[str, dict[int, set[str]]] | None = None,
    ) -> RegionForecasts:
        """The hierarchy with each named item's demand moved as the release's forecast of the
        item moved under a plan (`released` and `planned`: its weekly point forecasts, aligned with
        `weeks`). In each week the item's item x region series (mean and every quantile) are scaled
        by planned / released, or, in a week it released nothing for, take the planned units in
        the proportions of their mean demand over the horizon (equal parts where there is none).
        `within[item][week]`: the regions where that week's change lands instead (a regional
        promotion): the item's change in mean units is the same, and its pairs in those regions
        take all of it in proportion to their mean demand that week (their horizon shares where
        they have none; scaled down to zero at most, so a cut larger than their demand moves the
        item by less); its other pairs stay.
        Every upper level (the item, its regions and category, the total) moves by the change of
        the bottom series it adds up, so every level still adds up, quantiles included. Only the
        series above the named items' pairs are computed again; the rest are shared."""
        bottom, item, adds = self.summing
        region = self.keys["region"].astype(str).to_numpy()[bottom]
        pairs, d_mean, d_grid = [], [], []
        for name, before in released.items():
            mine = np.flatnonzero(item == name)
            rows = bottom[mine]
            share = self.mean[rows].sum(axis=1)
            share = share / share.sum() if share.sum() > 0 else np.full(len(mine), 1 / len(mine))
            some = before > 1e-12
            ratio = np.where(some, planned[name] / np.where(some, before, 1.0), 1.0)
            added = np.where(some, 0.0, planned[name])[None, :] * share[:, None]  # (pairs, weeks)
            dm = (ratio - 1) * self.mean[rows] + added
            dg = (ratio - 1)[None, :, None] * self.grid[rows] + added[:, :, None]
            for w, where in (within or {}).get(name, {}).items():
                dm[:, w], dg[:, w] = self._landed(rows, w, np.isin(region[mine], list(where)), share, dm[:, w].sum())
            pairs.append(mine)
            d_mean.append(dm)
            d_grid.append(dg)
        new = copy.copy(self)  # keys, weeks, levels, positions and the summing matrix shared
        if not pairs:
            return new
        up = adds[:, np.concatenate(pairs)]
        touched = np.flatnonzero(up.any(axis=1))
        up = up[touched].astype("float64")
        new.mean, new.grid, new.period = self.mean.copy(), self.grid.copy(), self.period.copy()
        new.mean[touched] = np.maximum(self.mean[touched] + up @ np.concatenate(d_mean), 0.0)
        grid = self.grid[touched] + np.einsum("sb,bhk->shk", up, np.concatenate(d_grid))
        new.grid[touched] = np.maximum.accumulate(np.maximum(grid, 0.0), axis=2)
        new.period[touched] = np.cumsum(new.grid[touched], axis=1)
        return new

    def _landed(
        self, rows: np.ndarray, w: int, inside: np.ndarray, share: np.ndarray, change: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Week `w`'s change of the pairs `rows` (mean, and grid) when the item's `change` in mean
        units lands on the pairs `inside` only: scaled by their mean demand that week, or added
        by their horizon `share` where they have none."""
        d_mean, d_grid = np.zeros(len(rows)), np.zeros((len(rows), self.grid.shape[2]))
        base = self.mean[rows[inside], w].sum()
        if base > 1e-12:
            factor = max(1.0 + change / base, 0.0)
            d_mean[inside] = (factor - 1) * self.mean[rows[inside], w]
            d_grid[inside] = (factor - 1) * self.grid[rows[inside], w]
        else:
            part = share[inside] if share[inside].sum() > 0 else np.ones(int(inside.sum()))
            part = max(change, 0.0) * part / part.sum()
            d_mean[inside], d_grid[inside] = part, part[:, None]
        return d_mean, d_grid

    @classmethod
    def read(cls, path: Path) -> RegionForecasts:
        df = pd.read_parquet(path)
        # the file's series order (total, regions, items, pairs), weeks ascending within each
        df = df.assign(_series=pd.factorize(df["unique_id"])[0]).sort_values(["_series", "ds"], kind="stable")
        qcols = sorted((c for c in df.columns if c.startswith("q")), key=lambda c: float(c[1:]))
        levels = np.array([float(c[1:]) for c in qcols])
        named = ["unique_id", "level", "item_id", "region"] + (["category"] if "category" in df.columns else [])
        keys = df.drop_duplicates("unique_id")[named].reset_index(drop=True)
        n = len(keys)
        h = len(df) // max(n, 1)
        if n == 0 or h * n != len(df) or not qcols:
            raise ValueError(f"{path}: not one row per series and week with quantile columns")
        grid = np.maximum.accumulate(np.maximum(df[qcols].to_numpy("float64").reshape(n, h, len(qcols)), 0.0), axis=2)
        return cls(keys=keys, weeks=df["ds"].to_numpy()[:h].astype("datetime64[D]"),
                   mean=df["mean"].to_numpy("float64").reshape(n, h), grid=grid, levels=levels)

    @property
    def regions(self) -> list[str]:
        return self.keys.loc[self.keys["level"] == "region", "region"].astype(str).tolist()

    @property
    def items(self) -> list[str]:
        return self.keys.loc[self.keys["level"] == "item", "item_id"].astype(str).tolist()

    def rows(self, level: str, ids: list[str], regions: list[str | None]) -> np.ndarray:
        """Rows of the requested series: `region` level: ids are regions; `item_region`: ids are
        items, each with its region. Unknown ones raise `RegionLookupError` naming them."""
        if level == "region":
            wanted = [("region", "", i) for i in ids]
        else:
            wanted = [("item_region", i, r or "") for i, r in zip(ids, regions, strict=True)]
        idx = [self.position.get(w, -1) for w in wanted]
        unknown = [w for w, k in zip(wanted, idx, strict=True) if k < 0]
        if unknown:
            shown = ", ".join((w[2] if level == "region" else f"{w[1]}@{w[2]}") for w in unknown[:10])
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            raise RegionLookupError(
                "items",
                f"{len(unknown)} unknown {level.replace('_', ' x ')} series: {shown}{more}; the release's regions "
                f"are {', '.join(self.regions)} for its {len(self.items)} top items",
            )
        return np.asarray(idx, dtype="int64")

    def period_quantiles(self, rows: np.ndarray, weeks: int) -> np.ndarray:
        """(len(rows), K) quantiles of each series' total over the first `weeks` weeks."""
        return self.period[rows, weeks - 1]


def load(path: Path | None) -> RegionForecasts | None:
    """The release's region forecasts, or None when it carries none."""
    if path is None or not Path(path).is_file():
        return None
    return RegionForecasts.read(Path(path))


__all__ = ["REGIONS_FILE", "RegionForecasts", "RegionLookupError", "load", "write"]
