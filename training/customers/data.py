"""Samples of customers' next orders, each as known at its origin.

An origin is the start of a week (the close of the week before): a sample's history is the
customer's lines of earlier weeks (stamped `available_at` at or before the origin), its
customer features the `customer_weeks` row of the week that just closed, and its targets the
customer's next order: the first order in the origin's week for training and validation
samples, the first order of the held-out weeks for test samples (one per customer). Training
targets lie before the validation weeks, validation targets before the held-out weeks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from darkhorse.core.errors import DarkHorseError

PAD, OOV = 0, 1
WINDOWS_DAYS = (7, 28, 91, 364)  # week, month, quarter, year
SEGMENTS = ("new", "champion", "loyal", "at_risk", "hibernating", "regular")
STEP_FEATURES = 4  # log units, log unit price, discount, log days before the origin
CUSTOMER_FEATURES = 9 + len(SEGMENTS)
HOME_FEATURES = 2  # log1p(km to the home region) / 10, and 1 where that distance is known
TEMPORAL_FEATURES = 4 * len(WINDOWS_DAYS) + len(WINDOWS_DAYS) - 1


class CustomerDataError(DarkHorseError, ValueError):
    """The customer marts cannot give samples (the message names the mart or the reason)."""


def read_distances(marts_dir: Path) -> pd.DataFrame:
    """The `region_distances` mart of a marts folder (`region, other_region, distance_km`)."""
    path = Path(marts_dir) / "region_distances.parquet"
    if not path.is_file():
        raise CustomerDataError(f"missing mart {path}: run `darkhorse build`")
    return pd.read_parquet(path, columns=["region", "other_region", "distance_km"])


def read_marts(marts_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(lines with their discount, customer weeks) from a marts folder."""
    marts_dir = Path(marts_dir)
    paths = {m: marts_dir / f"{m}.parquet" for m in ("customer_purchases", "customer_weeks", "line_prices")}
    if missing := [str(p) for p in paths.values() if not p.is_file()]:
        raise CustomerDataError(f"missing customer mart(s): {', '.join(missing)}; run `darkhorse build`")
    lines = pd.read_parquet(paths["customer_purchases"])
    weeks = pd.read_parquet(paths["customer_weeks"])
    prices = pd.read_parquet(paths["line_prices"], columns=["item_id", "week_start", "reference_price"])
    return with_discount(lines, prices), weeks


def with_discount(lines: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    """`discount` per line: 1 - unit price / the item's reference price of the line's week
    (one per item and week: the median of earlier weeks; null without one)."""
    ref = prices.dropna(subset=["reference_price"]).drop_duplicates(["item_id", "week_start"])
    out = lines.merge(ref, on=["item_id", "week_start"], how="left")
    out["discount"] = 1.0 - out["unit_price"] / out["reference_price"]
    return out.drop(columns="reference_price")


@dataclass
class Split:
    """Weeks of the time split: training targets before `val_start`, validation targets in
    [val_start, test_start), test targets from `test_start` on (the held-out weeks)."""

    val_start: pd.Timestamp
    test_start: pd.Timestamp
    last_week: pd.Timestamp


def make_split(lines: pd.DataFrame, *, holdout_weeks: int, val_weeks: int) -> Split:
    weeks = np.sort(pd.to_datetime(lines["week_start"]).unique())
    if len(weeks) < holdout_weeks + val_weeks + 4:
        raise CustomerDataError(
            f"customer_purchases: {len(weeks)} weeks, too few for {holdout_weeks} held-out and {val_weeks} validation weeks"
        )
    test_start = pd.Timestamp(weeks[-holdout_weeks])
    return Split(val_start=test_start - pd.Timedelta(weeks=val_weeks), test_start=test_start,
                 last_week=pd.Timestamp(weeks[-1]))


@dataclass
class Vocab:
    """Item and region indices (0 padding, 1 out of vocabulary), from training lines only;
    with `home_km` (`with_home_distances`), each region's km to the home region."""

    items: list[str]
    regions: list[str]
    home_km: dict[str, float] | None = None
    item_index: dict[str, int] = field(init=False)
    region_index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.item_index = {i: k + 2 for k, i in enumerate(self.items)}
        self.region_index = {r: k + 2 for k, r in enumerate(self.regions)}

    @property
    def n_items(self) -> int:
        return len(self.items) + 2

    @property
    def n_regions(self) -> int:
        return len(self.regions) + 2

    @property
    def customer_width(self) -> int:
        """Customer features per sample: RFM and segment, + km to home and its flag with `home_km`."""
        return CUSTOMER_FEATURES + (HOME_FEATURES if self.home_km is not None else 0)

    @classmethod
    def fit(cls, lines: pd.DataFrame, *, max_items: int) -> Vocab:
        items = lines["item_id"].value_counts().head(max_items).index.astype(str).tolist()
        regions = lines["region"].dropna().astype(str).value_counts().index.tolist()
        return cls(items=items, regions=regions)

    def with_home_distances(self, distances: pd.DataFrame) -> Vocab:
        """This vocabulary with each region's great-circle km (`region_distances` mart) to the
        home region: the region of the most training lines (the retailer's own country).
        Regions without coordinates, or not in the mart, get none (a flag says so)."""
        if not self.regions:
            raise CustomerDataError("home distances: the training lines name no region")
        home = self.regions[0]
        to_home = distances[distances["other_region"].astype(str) == home]
        km = dict(zip(to_home["region"].astype(str), to_home["distance_km"].astype("float64"), strict=True))
        return Vocab(items=self.items, regions=self.regions,
                     home_km={r: km[r] for r in self.regions if r in km and np.isfinite(km[r])})


@dataclass
class Samples:
    customer: np.ndarray  # (n,) customer ids
    origin: np.ndarray  # (n,) origin week starts
    seq_items: np.ndarray  # (n, L) vocab indices, left-padded, most recent last
    seq_steps: np.ndarray  # (n, L, STEP_FEATURES)
    temporal: np.ndarray  # (n, TEMPORAL_FEATURES)
    customer_feats: np.ndarray  # (n, vocab.customer_width)
    region: np.ndarray  # (n,)
    basket: list[list[str]]  # items of the next order
    quantity: np.ndarray  # units of the next order
    revenue: np.ndarray
    discount: np.ndarray  # mean line discount of the next order (nan without reference prices)
    history: list[list[str]]  # the customer's items before the origin, oldest first

    def __len__(self) -> int:
        return len(self.customer)


def _orders(lines: pd.DataFrame) -> pd.DataFrame:
    g = lines.groupby(["customer_id", "order_index"], sort=True)
    out = g.agg(week_start=("week_start", "first"), quantity=("quantity", "sum"), revenue=("revenue", "sum"),
                discount=("discount", "mean")).reset_index()
    out["basket"] = g["item_id"].agg(lambda s: list(dict.fromkeys(s.astype(str)))).to_numpy()
    return out


def _customer_row(row: pd.Series | None) -> np.ndarray:
    v = np.zeros(CUSTOMER_FEATURES)
    if row is None:
        return v
    ltv = float(row["lifetime_value"])
    v[:9] = [np.log1p(max(row["recency_days"], 0)), np.log1p(row["frequency"]), np.log1p(max(row["monetary"], 0)),
             np.sign(ltv) * np.log1p(abs(ltv)), np.log1p(row["product_diversity"]), np.log1p(row["tenure_weeks"]),
             row["recency_score"] / 4, row["frequency_score"] / 4, row["monetary_score"] / 4]
    if row["segment"] in SEGMENTS:
        v[9 + SEGMENTS.index(row["segment"])] = 1.0
    return v


def _temporal(times: np.ndarray, keys: np.ndarray, items: np.ndarray, units: np.ndarray, revenue: np.ndarray,
              origin: np.datetime64) -> np.ndarray:
    """Aggregates of the last week / month / quarter / year before the origin (log1p orders,
    units, revenue, distinct items) and the log ratios of consecutive windows' daily rates."""
    out = np.zeros(TEMPORAL_FEATURES)
    rates = []
    for k, days in enumerate(WINDOWS_DAYS):
        lo = np.searchsorted(times, origin - np.timedelta64(days, "D"))
        sl = slice(lo, len(times))
        orders = len(set(keys[sl]))
        out[4 * k: 4 * k + 4] = np.log1p([orders, units[sl].sum(), max(revenue[sl].sum(), 0.0), len(set(items[sl]))])
        rates.append(units[sl].sum() / days)
    base = 4 * len(WINDOWS_DAYS)
    for k in range(len(WINDOWS_DAYS) - 1):
        out[base + k] = np.log((rates[k] + 1e-3) / (rates[k + 1] + 1e-3))
    return out


def build_samples(
    lines: pd.DataFrame, weeks: pd.DataFrame, vocab: Vocab, *, targets: pd.DataFrame, seq_len: int,
) -> Samples:
    """Samples for `targets` (`customer_id, origin, order_index`): each the customer's history
    before `origin` and the order `order_index` as the target."""
    lines = lines.sort_values(["customer_id", "line_index"], kind="stable")
    orders = _orders(lines).set_index(["customer_id", "order_index"])
    cw = weeks.assign(week_start=pd.to_datetime(weeks["week_start"])).set_index(["customer_id", "week_start"])
    by_customer = {c: g for c, g in lines.groupby("customer_id", sort=False)}
    n = len(targets)
    seq_items = np.zeros((n, seq_len), dtype="int64")
    seq_steps = np.zeros((n, seq_len, STEP_FEATURES), dtype="float32")
    temporal = np.zeros((n, TEMPORAL_FEATURES), dtype="float32")
    cust = np.zeros((n, vocab.customer_width), dtype="float32")
    region = np.zeros(n, dtype="int64")
    basket, history = [], []
    qty, rev, disc = np.zeros(n), np.zeros(n), np.zeros(n)
    cache: dict[str, tuple] = {}
    for s, (c, origin, oi) in enumerate(targets[["customer_id", "origin", "order_index"]].itertuples(index=False)):
        if c not in cache:
            g = by_customer[c]
            cache[c] = (
                pd.to_datetime(g["week_start"]).to_numpy(), g["event_at"].dt.tz_convert(None).to_numpy(),
                g["order_key"].to_numpy(), g["item_id"].astype(str).to_numpy(), g["quantity"].to_numpy("float64"),
                g["revenue"].to_numpy("float64"), g["unit_price"].to_numpy("float64"), g["discount"].to_numpy("float64"),
                g["region"].iloc[0] if "region" in g else None,
            )
        wk, ts, keys, items, units, revenue, price, discount, reg = cache[c]
        origin64 = np.datetime64(pd.Timestamp(origin).to_datetime64())
        end = int(np.searchsorted(wk, origin64))  # lines of weeks before the origin
        lo = max(0, end - seq_len)
        k = end - lo
        if k:
            seq_items[s, seq_len - k:] = [vocab.item_index.get(i, OOV) for i in items[lo:end]]
            days = (origin64 - ts[lo:end]) / np.timedelta64(1, "D")
            seq_steps[s, seq_len - k:] = np.column_stack([
                np.log1p(units[lo:end]), np.log1p(np.nan_to_num(price[lo:end], nan=0.0)),
                np.clip(np.nan_to_num(discount[lo:end], nan=0.0), -1, 1), np.log1p(np.maximum(days, 0)) / 6,
            ])
        temporal[s] = _temporal(ts[:end], keys[:end], items[:end], units[:end], revenue[:end], origin64)
        key = (c, pd.Timestamp(origin) - pd.Timedelta(weeks=1))
        cust[s, :CUSTOMER_FEATURES] = _customer_row(cw.loc[key] if key in cw.index else None)
        if vocab.home_km is not None and reg is not None and str(reg) in vocab.home_km:
            cust[s, CUSTOMER_FEATURES:] = [np.log1p(vocab.home_km[str(reg)]) / 10, 1.0]
        region[s] = vocab.region_index.get(str(reg), OOV) if reg is not None else OOV
        o = orders.loc[(c, oi)]
        basket.append(list(o["basket"]))
        qty[s], rev[s], disc[s] = o["quantity"], o["revenue"], o["discount"]
        history.append(list(items[:end]))
    return Samples(
        customer=targets["customer_id"].to_numpy(), origin=pd.to_datetime(targets["origin"]).to_numpy(),
        seq_items=seq_items, seq_steps=seq_steps, temporal=temporal, customer_feats=cust, region=region,
        basket=basket, quantity=qty, revenue=rev, discount=disc, history=history,
    )


def targets(lines: pd.DataFrame, split: Split) -> dict[str, pd.DataFrame]:
    """`customer_id, origin, order_index` of the train, validation and test samples.

    Train / validation: every order after a customer's first week, its origin the start of
    its week; test: each customer with lines before the held-out weeks, its first order in
    them, origin the start of the held-out weeks."""
    o = lines.groupby(["customer_id", "order_index"], sort=True)["week_start"].first().reset_index()
    o["week_start"] = pd.to_datetime(o["week_start"])
    first = o.groupby("customer_id")["week_start"].transform("min")
    seen = o[o["week_start"] > first].copy()
    seen["origin"] = seen["week_start"]
    train = seen[seen["week_start"] < split.val_start]
    val = seen[(seen["week_start"] >= split.val_start) & (seen["week_start"] < split.test_start)]
    held = o[o["week_start"] >= split.test_start]
    known = set(o.loc[o["week_start"] < split.test_start, "customer_id"])
    test = held[held["customer_id"].isin(known)].groupby("customer_id").head(1).copy()
    test["origin"] = split.test_start
    cols = ["customer_id", "origin", "order_index"]
    return {"train": train[cols].reset_index(drop=True), "val": val[cols].reset_index(drop=True),
            "test": test[cols].reset_index(drop=True)}


__all__ = [
    "CUSTOMER_FEATURES", "HOME_FEATURES", "OOV", "PAD", "STEP_FEATURES", "TEMPORAL_FEATURES", "CustomerDataError", "Samples",
    "Split", "Vocab", "build_samples", "make_split", "read_distances", "read_marts", "targets", "with_discount",
]
