"""The weekly history every model trains on, read through Feast (never the warehouse).

One point-in-time training set at every week of the published panel gives, for each item and
week `ds`, what was known at that week's close: `y` is the week's units, the covariates are the
other weekly features and the static attributes. A backtest window at cutoff `c` keeps the rows
with `ds <= c`, which is exactly what the training-set builder returns at that cutoff.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from darkhorse.core import features as feast_features
from darkhorse.core.config import ITEM_ID_SEPARATOR, Config
from darkhorse.core.errors import DarkHorseError
from darkhorse.core.publish import read_manifest
from darkhorse.core.schema import DS, ID, WEEK, Y
from training.dataset import build_training_set
from training.groups import groups_from_ids, merge_groups

log = logging.getLogger(__name__)

# weekly features that are not model inputs (the target itself, identifiers and the item's names;
# the item's age is the weekly feature weeks_since_first_event, not first_week)
NON_COVARIATES = {"units", "description", "category", "brand", "first_week", "source_kind"}


class HistoryError(DarkHorseError, RuntimeError):
    pass


@dataclass(frozen=True)
class History:
    """`frame`: `unique_id, ds, y` + covariates; `labels`: hot-seller labels per (id, ds)."""

    frame: pd.DataFrame
    labels: pd.DataFrame
    covariates: list[str]
    snapshot: str
    data_snapshot: str
    first_week: pd.Timestamp
    last_week: pd.Timestamp
    # known-future covariates (config known_future): `unique_id, ds` + columns, over the panel's
    # weeks and the horizon after them; their values in the panel's weeks are also frame columns
    known_future: pd.DataFrame | None = None
    # the series' groups (training.groups): `unique_id` + one text column per grouping
    groups: pd.DataFrame | None = None

    @property
    def n_weeks(self) -> int:
        """Weeks the panel spans, its first week to its last."""
        return int((self.last_week - self.first_week) / WEEK) + 1

    def until(self, cutoff: pd.Timestamp) -> pd.DataFrame:
        """The frame as known at the close of week `cutoff` (rows with ds <= cutoff)."""
        return self.frame[self.frame[DS] <= cutoff].reset_index(drop=True)

    def future(self, cutoff: pd.Timestamp, horizon: int) -> pd.DataFrame | None:
        """Known-future covariates at origin `cutoff`: the weeks cutoff + 1 .. cutoff + horizon
        of the series known then (None without declared covariates). Feast serves a week's row
        from the close of the origin week a horizon before it, so these are known at `cutoff`."""
        if self.known_future is None:
            return None
        kf = self.known_future
        ids = self.frame.loc[self.frame[DS] <= cutoff, ID].unique()
        keep = (kf[DS] > cutoff) & (kf[DS] <= cutoff + pd.Timedelta(weeks=horizon)) & kf[ID].isin(ids)
        return kf[keep].reset_index(drop=True)


def published_calendar(config: Config) -> tuple[pd.Timestamp, pd.Timestamp, dict]:
    manifest = read_manifest(config)
    if manifest is None:
        raise HistoryError(
            f"no published panel at {config.marts_dir} (manifest.json missing): run `darkhorse build` first"
        )
    cal = manifest["calendar"]
    return pd.Timestamp(cal["first_complete_week"]), pd.Timestamp(cal["last_complete_week"]), manifest


def load_history(config: Config, *, items: list[str] | None = None, store=None) -> History:
    first, last, manifest = published_calendar(config)
    weeks = pd.date_range(first, last, freq="7D")
    ts = build_training_set(config, origins=list(weeks), items=items, horizon=1, store=store)
    feats = ts.features
    frame = pd.DataFrame({ID: feats["item_id"].astype(str), DS: pd.to_datetime(feats["origin"])})
    frame[Y] = pd.to_numeric(feats["units"], errors="coerce").astype("float64")
    covariates = []
    for c in ts.feature_names:
        if c in NON_COVARIATES:
            continue
        if pd.api.types.is_numeric_dtype(feats[c]):
            frame[c] = pd.to_numeric(feats[c], errors="coerce").astype("float64").to_numpy()
            covariates.append(c)
    # rows before an item's first closed week have no features: not part of its history
    frame = frame.sort_values([ID, DS], kind="stable").reset_index(drop=True)
    started = frame[Y].notna().groupby(frame[ID]).cummax()
    frame = frame[started].reset_index(drop=True)
    gaps = frame[Y].isna()
    if gaps.any():
        log.warning("%d item-weeks had no feature row after the item started: counted as 0", int(gaps.sum()))
        frame.loc[gaps, Y] = 0.0
    frame[covariates] = frame[covariates].fillna(0.0) if covariates else frame[covariates]
    covariates = _drop_constant(frame, covariates)
    frame = frame[[ID, DS, Y, *covariates]]
    known_future = None
    if config.known_future():
        known_future = _known_future(config, frame, last, store)
        names = [c for c in known_future.columns if c not in (ID, DS)]
        frame = frame.merge(known_future, on=[ID, DS], how="left", validate="one_to_one")
        covariates += names
    lab = ts.labels
    labels = pd.DataFrame(
        {
            ID: lab["item_id"].astype(str),
            DS: pd.to_datetime(lab["origin"]),
            "label": lab["is_hot_seller"].astype("float64"),
            "growth_score": lab["growth_score"].astype("float64"),
            "label_available_at": lab["label_available_at"],
        }
    )
    labels = labels[labels["label"].notna()].reset_index(drop=True)
    if frame.empty:
        raise HistoryError("the published panel has no item history")
    groups = _groups(config, feats, frame[ID].unique())
    return History(
        frame=frame,
        labels=labels,
        covariates=covariates,
        snapshot=ts.marts_snapshot,
        data_snapshot=str(manifest.get("data_snapshot", "")),
        first_week=first,
        last_week=last,
        known_future=known_future,
        groups=groups,
    )


def _drop_constant(frame: pd.DataFrame, covariates: list[str]) -> list[str]:
    """The covariates that vary somewhere in the panel. A weekly feature with one value at every
    item and week (a sales file's customers, ratings or revenue, which it has no column for: 8 of
    the 15 on a store x department export) tells no model anything at any origin, and each one
    costs the boosters a histogram per tree and takes a place in their column sample."""
    constant = [c for c in covariates if frame[c].nunique(dropna=False) <= 1]
    if constant:
        log.info("covariates with one value over the whole panel, left out: %s", ", ".join(constant))
    return [c for c in covariates if c not in constant]


def _groups(config: Config, feats: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame | None:
    """The items' groups: the parts of a sales source's composite item id (`item_id: [Store,
    Dept]`, named by those columns) and the item's category (a catalogue's or its rows', served
    from the item's first week on: the last one known)."""
    parts = None
    for source in config.sources:
        columns = getattr(source.columns, "item_id", None) if source.kind == "sales" else None
        if isinstance(columns, list):
            parts = groups_from_ids(ids, ITEM_ID_SEPARATOR, [str(c) for c in columns])
    category = None
    if "category" in feats:
        known = feats.loc[feats["category"].notna(), ["item_id", "origin", "category"]]
        if len(known):
            last = known.sort_values("origin", kind="stable").groupby("item_id").tail(1)
            category = pd.DataFrame({ID: last["item_id"].astype(str), "category": last["category"].astype(str)})
    return merge_groups(parts, category)


def _known_future(config: Config, frame: pd.DataFrame, last: pd.Timestamp, store) -> pd.DataFrame:
    """Every item's known-future covariates from its first week to a horizon after `last`,
    read through Feast (`known_future_v1`, point in time by `known_at`)."""
    horizon = config.panel.horizon_weeks
    first = frame.groupby(ID, sort=True)[DS].min()
    n_weeks = ((last + pd.Timedelta(weeks=horizon) - first) // pd.Timedelta(weeks=1)).astype(int) + 1
    ids = np.repeat(first.index.to_numpy(), n_weeks.to_numpy())
    offsets = np.concatenate([np.arange(n) for n in n_weeks.to_numpy()]) if len(n_weeks) else np.array([], int)
    weeks = np.repeat(first.to_numpy(), n_weeks.to_numpy()) + offsets * np.timedelta64(7, "D")
    pairs = pd.DataFrame({"item_id": ids, "week_start": pd.to_datetime(weeks)})
    got = feast_features.known_future_features(config, pairs, store=store)
    return got.rename(columns={"item_id": ID, "week_start": DS})

