"""Point-in-time training sets: the one way trainers get features, labels and targets.

A training row is one (item, origin) pair. The origin is a forecast cutoff given as the
`week_start` date of the origin week; the row's cutoff instant is that week's close
(`origin + 7 days`, 00:00 UTC), and every feature comes from Feast's point-in-time join at that
instant (`training_v1`, DuckDB offline store): the origin week itself is visible, no later week
is. Labels and targets are the future and are kept apart from the features:

* `TrainingSet.features`: `item_id, origin, cutoff` + the features of `training_v1` (the item's
  last closed week of activity and rolling windows, and static attributes known since the close
  of its first week). Null where the item had no row by the cutoff.
* `TrainingSet.labels`: `item_id, origin, cutoff` + `growth_score, is_hot_seller,
  units_future_sum, is_label_known, label_available_at` from `item_week_labels` (the row of the
  origin week itself). `label_available_at` is when the label became known: a backtest at a
  cutoff T may only fit on rows whose `label_available_at <= T`.
* `TrainingSet.targets`: `item_id, origin, cutoff` + `units_h01 .. units_hNN`, the units of the
  weeks origin+1 .. origin+horizon (0 for weeks before the item's first week, null for weeks
  after the data's last complete week).

The three frames have the same rows in the same order (sorted by origin, then item_id).
`TrainingSet.to_frame()` puts them side by side with `label__` and `target__` prefixes.

Labels and targets are read from the same published snapshot Feast read (the marts link is
resolved once); if a publish switches the snapshot during the build, it fails rather than mix
two snapshots.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from darkhorse.core import features as feast_features
from darkhorse.core.config import WEEKDAYS, Config
from darkhorse.core.errors import DarkHorseError
from darkhorse.core.marts import mart_path
from darkhorse.core.sql import sql_str

if TYPE_CHECKING:
    from feast import FeatureStore

log = logging.getLogger(__name__)

KEYS = ("item_id", "origin", "cutoff")
LABEL_COLUMNS = (
    "growth_score",
    "is_hot_seller",
    "units_future_sum",
    "is_label_known",
    "label_available_at",
)


class TrainingSetError(DarkHorseError, RuntimeError):
    """A training set cannot be built as asked (bad origins, marts changed mid-build...)."""


@dataclass(frozen=True)
class TrainingSet:
    """Features, labels and targets of the same (item, origin) rows, kept apart.

    Attributes:
        features: `item_id, origin, cutoff` + one column per feature of the feature service.
        labels: `item_id, origin, cutoff` + `LABEL_COLUMNS` (targets, never model inputs).
        targets: `item_id, origin, cutoff` + `units_h01 .. units_h{horizon}`.
        horizon: weeks of future units in `targets`.
        n_without_history: rows whose item had no weekly feature row by the cutoff (their
            features are null; they are kept, not dropped).
        feature_service: the Feast feature service the features came from.
        marts_snapshot: the published snapshot folder everything was read from.
    """

    features: pd.DataFrame
    labels: pd.DataFrame
    targets: pd.DataFrame
    horizon: int
    n_without_history: int
    feature_service: str
    marts_snapshot: str
    feature_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.features)

    def to_frame(self) -> pd.DataFrame:
        """One frame: keys, features, then `label__<name>` and `target__<name>` columns."""
        lab = self.labels.drop(columns=list(KEYS)).add_prefix("label__")
        tgt = self.targets.drop(columns=list(KEYS)).add_prefix("target__")
        return pd.concat([self.features, lab, tgt], axis=1)


def _origin_dates(config: Config, origins: Iterable[Any]) -> list[date]:
    week_start = WEEKDAYS.index(config.panel.week_start)
    out: list[date] = []
    for o in origins:
        ts = pd.Timestamp(o)
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC").tz_localize(None)
        if ts != ts.normalize() or ts.weekday() != week_start:
            raise TrainingSetError(
                f"origin {o!r} is not the start of a week (weeks start on "
                f"{config.panel.week_start}, 00:00 UTC); pass week_start dates"
            )
        out.append(ts.date())
    if not out:
        raise TrainingSetError("origins is empty")
    return sorted(set(out))


def _entity_frame(
    con: duckdb.DuckDBPyConnection, marts: Path, origins: list[date], items: list[str] | None
) -> pd.DataFrame:
    o = pd.DataFrame({"origin": pd.to_datetime(origins)})
    o["cutoff"] = (o["origin"] + pd.Timedelta(days=7)).dt.tz_localize("UTC")
    if items is not None:
        pairs = o.merge(pd.DataFrame({"item_id": items}), how="cross")
    else:
        # the items known at each cutoff: an item that first appears later is the future too
        con.register("origins_df", o)
        pairs = con.sql(
            f"""
            select items.item_id, origins_df.origin, origins_df.cutoff
            from origins_df
            inner join read_parquet({sql_str(mart_path(marts, 'items'))}) as items
                on items.first_available_at <= origins_df.cutoff
            """
        ).df()
        con.unregister("origins_df")
    pairs = pairs[["item_id", "origin", "cutoff"]].sort_values(["origin", "item_id"], kind="stable")
    pairs = pairs.reset_index(drop=True)
    pairs["item_id"] = pairs["item_id"].astype(str)
    pairs["origin"] = pd.to_datetime(pairs["origin"]).dt.date
    pairs["cutoff"] = pd.to_datetime(pairs["cutoff"], utc=True).astype("datetime64[us, UTC]")
    return pairs


def _labels_and_targets(
    con: duckdb.DuckDBPyConnection, marts: Path, keys: pd.DataFrame, horizon: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    k = keys[["item_id", "origin"]].copy()
    k["row"] = range(len(k))
    k["origin"] = pd.to_datetime(k["origin"])
    con.register("keys_df", k)
    weeks = f"read_parquet({sql_str(mart_path(marts, 'item_weeks'))})"
    labels = con.sql(
        f"""
        select keys_df.row, {", ".join(f"l.{c}" for c in LABEL_COLUMNS)}
        from keys_df
        left join read_parquet({sql_str(mart_path(marts, 'item_week_labels'))}) as l
            on l.item_id = keys_df.item_id and l.week_start = cast(keys_df.origin as date)
        order by keys_df.row
        """
    ).df()
    horizon_cols = [f"units_h{h:02d}" for h in range(1, horizon + 1)]
    pivots = ",\n".join(
        f"max(w.units) filter (where w.h = {h}) as {c}" for h, c in enumerate(horizon_cols, 1)
    )
    last_week = con.sql(f"select max(week_start) from {weeks}").fetchall()[0][0]
    future = con.sql(
        f"""
        with w as (
            select keys_df.row, w.units,
                cast(datediff('day', cast(keys_df.origin as date), w.week_start) / 7 as integer) as h
            from keys_df
            inner join {weeks} as w
                on w.item_id = keys_df.item_id
                and w.week_start > cast(keys_df.origin as date)
                and w.week_start <= cast(keys_df.origin as date) + interval {7 * horizon} day
        )
        select keys_df.row, {pivots}
        from keys_df left join w on w.row = keys_df.row
        group by keys_df.row
        order by keys_df.row
        """
    ).df()
    con.unregister("keys_df")
    # weeks inside the data before the item's first week had no events (0); after the data: null
    for h, c in enumerate(horizon_cols, 1):
        week = pd.to_datetime(keys["origin"]) + pd.Timedelta(weeks=h)
        inside = (week <= pd.Timestamp(last_week)).to_numpy() if last_week is not None else False
        col = future[c].astype("float64")
        future[c] = col.where(col.notna() | ~inside, 0.0)
    labels = labels.drop(columns="row").reset_index(drop=True)
    labels["label_available_at"] = pd.to_datetime(labels["label_available_at"], utc=True).astype(
        "datetime64[us, UTC]"
    )
    for c in ("is_hot_seller", "is_label_known"):
        labels[c] = labels[c].astype("boolean")
    return labels, future.drop(columns="row").reset_index(drop=True)


@contextlib.contextmanager
def _feast_failures(store: FeatureStore, service: str) -> Iterator[None]:
    """Feast's own failures (an unreadable registry, an offline file gone ...) as one
    `TrainingSetError` naming the registry; DarkHorse's own errors pass through unchanged."""
    try:
        yield
    except DarkHorseError:
        raise
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [""])[0][:300]
        raise TrainingSetError(
            f"the Feast feature store could not serve {service!r} (registry "
            f"{store.config.registry.path}): {type(exc).__name__}: {reason}; "
            "`darkhorse build` applies and materializes it again"
        ) from exc


def build_training_set(
    config: Config,
    *,
    origins: Iterable[Any],
    items: Iterable[str] | None = None,
    horizon: int | None = None,
    service: str = feast_features.TRAINING_SERVICE,
    store: FeatureStore | None = None,
) -> TrainingSet:
    """Build the point-in-time training set of `items` at `origins`.

    Args:
        config: the DarkHorse config (its published marts and Feast deployment are used;
            `darkhorse.core.features.apply` must have run for them).
        origins: `week_start` dates of the origin weeks (date, ISO string or Timestamp at
            00:00); each row's cutoff is the origin week's close. A date that does not start a
            week is refused rather than guessed.
        items: item ids to include at every origin. Default: at each origin, the items whose
            first week had closed by the cutoff (listing later items would leak their launch).
            Requested items with no history at an origin are kept with null features.
        horizon: weeks of future units in `targets` (default: `panel.horizon_weeks`).
        service: the Feast feature service (default `training_v1`).
        store: an existing `feast.FeatureStore` for this config (optional).

    Returns:
        A `TrainingSet` (see the module docstring for the three frames).
    """
    horizon = horizon or config.panel.horizon_weeks
    if horizon < 1:
        raise TrainingSetError("horizon must be at least 1 week")
    origin_dates = _origin_dates(config, origins)
    wanted = None if items is None else list(dict.fromkeys(str(i) for i in items))
    link = config.marts_dir
    snapshot = Path(os.path.realpath(link))
    store = store or feast_features.feature_store(config)

    con = duckdb.connect()
    try:
        keys = _entity_frame(con, snapshot, origin_dates, wanted)
        entities = pd.DataFrame(
            {
                feast_features.ENTITY_KEY: keys["item_id"],
                feast_features.EVENT_TIMESTAMP: keys["cutoff"],
            }
        )
        with _feast_failures(store, service):
            feats = feast_features.historical_features(config, entities, service=service, store=store)
        feats = feats.drop(columns=[feast_features.ENTITY_KEY, feast_features.EVENT_TIMESTAMP])
        labels, targets = _labels_and_targets(con, snapshot, keys, horizon)
    finally:
        con.close()
    if Path(os.path.realpath(link)) != snapshot:
        raise TrainingSetError(
            f"the published marts switched from {snapshot} to {os.path.realpath(link)} while "
            "the training set was built; build it again"
        )

    weekly = feast_features.weekly_feature_names(store, service)
    no_history = feats[weekly].isna().all(axis=1) if weekly else pd.Series(False, index=feats.index)
    n_without = int(no_history.sum())
    if n_without:
        log.warning(
            "%d of %d training rows have no weekly features at their cutoff (item not yet "
            "active, or no row within the ttl): kept with null features",
            n_without,
            len(keys),
        )
    key_frame = keys[list(KEYS)]
    return TrainingSet(
        features=pd.concat([key_frame, feats.reset_index(drop=True)], axis=1),
        labels=pd.concat([key_frame, labels], axis=1),
        targets=pd.concat([key_frame, targets], axis=1),
        horizon=horizon,
        n_without_history=n_without,
        feature_service=service,
        marts_snapshot=str(snapshot),
        feature_names=list(feats.columns),
    )


__all__ = ["KEYS", "LABEL_COLUMNS", "TrainingSet", "TrainingSetError", "build_training_set"]

