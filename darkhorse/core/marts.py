"""Names and columns of the published marts (see README, "What a build leaves behind")."""

from __future__ import annotations

from pathlib import Path

PANEL_MARTS = ("item_weeks", "item_week_labels", "items")

ITEM_WEEKS_COLUMNS = (
    "item_id",
    "week_start",
    "available_at",
    "units",
    "returned_units",
    "revenue",
    "n_events",
    "customers",
    "helpful_votes",
    "verified_ratio",
    "mean_rating",
    "units_lookback_sum",
    "units_12w_sum",
    "revenue_lookback_sum",
    "customers_lookback_sum",
    "weeks_since_first_event",
    "week_of_year",
)


# the interval load panel of request_log sources (always exported; no rows without one)
LOAD_MARTS = ("series_intervals",)

SERIES_INTERVALS_COLUMNS = (
    "series_id",
    "interval_start",
    "available_at",
    "requests",
    "work_units",
    "log_rows",
    "requests_lookback_sum",
    "requests_day_sum",
    "work_units_lookback_sum",
    "requests_day_ago",
    "requests_week_ago",
    "minute_of_day",
    "day_of_week",
    "intervals_since_first",
)


def mart_path(folder: Path, mart: str) -> Path:
    return Path(folder) / f"{mart}.parquet"

LABEL_COLUMNS = (
    "item_id",
    "week_start",
    "available_at",
    "label_available_at",
    "units_lookback_sum",
    "units_future_sum",
    "growth_score",
    "is_eligible",
    "is_label_known",
    "n_candidates",
    "growth_rank",
    "is_hot_seller",
)
