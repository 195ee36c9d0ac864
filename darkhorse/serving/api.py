"""Typed requests and responses of the allocation API (`bentos/service.py` serves them).

Limits are part of the schema, so the OpenAPI document states them and a request beyond them
gets HTTP 400 naming the field: at most `MAX_ITEMS` items per request, capacities and
quantities up to `MAX_QUANTITY`, probability levels from 0.001 to 0.999, costs of at least
`MIN_COST`, no NaN or infinity anywhere, unknown fields rejected. Bounds are inclusive
(`ge`/`le`): the served OpenAPI 3.0 document has no numeric exclusive bounds.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from darkhorse.serving.allocation import Mode

MAX_ITEMS = 5000
MAX_QUANTITY = 1e12
MAX_QUANTILES = 99
MIN_COST = 1e-6

ItemId = Annotated[
    str, StringConstraints(min_length=1, max_length=200),
    Field(description="Item key as in the panel (parent_asin, stock code, sku, node ...)."),
]
Level = Annotated[float, Field(ge=0.001, le=0.999, description="A probability level, 0.001 to 0.999.")]
Quantity = Annotated[float, Field(ge=0, le=MAX_QUANTITY)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class _Response(BaseModel):
    model_config = ConfigDict(allow_inf_nan=True)


def _unique(items: list[str], what: str) -> None:
    seen: set[str] = set()
    dup = [i for i in items if i in seen or seen.add(i)]
    if dup:
        raise ValueError(f"duplicate {what}: {', '.join(dict.fromkeys(dup))}")


# ------------------------------------------------------------------------------- requests
MAX_PLAN_ROWS = 10_000
CovariateName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class PlannedWeek(_Request):
    """One item's known-future values in one forecast week, replacing the release's plan there."""

    item: ItemId
    week: date = Field(description="Any day of a forecast week (its start, or its Friday as a planning sheet may date it).")
    values: dict[CovariateName, Annotated[float, Field(ge=-MAX_QUANTITY, le=MAX_QUANTITY)]] = Field(
        min_length=1, description="Covariate name (config known_future, e.g. price, on_promo) to its value that week.",
    )
    region: ItemId | None = Field(
        None, description="/v1/allocate at level region or item_region only: the region where the row's change "
        "to the item's demand that week lands (a regional promotion); its other regions stay. Rows of one item "
        "and week may name several. Unset: every region of the item moves by the item's forecast ratio.",
    )


def _regionless(plan: list[PlannedWeek], where: str) -> list[PlannedWeek]:
    """`plan`, refused where a row names a region (read by region allocations only)."""
    for i, row in enumerate(plan):
        if row.region is not None:
            raise ValueError(f"plan[{i}].region: only /v1/allocate at level region or item_region reads a plan "
                             f"row's region; {where} moves the item's whole demand")
    return plan


class ForecastRequest(_Request):
    items: list[ItemId] = Field(
        min_length=1, max_length=MAX_ITEMS, description=f"Items to forecast (1 to {MAX_ITEMS}, no duplicates)."
    )
    horizon: int | None = Field(
        None, ge=1, le=520, description="Weeks ahead, at most the release's trained horizon (default: all of it)."
    )
    quantiles: list[Level] = Field(
        default=[0.1, 0.5, 0.9], min_length=1, max_length=MAX_QUANTILES,
        description="Quantile levels of the weekly forecast distribution.",
    )
    plan: list[PlannedWeek] = Field(
        default_factory=list, max_length=MAX_PLAN_ROWS,
        description="What-if known-future values (a promotion, a price) for some items and weeks: the release's "
        "members that read them forecast again with these in place of the release's plan (a release "
        "without known_future covariates refuses a plan). Empty: the release's own forecast.",
    )

    @field_validator("items")
    @classmethod
    def _no_duplicates(cls, v: list[str]) -> list[str]:
        _unique(v, "items")
        return v

    @field_validator("plan")
    @classmethod
    def _item_plan(cls, v: list[PlannedWeek]) -> list[PlannedWeek]:
        return _regionless(v, "a forecast")


class HotSellersRequest(_Request):
    k: int | None = Field(
        20, ge=1, le=MAX_ITEMS, description="Return the top k items (null: every item above `threshold`)."
    )
    threshold: float | None = Field(
        None, ge=0, le=MAX_QUANTITY, description="Only items whose score is at least this."
    )
    score: str = Field(
        "final", min_length=1, max_length=64,
        description="Which score ranks the items: final, classifier, forecast_growth, momentum (or any other the release has).",
    )
    plan: list[PlannedWeek] = Field(
        default_factory=list, max_length=MAX_PLAN_ROWS,
        description="What-if known-future values, as in /v1/forecast: the items it names are scored again from "
        "their forecasts under it (forecast growth and the classifiers read the forecasts; momentum and "
        "seasonal growth read the history only), and the final ranking is computed again over every item. "
        "Empty: the release's own scores.",
    )

    @model_validator(mode="after")
    def _some_limit(self) -> HotSellersRequest:
        if self.k is None and self.threshold is None:
            raise ValueError("give k, threshold or both")
        return self

    @field_validator("plan")
    @classmethod
    def _item_plan(cls, v: list[PlannedWeek]) -> list[PlannedWeek]:
        return _regionless(v, "a hot-seller ranking")


class AllocationItem(_Request):
    id: ItemId
    unit_cost: float = Field(1.0, ge=MIN_COST, le=1e9, description="Capacity one unit uses (volume, price, CPU).")
    underage_cost: float = Field(1.0, ge=MIN_COST, le=1e9, description="Cost of one unit of unmet demand (newsvendor).")
    overage_cost: float = Field(1.0, ge=0, le=1e9, description="Cost of one unit left over (newsvendor).")
    min: Quantity = Field(0.0, description="Least this item may get.")
    max: Quantity | None = Field(None, description="Most this item may get (null: no limit).")
    service_level: Level | None = Field(None, description="Target level for `service_level` mode (default: the request's).")
    region: ItemId | None = Field(None, description="level item_region: the item's region (country, store).")

    @model_validator(mode="after")
    def _min_le_max(self) -> AllocationItem:
        if self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) exceeds max ({self.max:g}) for item {self.id!r}")
        return self


class AllocateRequest(_Request):
    mode: Mode = Field(
        "newsvendor",
        description=(
            "newsvendor: critical-ratio quantiles under one capacity (Lagrange multiplier); "
            "fair_share: the same fraction of expected demand for every item; service_level: every "
            "item at a target quantile; balance: assign items to nodes, minimising the largest load."
        ),
    )
    capacity: Quantity | None = Field(
        None, description="Total capacity in the items' unit_cost units (required except for balance)."
    )
    items: list[AllocationItem] = Field(
        min_length=1, max_length=MAX_ITEMS, description=f"Items, regions or shards (1 to {MAX_ITEMS}, unique ids)."
    )
    level: Literal["item", "region", "item_region"] = Field(
        "item",
        description=(
            "item: ids are items; region: ids are regions (all of the release's top items); item_region: "
            "ids are items, each with its region. Region series are the release's reconciled hierarchy."
        ),
    )
    weeks: int = Field(1, ge=1, le=520, description="Planning period: demand of the next `weeks` weeks.")
    plan: list[PlannedWeek] = Field(
        default_factory=list, max_length=MAX_PLAN_ROWS,
        description="What-if known-future values, as in /v1/forecast: the items' demand is forecast again "
        "with them. At levels region and item_region each named item's region series move as its forecast "
        "moves, week by week, and the regions and totals with them (the items must be among the release's "
        "region items); a row's `region` lands that week's change in that region alone. Empty: the release's "
        "own forecast.",
    )
    service_level: Level = Field(0.95, description="Default target level of `service_level` mode.")
    headroom: Level = Field(0.9, description="Quantile of each item's load used by `balance`.")
    nodes: int | None = Field(None, ge=1, le=10_000, description="Number of equal nodes (balance).")
    node_capacities: list[Annotated[float, Field(ge=MIN_COST, le=MAX_QUANTITY)]] | None = Field(
        None, min_length=1, max_length=10_000, description="Capacity of each node (balance); overrides `nodes`."
    )

    @model_validator(mode="after")
    def _mode_inputs(self) -> AllocateRequest:
        _unique([i.id if i.region is None else f"{i.id}@{i.region}" for i in self.items], "item ids")
        if self.level == "item_region" and any(i.region is None for i in self.items):
            raise ValueError("level item_region needs a region for every item")
        if self.level != "item_region" and any(i.region is not None for i in self.items):
            raise ValueError(f"region is only for level item_region (level is {self.level})")
        if self.level == "item":
            _regionless(self.plan, "an allocation at level item")
        if self.level != "item" and self.mode == "balance":
            raise ValueError("balance allocates items to nodes: use level item")
        if self.mode == "balance":
            if self.nodes is None and self.node_capacities is None:
                raise ValueError("balance needs nodes or node_capacities")
            if self.nodes is not None and self.node_capacities is not None and self.nodes != len(self.node_capacities):
                raise ValueError(f"nodes ({self.nodes}) differs from the number of node_capacities ({len(self.node_capacities)})")
        elif self.capacity is None:
            raise ValueError(f"capacity is required for mode {self.mode}")
        return self


# ------------------------------------------------------------------------------ responses
class Release(_Response):
    release: str = Field(description="Release (bento) version.")
    forecaster: str = Field(description="Pinned forecaster model tag.")
    hot_seller_model: str = Field(description="Pinned hot-seller model tag.")
    trained_through: date = Field(description="Start of the last week the models saw.")


class Freshness(_Response):
    source: str = Field(description="Where the feature timestamps come from.")
    available: bool = Field(description="Whether the online store could be read.")
    features_as_of: datetime | None = Field(description="Close of the newest week in the online store.")
    age_days: float | None = Field(description="Days since features_as_of.")
    max_age_days: float
    stale: bool = Field(description="Features are older than max_age_days, or unavailable.")
    weeks_ahead_of_model: int | None = Field(
        description="Closed weeks the online store has that the models were not trained on (retrain when > 0)."
    )
    checked_at: datetime | None
    note: str


class WeekForecast(_Response):
    week: date = Field(description="Week start.")
    point: float = Field(
        description="The ensemble's point forecast (times the release's checked point factor, "
        "metrics.json release.blend.point_factor, 1 unless it checked out on held-out origins; a factor "
        "below 1 lowers intermittent series' points toward their median; the quantiles are not scaled)."
    )
    quantiles: dict[str, float] = Field(description="Level (as 'q10', 'q2.5', ...) to units.")


class ItemForecast(_Response):
    item: str
    weeks: list[WeekForecast]


class ForecastResponse(_Response):
    release: Release
    features: Freshness
    horizon: int
    quantiles: list[float]
    forecasts: list[ItemForecast]
    planned: int = Field(0, description="Plan rows of the request applied (0: the release's own plan).")


class HotSeller(_Response):
    item: str
    rank: int
    score: float
    scores: dict[str, float] = Field(description="Every score of the item (momentum, forecast_growth, classifier, final ...).")
    latest: dict[str, float | None] = Field(description="The item's latest online features.")
    description: str | None = Field(None, description="What the item is: its rows' description, else its catalogue title (online store).")
    category: str | None = Field(None, description="The item's category, where a catalogue or its rows name one.")
    brand: str | None = Field(None, description="The item's brand or store, from the catalogue.")


# the HotSeller fields read from the item's static online features
ITEM_NAMES = ("description", "category", "brand")


class HotSellersResponse(_Response):
    release: Release
    features: Freshness
    as_of_week: date = Field(description="Scores are as of the close of this week.")
    score: str
    eligible: int = Field(description="Items ranked.")
    items: list[HotSeller]
    planned: int = Field(0, description="Plan rows of the request applied (0: the release's own plan).")


class ItemAllocation(_Response):
    item: str
    quantity: float = Field(description="Allocated units (balance: the item's load at the headroom quantile).")
    service_level: float = Field(description="Probability that demand is at most the allocation (balance: its node's).")
    expected_demand: float
    expected_shortfall: float = Field(description="Expected unmet demand E[(D - x)+].")
    expected_leftover: float = Field(description="Expected unused allocation E[(x - D)+].")
    target_level: float | None = Field(None, description="Critical ratio or service level aimed at.")
    safety_stock: float | None = Field(None, description="service_level mode: allocation minus the median.")
    node: int | None = Field(None, description="balance: the node the item goes to.")
    region: str | None = Field(None, description="level region or item_region: the series' region.")


class NodeLoad(_Response):
    node: int
    items: int
    load: float = Field(description="Sum of its items' loads at the headroom quantile.")
    expected_load: float
    capacity: float | None
    utilisation: float | None
    service_level: float | None = Field(description="Probability the node's load fits its capacity.")
    expected_overflow: float | None


class AllocateResponse(_Response):
    release: Release
    features: Freshness
    mode: str
    weeks: int
    capacity: float | None
    used: float = Field(description="Capacity used (balance: total load at the headroom quantile).")
    binding: bool = Field(description="Capacity limited the allocation (balance: some node is over capacity).")
    shadow_price: float | None = Field(description="newsvendor: expected cost saved per extra unit of capacity.")
    share: float | None = Field(None, description="fair_share: fraction of expected demand served.")
    fill_rate: float = Field(description="Expected share of total demand served.")
    expected_shortfall: float
    expected_leftover: float
    allocations: list[ItemAllocation]
    nodes: list[NodeLoad] | None = None
    max_node_load: float | None = None
    lower_bound_max_load: float | None = Field(None, description="No assignment can do better than this.")
    planned: int = Field(0, description="Plan rows of the request applied (0: the release's own plan).")


class LoadRelease(_Response):
    release: str = Field(description="Release (bento) version.")
    load_forecaster: str = Field(description="Pinned load model tag.")
    grain: str
    target: str = Field(description="The panel column forecast as the load.")
    horizon: int = Field(description="Intervals the model forecasts ahead.")
    trained_through: str = Field(description="Start of the last interval the model saw (UTC).")
    series: list[str] = Field(description="Series the load routes know.")


class Health(_Response):
    parts: list[str] = Field(default_factory=lambda: ["weekly"], description="What the release carries: weekly, load.")
    release: Release | None = Field(None, description="The weekly part; null when the release has none.")
    features: Freshness | None = None
    items: int = 0
    horizon: int | None = Field(None, description="Weeks ahead of the weekly part.")
    scores: list[str] = Field(default_factory=list)
    load: LoadRelease | None = Field(None, description="The load part; null when the release has none.")
    regions: list[str] = Field(default_factory=list, description="Regions of the release's hierarchy (allocate level region).")
    region_items: list[str] = Field(default_factory=list, description="Items of the release's hierarchy (level item_region).")
    known_future: list[str] = Field(
        default_factory=list, description="The known-future covariates a forecast's `plan` may set (none: plans are refused).",
    )


# ------------------------------------------------------------------------------- load
MAX_POINTS = 10_000
SeriesId = Annotated[
    str, StringConstraints(min_length=1, max_length=200),
    Field(description="Series key as in the interval panel (the log's series column, or its series_name)."),
]
LoadHorizon = Annotated[int, Field(ge=1, le=2016, description="Intervals ahead (at most a week of them).")]


class LoadObserveRequest(_Request):
    series_id: SeriesId
    timestamps: list[datetime] = Field(
        min_length=1, max_length=MAX_POINTS,
        description="Interval starts (on the grain, increasing; naive = UTC).",
    )
    values: list[Quantity] = Field(
        min_length=1, max_length=MAX_POINTS, description="Load of each interval (requests or work units), >= 0."
    )

    @model_validator(mode="after")
    def _same_length(self) -> LoadObserveRequest:
        if len(self.timestamps) != len(self.values):
            raise ValueError(f"{len(self.values)} values for {len(self.timestamps)} timestamps")
        return self


class LoadObserveResponse(_Response):
    series_id: str
    accepted: int = Field(description="Points appended to the series' buffer.")
    late: list[str] = Field(description="Points at or before the buffer's last interval: reported, not applied.")
    filled: int = Field(description="Skipped intervals written as zero loads (the panel's rule).")
    last_interval: str = Field(description="Start of the buffer's last interval (UTC).")


class LoadForecastRequest(_Request):
    series_id: SeriesId
    horizon: LoadHorizon = 12
    quantiles: list[Level] = Field(default=[0.1, 0.5, 0.9], min_length=1, max_length=MAX_QUANTILES)


class LoadInterval(_Response):
    start: datetime
    point: float
    quantiles: dict[str, float] = Field(description="Level (e.g. q0.9) -> load.")


class LoadForecastResponse(_Response):
    series_id: str
    grain: str
    intervals: list[LoadInterval]


class LoadPlanRequest(_Request):
    series_id: SeriesId
    horizon: LoadHorizon = 12
    throughput_per_replica: float | None = Field(None, ge=MIN_COST, le=MAX_QUANTITY, description="Default: load.plan of the config.")
    quantile: Level | None = Field(None, description="Provision for this quantile of the load (default: the config's).")
    min_replicas: int | None = Field(None, ge=0, le=100_000)
    max_replicas: int | None = Field(None, ge=1, le=100_000)
    lead_intervals: int | None = Field(None, ge=0, le=2016)
    cooldown_intervals: int | None = Field(None, ge=0, le=2016)
    current_replicas: int | None = Field(None, ge=0, le=100_000, description="Replicas running now (the cooldown starts from them).")


class PlannedInterval(_Response):
    start: datetime
    replicas: int
    capacity: float
    load_at_quantile: float
    p_over_capacity: float
    actionable: bool = Field(description="False for the first lead intervals: their capacity was decided before now.")


class LoadPlanResponse(_Response):
    series_id: str
    grain: str
    quantile: float
    throughput_per_replica: float
    expected_intervals_over_capacity: float
    replica_hours: float
    scaling_actions: int
    intervals: list[PlannedInterval]


__all__ = [
    "MAX_ITEMS",
    "MAX_QUANTITY",
    "MIN_COST",
    "AllocateRequest",
    "AllocateResponse",
    "AllocationItem",
    "ForecastRequest",
    "ForecastResponse",
    "Freshness",
    "Health",
    "HotSellersRequest",
    "HotSellersResponse",
    "LoadForecastRequest",
    "LoadForecastResponse",
    "LoadObserveRequest",
    "LoadObserveResponse",
    "LoadPlanRequest",
    "LoadPlanResponse",
    "LoadRelease",
    "Release",
]
