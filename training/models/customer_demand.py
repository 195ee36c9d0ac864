"""Customer demand: each item's weekly demand from what the multi-task sequence model
(`training.customers.model`) expects the shop's active customers to buy.

At the origin (the last week of the history given to `fit`), the sequence model is trained on
the customers' orders known then (`customer_purchases`, `customer_weeks` and `line_prices` of
the marts in `marts_dir`; targets before the last `val_weeks` weeks train it, those weeks stop
it early) and scores every customer who ordered in the `active_weeks` before a date on their
next order: the chance `p(c, i)` that an item of that order is item i and the order's units
`q(c)`. With `r(c)` the customer's orders per week over the `rate_weeks` before that date, the
customers' expected weekly units of item i are

    D(i) = sum over c of r(c) * q(c) * p(c, i)

and the forecast (flat over the horizon), by `calibration`:

* `level_ratio` (default): the item's mean units of the last `level_weeks` weeks times how its
  customers' expected demand moved since the middle of those weeks: level(i) * (D_now(i) + m) /
  (D_then(i) + m), `m` the median D_then over the items (small items stay near their level),
  the ratio clipped to [1 / `max_ratio`, `max_ratio`]. Both D come from the one model fitted
  at the origin, each from the customers and lines known at its date.
* `global_scale`: D_now(i) times one factor for all items, the panel's mean weekly units of the
  scored items over the last `level_weeks` weeks over the sum of their D_now (anonymous buyers,
  returns and the panel's cleaning are not in the customer lines).

Items outside the sequence model's vocabulary get their mean of the last `level_weeks` weeks
(`fit_info_["fallback_items"]` counts them; every item without customer lines, with a
warning). Intervals are normal, from each series' one-step errors around that moving mean.

Opt-in (`enabled: true` in the config's models) and slow: one sequence-model fit per origin.
The marts folder is the config's (`training.backtest.build_model` passes it).
"""

from __future__ import annotations

import logging
import time
from dataclasses import fields
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from darkhorse.core.schema import DS, WEEK
from training.models.base import Forecaster, ModelError, ModelSettings, series_matrix
from training.models.baselines import _normal_quantiles, _pooled_sigma, _rolling_mean

log = logging.getLogger(__name__)


class CustomerDemandSettings(ModelSettings):
    marts_dir: str | None = Field(None, description="Folder of the customer marts (set from the config).")
    val_weeks: int = Field(4, ge=1, le=26, description="Last weeks of orders that stop the training early.")
    active_weeks: int = Field(26, ge=1, description="Customers with an order in these last weeks are scored.")
    rate_weeks: int = Field(26, ge=1, description="Weeks over which a customer's orders per week are counted.")
    level_weeks: int = Field(8, ge=2, description="Weeks of the panel's level (calibration and fallback).")
    calibration: Literal["level_ratio", "global_scale"] = Field(
        "level_ratio", description="How the customers' expected units become the panel's (module docstring)."
    )
    max_ratio: float = Field(4.0, ge=1.0, description="level_ratio: the largest change from the level either way.")
    max_train_orders: int = Field(
        20_000, ge=100, description="Most recent training orders kept (the fit's cost grows with them)."
    )
    sequence: dict = Field(
        default_factory=lambda: {"max_epochs": 4, "max_items": 1000, "seq_len": 30, "patience": 1},
        description="Sequence-model hyperparameters (training.customers.model.SequenceParams).",
    )
    seed: int = 0


class CustomerDemand(Forecaster):
    model_name = "customer_demand"
    Settings = CustomerDemandSettings
    global_model = True

    @classmethod
    def test_params(cls) -> dict:
        return {"max_train_orders": 200, "sequence": {"max_epochs": 1, "max_items": 50, "seq_len": 5, "embed_dim": 8,
                                                        "hidden": 8, "trunk": 16, "batch_size": 64}}

    def _fit(self, df: pd.DataFrame) -> None:
        s = self.settings
        t0 = time.perf_counter()
        self.y_, _, ids = series_matrix(df)
        level = np.nanmean(self.y_[:, -s.level_weeks:], axis=1)
        origin = df[DS].max() + WEEK
        then = origin - (s.level_weeks // 2) * WEEK  # the middle of the level's weeks
        raw, info = self._customers(origin, [origin, then] if s.calibration == "level_ratio" else [origin])
        known = pd.Index(ids).isin(raw.index) if raw is not None else np.zeros(len(ids), dtype=bool)
        now = raw[origin].reindex(ids).to_numpy() if raw is not None else np.zeros(len(ids))
        if s.calibration == "level_ratio" and raw is not None:
            before = raw[then].reindex(ids).to_numpy()
            m = float(np.nanmedian(raw[then])) or 1e-9
            ratio = np.clip((now + m) / (before + m), 1.0 / s.max_ratio, s.max_ratio)
            self.point_ = np.where(known, level * np.nan_to_num(ratio, nan=1.0), level)
            info["median_ratio"] = round(float(np.nanmedian(ratio[known])), 4) if known.any() else None
        else:
            total = float(np.nansum(now[known]))
            scale = float(np.nansum(level[known]) / total) if total > 0 else 0.0
            self.point_ = np.where(known, now * scale, level)
            info["scale"] = round(scale, 4)
        self.fit_info_ = {**info, "fallback_items": int((~known).sum()), "seconds": round(time.perf_counter() - t0, 1)}

    def _customers(self, origin: pd.Timestamp, dates: list[pd.Timestamp]) -> tuple[pd.DataFrame | None, dict]:
        """Expected weekly units per vocabulary item (rows) at each of `dates` (columns), from
        the sequence model trained on the customer lines known at `origin` (the start of the
        first forecast week; `training.customers.demand`, summed over the regions); None
        without customer lines."""
        from training.customers import data as cdata
        from training.customers import demand

        s = self.settings
        if s.marts_dir is None or not (Path(s.marts_dir) / "customer_purchases.parquet").is_file():
            log.warning("%s: no customer purchase lines (marts_dir %s): every item gets its recent mean",
                        self.alias, s.marts_dir)
            return None, {"customers": 0}
        lines, weeks = cdata.read_marts(Path(s.marts_dir))
        if demand.known_at(lines, weeks, origin)[0].empty:
            log.warning("%s: no customer purchase line before %s: every item gets its recent mean", self.alias,
                        origin.date())
            return None, {"customers": 0}
        # the settings this member shares with training.customers.demand, by name
        settings = demand.DemandSettings(**{f.name: getattr(s, f.name) for f in fields(demand.DemandSettings)})
        try:
            distances = cdata.read_distances(Path(s.marts_dir)) if s.sequence.get("home_distance") else None
            by_region, info = demand.expected_demand(lines, weeks, origin=origin, dates=dates, settings=settings,
                                                     distances=distances, progress=log.info)
        except cdata.CustomerDataError as e:
            raise ModelError(f"model {self.alias!r}: {e} in {s.marts_dir}") from None
        return demand.per_item(by_region), info

    def _predict(self, h: int, quantiles: list[float]) -> pd.DataFrame:
        w = self.settings.level_weeks
        point = np.repeat(self.point_[:, None], h, axis=1)
        resid = self.y_[:, 1:] - _rolling_mean(self.y_, w)[:, :-1]
        sigma = _pooled_sigma(resid)[:, None] * np.ones((1, h))
        return self._frame(h, quantiles, point, _normal_quantiles(point, sigma, quantiles))


__all__ = ["CustomerDemand", "CustomerDemandSettings"]
