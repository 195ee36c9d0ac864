"""Groups of series, and what a group's own sum tells each of its series.

A series belongs to groups it shares with others: each part of a composite id (the store and
the department of a `store_department` series, the item and the country of `item @ country`)
and its category, where the panel names one. A group's series move together (a department's
season is much the same in every store; an item sells through the same weeks in every country),
and the group's sum shows it with far less noise than one series does.

`groups` (a `History`'s): one row per series, `unique_id` and one text column per grouping; a
missing key (an item without a category) leaves the series out of that grouping. A grouping
where every series is alone, or all share one key, says nothing and is dropped.

`GroupSums` holds, per grouping, the weekly sum of its groups' series over a right-aligned series
matrix (the columns are calendar weeks: every series of a panel ends at its last week), built
from the history known at the origin only, and gives for (series, origin column t, step k) the
group's recent momentum, its last-year path around the target week, its level against a year
earlier and the series' share of the group.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from darkhorse.core.schema import ID
from training.lags import SEASON, WindowSums


def groups_from_ids(ids: Sequence[str], separator: str, names: Sequence[str]) -> pd.DataFrame | None:
    """The parts of composite ids as groupings (one column per name): an id that does not split
    into exactly len(names) parts on `separator` has none (a part holding the separator itself
    makes the split ambiguous). None when fewer than two names or no id splits."""
    if len(names) < 2:
        return None
    ids = [str(i) for i in ids]
    parts = [i.split(separator) for i in ids]
    ok = [len(p) == len(names) for p in parts]
    if not any(ok):
        return None
    out = pd.DataFrame({ID: ids})
    for j, name in enumerate(names):
        out[name] = [p[j] if good else None for p, good in zip(parts, ok, strict=True)]
    return out


def merge_groups(*frames: pd.DataFrame | None) -> pd.DataFrame | None:
    """One groups frame from several (their columns side by side, outer on the series)."""
    found = [f for f in frames if f is not None and len(f.columns) > 1]
    if not found:
        return None
    out = found[0]
    for f in found[1:]:
        out = out.merge(f, on=ID, how="outer")
    return out


def informative(groups: pd.DataFrame | None, ids: Sequence[str] | pd.Series) -> dict[str, pd.Series]:
    """Per grouping that says something about the series `ids` (at least two groups, one of them
    with two series or more): each series' key (missing: none), indexed by the ids as text in
    their first-seen order."""
    if groups is None:
        return {}
    table = groups.drop_duplicates(ID).set_index(ID)
    table.index = table.index.astype(str)
    uniq = pd.Index(pd.Series(ids).astype(str).unique())
    out: dict[str, pd.Series] = {}
    for name in table.columns:
        keys = table[name].reindex(uniq)
        sizes = keys.dropna().value_counts()
        if len(sizes) >= 2 and sizes.max() >= 2:
            out[str(name)] = keys.astype("string")
    return out


class GroupSums:
    """Per informative grouping: each series' group (row of the group matrix, -1 for none) and the
    window sums of the group matrix (the sum of its series' weeks, a missing week as 0)."""

    def __init__(self, mat: np.ndarray, ids: np.ndarray, groups: pd.DataFrame | None) -> None:
        self.groupings: list[tuple[str, np.ndarray, WindowSums]] = []
        filled = np.where(np.isfinite(mat), mat, 0.0)
        for name, keys in informative(groups, ids).items():
            codes, uniq = pd.factorize(keys)  # missing keys: -1
            sums = np.zeros((len(uniq), mat.shape[1]))
            np.add.at(sums, codes[codes >= 0], filled[codes >= 0])
            self.groupings.append((name, codes, WindowSums(sums)))

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.groupings]

    def features(self, rows: np.ndarray, t: np.ndarray, k: np.ndarray, level: np.ndarray) -> dict[str, np.ndarray]:
        """For target week t + k at origin column t, per grouping `name`: `grp_<name>_momentum` (the
        group's last 4 weeks over its last 13), `_season_growth` (the 3 weeks around the target
        week a season back over the group's 13 weeks before that origin), `_season_ahead` (the
        same over the group's 4 weeks before that origin), `_yoy` (its last 13 weeks over the 13
        a season earlier) and `_share` (log of the series' level over the group's). NaN where the
        series has no group or the group had no sale in a window."""
        out: dict[str, np.ndarray] = {}
        ly = t + k - SEASON
        for name, codes, sums in self.groupings:
            g = codes[rows]
            has = g >= 0
            gr = np.where(has, g, 0)
            recent = sums.mean(gr, t - 12, t)
            then = sums.mean(gr, t - SEASON - 12, t - SEASON)
            around = sums.mean(gr, ly - 1, ly + 1)
            p = f"grp_{name}_"
            out[p + "momentum"] = _ratio(sums.mean(gr, t - 3, t), recent, has)
            out[p + "season_growth"] = _ratio(around, then, has)
            out[p + "season_ahead"] = _ratio(around, sums.mean(gr, t - SEASON - 3, t - SEASON), has)
            out[p + "yoy"] = _ratio(recent, then, has)
            share = _ratio(level, recent, has)
            out[p + "share"] = np.where(np.isfinite(share), np.log(share + 1e-6), np.nan)
        return out


def _ratio(a: np.ndarray, b: np.ndarray, has: np.ndarray) -> np.ndarray:
    ok = has & np.isfinite(a) & np.isfinite(b) & (b > 0)
    return np.where(ok, a / np.where(ok, b, 1.0), np.nan)
