"""What a team tries first for a customer's next order, fitted on the lines before the
held-out weeks:

* `most_popular`: the items bought by most orders in the last weeks before the origin; the
  order size is the median order of those weeks;
* `own_last_items`: the customer's own distinct items, most recent first (then the popular
  ones); the order size is the customer's last order's;
* `co_purchase`: item-to-item co-purchase: items scored by how often they were in the same
  order as the customer's items (recent items weigh more), the customer's items included
  (retail customers rebuy); then the popular ones; the order size is the customer's median.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pandas as pd

from training.customers.data import Samples


class Baselines:
    """The three baselines; `fit(lines)` with the lines before the held-out weeks only."""

    def __init__(self, *, k: int = 100, popular_weeks: int = 8, recency_decay: float = 0.9) -> None:
        self.k = k
        self.popular_weeks = popular_weeks
        self.recency_decay = recency_decay

    def fit(self, lines: pd.DataFrame) -> Baselines:
        weeks = pd.to_datetime(lines["week_start"])
        recent = lines[weeks > weeks.max() - pd.Timedelta(weeks=self.popular_weeks)]
        self.popular_ = recent.groupby("item_id")["order_key"].nunique().sort_values(ascending=False, kind="stable")
        self.popular_.index = self.popular_.index.astype(str)
        orders = recent.groupby(["customer_id", "order_key"]).agg(quantity=("quantity", "sum"), revenue=("revenue", "sum"))
        self.median_order_ = (float(orders["quantity"].median()), float(orders["revenue"].median()))
        every = lines.groupby(["customer_id", "order_index"]).agg(quantity=("quantity", "sum"), revenue=("revenue", "sum"))
        self.last_order_ = every.groupby(level=0).tail(1).droplevel(1)
        self.median_customer_ = every.groupby(level=0).median()
        co: dict[str, Counter] = defaultdict(Counter)
        for basket in lines.groupby("order_key")["item_id"].agg(lambda s: list(set(s.astype(str)))):
            if len(basket) > 60:  # a wholesale order of everything says little about pairs
                continue
            for a in basket:
                co[a].update(basket)
        self.co_ = co
        return self

    def _pad(self, ranked: list[str]) -> list[str]:
        seen = dict.fromkeys(ranked)
        for item in self.popular_.index:
            if len(seen) >= self.k:
                break
            seen.setdefault(item)
        return list(seen)[: self.k]

    def rank(self, method: str, history: list[str]) -> list[str]:
        if method == "most_popular":
            return self._pad([])
        recent = list(dict.fromkeys(reversed(history)))  # distinct, most recent first
        if method == "own_last_items":
            return self._pad(recent)
        if method == "co_purchase":
            score: Counter = Counter()
            for age, item in enumerate(recent[:50]):
                w = self.recency_decay**age
                for other, n in self.co_.get(item, {}).items():
                    score[other] += w * n
            return self._pad([i for i, _ in score.most_common(self.k)])
        raise ValueError(f"unknown baseline {method!r}")

    def order_size(self, method: str, customer: str) -> tuple[float, float]:
        if method == "most_popular":
            return self.median_order_
        table = self.last_order_ if method == "own_last_items" else self.median_customer_
        if customer in table.index:
            row = table.loc[customer]
            return float(row["quantity"]), float(row["revenue"])
        return self.median_order_

    def predict(self, method: str, samples: Samples) -> dict[str, object]:
        ranked = [self.rank(method, h) for h in samples.history]
        sizes = np.array([self.order_size(method, c) for c in samples.customer]).reshape(-1, 2)
        return {"ranked": ranked, "quantity": sizes[:, 0], "revenue": sizes[:, 1],
                "discount": np.zeros(len(samples))}


METHODS = ("most_popular", "own_last_items", "co_purchase")

__all__ = ["METHODS", "Baselines"]
