"""Feature views: weekly item activity (point in time) and static item attributes.

Weekly rows are stamped with the week's close (`available_at`), so a point-in-time join at a
cutoff only sees weeks that had closed by then: a cutoff in the middle of a week sees the week
before. Labels (item_week_labels) are targets and are never declared here.
"""

import os
from datetime import timedelta
from pathlib import Path

import yaml
from data_sources import (
    item_week_covariates_source,
    item_weeks_source,
    items_source,
    series_intervals_source,
)
from entities import item, series
from feast import FeatureView, Field
from feast.types import Float64, Int32, Int64, String, UnixTimestamp

_DEFAULT_TTL_WEEKS = 8


def _ttl_weeks() -> int:
    """`DARKHORSE_FEATURE_TTL_WEEKS`, else `feast.ttl_weeks` of the project's darkhorse.yaml, else 8."""
    env = os.environ.get("DARKHORSE_FEATURE_TTL_WEEKS")
    if env:
        return int(env)
    project_config = Path(__file__).resolve().parents[1] / "darkhorse.yaml"
    if project_config.is_file():
        doc = yaml.safe_load(project_config.read_text()) or {}
        weeks = (doc.get("feast") or {}).get("ttl_weeks")
        if weeks:
            return int(weeks)
    return _DEFAULT_TTL_WEEKS


TTL_WEEKS = _ttl_weeks()

item_weekly_activity = FeatureView(
    name="item_weekly_activity",
    entities=[item],
    ttl=timedelta(weeks=TTL_WEEKS),
    schema=[
        Field(name="units", dtype=Float64, description="Units sold (or reviews) in the week."),
        Field(name="returned_units", dtype=Float64, description="Units returned in the week."),
        Field(name="revenue", dtype=Float64, description="Gross revenue of the week."),
        Field(name="n_events", dtype=Int64, description="Sale or review events in the week."),
        Field(name="customers", dtype=Int64, description="Distinct customers in the week."),
        Field(name="helpful_votes", dtype=Float64, description="Helpful votes of the week's reviews."),
        Field(name="verified_ratio", dtype=Float64, description="Share of verified reviews."),
        Field(name="mean_rating", dtype=Float64, description="Mean star rating of the week."),
        Field(name="units_lookback_sum", dtype=Float64, description="Units over the lookback window."),
        Field(name="units_12w_sum", dtype=Float64, description="Units over the last 12 weeks."),
        Field(name="revenue_lookback_sum", dtype=Float64, description="Revenue over the lookback window."),
        Field(name="customers_lookback_sum", dtype=Float64, description="Weekly customers summed over the lookback window."),
        Field(name="weeks_since_first_event", dtype=Int32, description="Age of the item in weeks."),
        Field(name="week_of_year", dtype=Int32, description="ISO week of the last closed week."),
    ],
    source=item_weeks_source,
    online=True,
    description=(
        "The item's last closed week: activity and rolling past windows. An older row than "
        "the ttl is not joined offline; online reads must check the returned timestamp."
    ),
    tags={"grain": "item-week", "stamp": "week close"},
)

item_static = FeatureView(
    name="item_static",
    entities=[item],
    # no expiry: these attributes do not change once the item's first week has closed
    ttl=timedelta(0),
    schema=[
        Field(name="source_kind", dtype=String, description="Kind of raw source of the item."),
        Field(name="description", dtype=String, description="Item description (text): its rows', else the catalogue's title."),
        Field(name="category", dtype=String, description="The item's category (the catalogue's, else its rows')."),
        Field(name="brand", dtype=String, description="The catalogue's brand or store of the item."),
        Field(name="first_week", dtype=UnixTimestamp, description="The item's first week (start)."),
    ],
    source=items_source,
    online=True,
    description="Time-invariant item attributes, known from the close of the item's first week.",
    tags={"grain": "item", "stamp": "first week close"},
)

series_interval_activity = FeatureView(
    name="series_interval_activity",
    entities=[series],
    ttl=timedelta(weeks=TTL_WEEKS),
    schema=[
        Field(name="requests", dtype=Float64, description="Requests in the interval."),
        Field(name="work_units", dtype=Float64, description="Work units (e.g. tokens) in the interval."),
        Field(name="requests_lookback_sum", dtype=Float64, description="Requests over the lookback window."),
        Field(name="requests_day_sum", dtype=Float64, description="Requests over the last day."),
        Field(name="work_units_lookback_sum", dtype=Float64, description="Work units over the lookback window."),
        Field(name="requests_day_ago", dtype=Float64, description="Requests of the same interval a day before."),
        Field(name="requests_week_ago", dtype=Float64, description="Requests of the same interval a week before."),
        Field(name="minute_of_day", dtype=Int32, description="Minute of day (UTC) the interval starts."),
        Field(name="day_of_week", dtype=Int32, description="ISO day of week of the interval."),
        Field(name="intervals_since_first", dtype=Int32, description="Age of the series in intervals."),
    ],
    source=series_intervals_source,
    online=True,
    description=(
        "The series' last closed interval: load and rolling past windows. Offline joins at a "
        "timestamp see only intervals closed by then; online reads return the latest window."
    ),
    tags={"grain": "series-interval", "stamp": "interval close"},
)


def _known_future_names() -> list[str]:
    """`DARKHORSE_KNOWN_FUTURE`: the config's known-future covariates, comma-separated (the
    columns of item_week_covariates.parquet); empty = no covariates, no view."""
    return [n for n in os.environ.get("DARKHORSE_KNOWN_FUTURE", "").split(",") if n]


KNOWN_FUTURE = _known_future_names()

# Point in time by `known_at`: the row of week w is served from the close of the origin week a
# horizon before w on. Asked at the stamp `w - (horizon - 1) weeks`, the view returns week w's
# row (the latest one known then); `covariate_week` says which week a served row describes.
item_week_covariates = (
    FeatureView(
        name="item_week_covariates",
        entities=[item],
        # The stamp decides what is known; the ttl only bounds how far back the offline join
        # looks. Each week's row is asked for at its own stamp, so two weeks hold it, and the
        # join reads a couple of rows per item-week instead of every earlier week's
        # (docs/accuracy-decisions.md, "The item's age once, and the plan read without every
        # earlier week").
        ttl=timedelta(weeks=2),
        schema=[
            Field(name="covariate_week", dtype=UnixTimestamp, description="The week the values describe."),
            *(Field(name=n, dtype=Float64, description="Known-future covariate (config known_future).") for n in KNOWN_FUTURE),
        ],
        source=item_week_covariates_source,
        online=False,
        description="Known-future covariates of an item's week (price plans, promotions, holidays).",
        tags={"grain": "item-week", "stamp": "known_at"},
    )
    if KNOWN_FUTURE
    else None
)
