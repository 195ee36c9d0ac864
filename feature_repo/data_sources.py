"""Offline sources: the published Parquet marts, never the DuckDB warehouse.

The marts folder is `DARKHORSE_MARTS_DIR` (a relative value is taken from this folder), by
default `data/marts` of the project. Paths are made absolute here because Feast's DuckDB
offline store reads a relative FileSource path from the process's working directory, while
`feast apply` resolves it from the repo folder. Symlinks are deliberately not resolved: the
publish step swaps `data/marts` to a new snapshot folder, and the registry keeps pointing at
the link, so a new publish is read without another `feast apply`.
"""

import os
from pathlib import Path

from feast import FileSource
from feast.data_format import ParquetFormat

_REPO_DIR = Path(__file__).resolve().parent
_DEFAULT_MARTS_DIR = Path(__file__).resolve().parents[1] / "data" / "marts"

MARTS_DIR = Path(
    os.path.normpath(_REPO_DIR / os.environ.get("DARKHORSE_MARTS_DIR", str(_DEFAULT_MARTS_DIR)))
)

item_weeks_source = FileSource(
    name="item_weeks",
    path=str(MARTS_DIR / "item_weeks.parquet"),
    file_format=ParquetFormat(),
    timestamp_field="available_at",
    description=(
        "Weekly item panel, one row per item per week; stamped with the week's close "
        "(available_at = week_start + 7 days, UTC)."
    ),
)

items_source = FileSource(
    name="items",
    path=str(MARTS_DIR / "items.parquet"),
    file_format=ParquetFormat(),
    timestamp_field="first_available_at",
    description=(
        "One row per item; stamped with the close of the item's first week. Only its "
        "time-invariant columns are features (totals and last dates see the future)."
    ),
)

series_intervals_source = FileSource(
    name="series_intervals",
    path=str(MARTS_DIR / "series_intervals.parquet"),
    file_format=ParquetFormat(),
    timestamp_field="available_at",
    description=(
        "Interval load panel of the request logs, one row per series per interval; stamped "
        "with the interval's close (available_at = interval_start + grain, UTC). No rows "
        "without a request_log source."
    ),
)

item_week_covariates_source = FileSource(
    name="item_week_covariates",
    path=str(MARTS_DIR / "item_week_covariates.parquet"),
    file_format=ParquetFormat(),
    timestamp_field="known_at",
    description=(
        "Known-future covariates, one row per item per week (the panel's weeks and a horizon "
        "after them); stamped with when the week's values are known (known_at = week_start - "
        "(horizon - 1) weeks, UTC). Only published when the config declares known_future."
    ),
)
