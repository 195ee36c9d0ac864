"""Customers' expected weekly units per item and region, from the sequence model fitted at an origin.

At an origin (the start of the first forecast week: the close of the last history week), only
the customer lines and customer weeks stamped `available_at` at or before it are kept; the
sequence model (`training.customers.model`) is trained on them (targets before the last
`val_weeks` weeks train it, those weeks stop it early) and scores, at each requested date
(at or before the origin), every customer who ordered in the `active_weeks` before that date on
its next order: the chance `p(c, i)` that an item of that order is item i and the order's units
`q(c)`. With `r(c)` the customer's orders per week over the `rate_weeks` before the date, the
expected weekly units of item i bought by the customers of region g are

    D(i, g) = sum over customers c of region g of r(c) * q(c) * p(c, i)

a customer's region being the region of its last line before the date. Summed over the regions
(customers without a region included, region null), D(i, g) is the customers' expected weekly
units of item i: `per_item()` gives that sum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from darkhorse.core.schema import WEEK
from training.customers import data as cdata

COLUMNS = ("item_id", "region", "date", "units")


@dataclass(frozen=True)
class DemandSettings:
    """How the customers are scored (see the module docstring)."""

    val_weeks: int = 4
    active_weeks: int = 26
    rate_weeks: int = 26
    max_train_orders: int = 20_000
    sequence: dict = field(default_factory=dict)  # training.customers.model.SequenceParams
    seed: int = 0


def known_at(lines: pd.DataFrame, weeks: pd.DataFrame, origin: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The customer lines and customer weeks known at `origin` (stamped at or before it)."""
    close = pd.Timestamp(origin).tz_localize("UTC") if pd.Timestamp(origin).tzinfo is None else pd.Timestamp(origin)
    return (lines[pd.to_datetime(lines["available_at"], utc=True) <= close],
            weeks[pd.to_datetime(weeks["available_at"], utc=True) <= close])


def expected_demand(
    lines: pd.DataFrame, weeks: pd.DataFrame, *, origin: pd.Timestamp, dates: Sequence[pd.Timestamp],
    settings: DemandSettings = DemandSettings(), distances: pd.DataFrame | None = None, progress=None,
) -> tuple[pd.DataFrame, dict]:
    """Expected weekly units per item of the model's vocabulary, region and date: a long frame
    `item_id, region, date, units` (every vocabulary item x every region with a scored customer
    x every date) and facts about the fit. `lines` carry `discount` (`data.read_marts`);
    `distances` (the `region_distances` mart) where the sequence model's `home_distance` is on.
    Raises CustomerDataError when too few orders are known at the origin."""
    from training.customers.model import SequenceModel, SequenceParams

    origin = pd.Timestamp(origin)
    if origin.tzinfo is not None:
        origin = origin.tz_convert(None)
    if any(pd.Timestamp(d) > origin for d in dates):
        raise cdata.CustomerDataError(f"expected demand: dates {[str(d) for d in dates]} after the origin {origin}")
    s = settings
    lines, weeks = known_at(lines, weeks, origin)
    p = SequenceParams(**{"seed": s.seed, **s.sequence})
    split = cdata.Split(val_start=origin - s.val_weeks * WEEK, test_start=origin, last_week=origin - WEEK)
    vocab = cdata.Vocab.fit(lines[pd.to_datetime(lines["week_start"]) < split.val_start], max_items=p.max_items)
    if p.home_distance:
        if distances is None:
            raise cdata.CustomerDataError("expected demand: home_distance needs the region_distances mart")
        vocab = vocab.with_home_distances(distances)
    tg = cdata.targets(lines, split)
    train = tg["train"].sort_values("origin", kind="stable").tail(s.max_train_orders)  # the latest orders
    if train.empty or tg["val"].empty or not vocab.items:
        raise cdata.CustomerDataError(
            f"customer_purchases: too few customer orders before {origin.date()} ({len(train)} training, "
            f"{len(tg['val'])} validation orders)")
    sets = {k: cdata.build_samples(lines, weeks, vocab, targets=t, seq_len=p.seq_len)
            for k, t in (("train", train), ("val", tg["val"]))}
    model = SequenceModel(p, vocab).fit(sets["train"], sets["val"], progress=progress or (lambda *_: None))
    ordered = lines.assign(week_start=pd.to_datetime(lines["week_start"])).sort_values(
        ["customer_id", "order_index", "line_index"], kind="stable")
    orders = ordered.groupby(["customer_id", "order_index"], sort=True).agg(
        week_start=("week_start", "first"), region=("region", "last")).reset_index()
    frames, n_active = [], 0
    for date in (pd.Timestamp(d) for d in dates):  # every customer active before the date, on its next order
        known = orders[orders["week_start"] < date]
        recent = known[known["week_start"] >= date - s.active_weeks * WEEK]
        active = recent.groupby("customer_id", sort=True)["order_index"].max().reset_index()
        rate = (known[known["week_start"] >= date - s.rate_weeks * WEEK].groupby("customer_id").size()
                / s.rate_weeks).reindex(active["customer_id"]).fillna(0.0).to_numpy()
        region = known.groupby("customer_id")["region"].last().reindex(active["customer_id"])
        scored = cdata.build_samples(lines, weeks, vocab, targets=active.assign(origin=date), seq_len=p.seq_len)
        pred = model.item_probabilities(scored)
        codes, names = pd.factorize(region, use_na_sentinel=False)
        per_customer = (rate * pred["quantity"])[:, None] * pred["probability"]  # (customers, items)
        by_region = np.zeros((len(names), len(vocab.items)))
        np.add.at(by_region, codes, per_customer)
        frames.append(pd.DataFrame({
            "item_id": np.tile(np.asarray(vocab.items, dtype=object), len(names)),
            "region": np.repeat(np.asarray(names, dtype=object), len(vocab.items)),
            "date": date, "units": by_region.reshape(-1),
        }))
        n_active = n_active or len(active)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(COLUMNS))
    return out, {"customers": n_active, "vocabulary": len(vocab.items), "epochs": model.epochs_,
                 "train_orders": len(train)}


def per_item(demand: pd.DataFrame) -> pd.DataFrame:
    """Items (rows, in first-seen order) x dates (columns): `demand` summed over the regions."""
    return demand.pivot_table(index="item_id", columns="date", values="units", aggfunc="sum", sort=False,
                              dropna=False).fillna(0.0)


def hierarchy_member(
    lines: pd.DataFrame, weeks: pd.DataFrame, *, settings: DemandSettings = DemandSettings(), level_weeks: int = 8,
    max_ratio: float = 4.0, distances: pd.DataFrame | None = None, info: list | None = None, progress=None,
):
    """A bottom member of `training.hierarchy.backtest`: each item x region series' mean of its
    last `level_weeks` weeks times how its customers' expected demand D(i, region) moved since
    the middle of those weeks, (D_now + m) / (D_then + m) clipped to [1 / max_ratio, max_ratio]
    (`m` the median D_then over the bottom series; the `level_ratio` calibration of the item
    member, per region). Both D come from one sequence model fitted at the origin on what was
    known then. Regions outside the hierarchy's are summed into its `OTHER`; customers without a
    region are left out (the item x region panel has none); series of items outside the model's
    vocabulary keep their level. Facts of each origin's fit are appended to `info`."""
    from training.hierarchy import OTHER

    def member(keys: pd.DataFrame, hist: np.ndarray, origin: pd.Timestamp) -> np.ndarray:
        level = hist[:, -level_weeks:].mean(axis=1)
        then = origin - (level_weeks // 2) * WEEK  # the middle of the level's weeks
        d, facts = expected_demand(lines, weeks, origin=origin, dates=[origin, then], settings=settings,
                                   distances=distances, progress=progress)
        regions = set(keys["region"].astype(str))
        d = d[d["region"].notna()].copy()
        d["region"] = d["region"].astype(str).where(d["region"].astype(str).isin(regions), OTHER)
        wide = d.groupby(["item_id", "region", "date"])["units"].sum().unstack("date")
        wide = wide.reindex(columns=[origin, then]).fillna(0.0)  # no active customer there then: 0
        index = pd.MultiIndex.from_frame(keys[["item_id", "region"]].astype(str))
        known = keys["item_id"].astype(str).isin(set(d["item_id"])).to_numpy()  # in the vocabulary
        now, before = (wide[date].reindex(index).fillna(0.0).to_numpy() for date in (origin, then))
        m = float(np.median(before[known])) if known.any() else 0.0
        m = m or 1e-9
        ratio = np.where(known, np.clip((now + m) / (before + m), 1.0 / max_ratio, max_ratio), 1.0)
        if info is not None:
            info.append({"origin": str(pd.Timestamp(origin).date()), **facts, "bottom_known": int(known.sum()),
                         "median_ratio": round(float(np.median(ratio[known])), 4) if known.any() else None})
        return level * ratio

    return member

__all__ = ["COLUMNS", "DemandSettings", "expected_demand", "hierarchy_member", "known_at", "per_item"]
