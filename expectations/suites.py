"""The gate's expectation suites, one function per suite.

Each function builds its suite from the config and applies it with
`context.suites.add_or_update`, so the suites stored under `data_dir/gx` always match this
file (the generated JSON is never edited by hand). Each suite validates one frame of
`expectations.frames`; cross-row checks (duplicate keys, weekly label prevalence, row-count
drift) validate the aggregate frame computed there, so every check is a Great Expectations
expectation and shows in the data docs.

Division of labour with dbt: dbt's data tests guard keys and relational invariants inside
the warehouse while it builds; these suites check distributions and edges (null rates,
parseable shares, value ranges, prevalence, drift) on the artefacts about to be published:
the candidate Parquet files, which is what Feast and the trainers read.

The bounds that are not in `GateConfig` are the module constants below.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.core.expectation_suite import ExpectationSuite
from great_expectations.expectations.row_conditions import Column

from darkhorse.core.config import (
    AmazonReviewsSource,
    CatalogSource,
    Config,
    OrderLinesSource,
    RequestLogSource,
    SalesSource,
)
from darkhorse.core.marts import (
    ITEM_WEEKS_COLUMNS,
    LABEL_COLUMNS,
    SERIES_INTERVALS_COLUMNS,
)
from expectations.frames import gated_marts

# One policy for bad values: dbt quarantines every bad row with its reason; a source may lose
# at most `gate.max_quarantined_share` of its rows so. The raw checks below (keys filled,
# values parse, lie in their window and range, lines are JSON objects) hold on that same
# share, `_mostly(config)`, so that a kind of fault is refused or published the same way
# whichever check sees it first; they name the column, the staging check names the reasons.
# share of a mapped optional column's values that must be present (it is not empty)
RAW_OPTIONAL_PRESENT = 0.01
# largest plausible absolute quantity of one invoice line / of one sales row (the same bounds
# as the dbt models' `tabular_row_reasons(max_abs_quantity=...)`)
MAX_LINE_QUANTITY = 1_000_000
MAX_ROW_QUANTITY = 1_000_000_000


def _mostly(config: Config) -> float:
    """The share of raw rows a row-level check must hold on: 1 - gate.max_quarantined_share."""
    return round(1.0 - config.gate.max_quarantined_share, 9)

def _apply(context: Any, name: str, expectations: list, **meta: Any) -> ExpectationSuite:
    suite = gx.ExpectationSuite(name=name, expectations=expectations, meta=meta or None)
    return context.suites.add_or_update(suite)


def _window(config: Config) -> tuple[datetime, datetime]:
    """[valid_from, valid_until) as UTC instants (every timestamp frame column is UTC-aware)."""
    p = config.panel
    return (
        datetime(p.valid_from.year, p.valid_from.month, p.valid_from.day, tzinfo=UTC),
        datetime(p.valid_until.year, p.valid_until.month, p.valid_until.day, tzinfo=UTC),
    )


def _not_negative(*columns: str, mostly: float = 1.0) -> list:
    return [
        gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0, mostly=mostly) for c in columns
    ]


def _not_null(*columns: str, mostly: float = 1.0) -> list:
    return [gxe.ExpectColumnValuesToNotBeNull(column=c, mostly=mostly) for c in columns]


# --------------------------------------------------------------------------- raw sources
def _raw_common(config: Config, source: Any, keys: list[str], optional: list[str]) -> list:
    """Mapped columns present, keys mostly filled, optional mapped columns not empty."""
    roles = source.mapped_columns()
    key_cols = [roles[r] for r in roles if r.split("[")[0] in keys]
    optional_cols = [roles[r] for r in roles if r.split("[")[0] in optional]
    expectations: list = []
    if not isinstance(source, AmazonReviewsSource):
        expectations.append(
            gxe.ExpectTableColumnsToMatchSet(
                column_set=sorted(set(roles.values())), exact_match=False
            )
        )
    expectations += _not_null(*dict.fromkeys(key_cols), mostly=_mostly(config))
    expectations += [
        gxe.ExpectColumnProportionOfNonNullValuesToBeBetween(
            column=c, min_value=RAW_OPTIONAL_PRESENT
        )
        for c in dict.fromkeys(optional_cols)
        if c not in key_cols
    ]
    return expectations


def _raw_time(config: Config, role: str) -> list:
    """Non-empty timestamps mostly parse, parsed ones mostly lie in the valid window."""
    start, end = _window(config)
    return [
        gxe.ExpectColumnValuesToBeInSet(
            column=f"{role}__parses",
            value_set=[True],
            mostly=_mostly(config),
            description=f"Non-empty `{role}` values parse as configured (null where empty).",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column=f"{role}__utc",
            min_value=start,
            max_value=end,
            strict_max=True,
            mostly=_mostly(config),
            meta={
                "rule": f"{role}__utc in [{start:%Y-%m-%d}, {end:%Y-%m-%d}) (panel.valid_from, panel.valid_until: "
                f"widen them for older or later data; at least {_mostly(config):.1%} of rows)"
            },
        ),
    ]


def _raw_number(
    config: Config, role: str, low: float | None, high: float | None, *, must_parse: bool
) -> list:
    expectations: list = []
    if must_parse:
        expectations.append(
            gxe.ExpectColumnValuesToBeInSet(
                column=f"{role}__parses",
                value_set=[True],
                mostly=_mostly(config),
                description=f"Non-empty `{role}` values parse as numbers (null where empty).",
            )
        )
    expectations.append(
        gxe.ExpectColumnValuesToBeBetween(
            column=f"{role}__number", min_value=low, max_value=high, mostly=_mostly(config)
        )
    )
    return expectations


def raw_order_lines_suite(
    context: Any, config: Config, source: OrderLinesSource
) -> ExpectationSuite:
    """Invoice lines: columns, filled keys, parseable times in the window, sane quantities/prices."""
    expectations = _raw_common(
        config,
        source,
        keys=["invoice", "item_id", "quantity", "timestamp"],
        optional=["description", "unit_price", "customer_id", "region"],
    )
    expectations += _raw_time(config, "timestamp")
    expectations += _raw_number(config, "quantity", -MAX_LINE_QUANTITY, MAX_LINE_QUANTITY, must_parse=True)
    if source.columns.unit_price:
        expectations += _raw_number(config, "unit_price", 0, None, must_parse=False)
    return _apply(context, "raw_order_lines", expectations, source=source.name)


def raw_amazon_reviews_suite(
    context: Any, config: Config, source: AmazonReviewsSource
) -> ExpectationSuite:
    """Review records: JSON objects, item and time keys, epoch times in the window, ratings 1-5."""
    expectations = [
        gxe.ExpectColumnValuesToBeInSet(
            column="is_json_object", value_set=[True], mostly=_mostly(config)
        ),
        *_raw_common(
            config,
            source,
            keys=["item_id", "timestamp"],
            optional=["variant_id", "rating", "title", "user_id", "helpful_votes", "verified"],
        ),
    ]
    expectations += _raw_time(config, "timestamp")
    if source.columns.rating:
        expectations.append(
            gxe.ExpectColumnValuesToBeBetween(
                column="rating__number", min_value=1, max_value=5, mostly=_mostly(config)
            )
        )
    if source.columns.helpful_votes:
        expectations.append(
            gxe.ExpectColumnValuesToBeBetween(
                column="helpful_votes__number", min_value=0, mostly=_mostly(config)
            )
        )
    return _apply(context, "raw_amazon_reviews", expectations, source=source.name)


def raw_sales_suite(context: Any, config: Config, source: SalesSource) -> ExpectationSuite:
    """Sales rows: columns, filled item/date/quantity, parseable dates, non-negative quantities."""
    expectations = _raw_common(
        config,
        source, keys=["item_id", "date", "quantity"], optional=["price", "region"]
    )
    expectations += _raw_time(config, "date")
    expectations += _raw_number(config, "quantity", 0, MAX_ROW_QUANTITY, must_parse=True)
    if source.columns.price:
        expectations += _raw_number(config, "price", 0, None, must_parse=False)
    return _apply(context, "raw_sales", expectations, source=source.name)


def raw_request_log_suite(
    context: Any, config: Config, source: RequestLogSource
) -> ExpectationSuite:
    """Request log: columns, parseable timestamps in the window, non-negative counts."""
    keys = ["timestamp", "count", "series_id"]
    expectations = _raw_common(config, source, keys=keys, optional=[])
    expectations += _raw_time(config, "timestamp")
    if source.columns.count:
        expectations += _raw_number(config, "count", 0, None, must_parse=True)
    return _apply(context, "raw_request_log", expectations, source=source.name)


def raw_catalog_suite(context: Any, config: Config, source: CatalogSource) -> ExpectationSuite:
    """Catalogue records: JSON objects (JSON Lines), the item key mostly filled, mapped optional
    columns not empty."""
    expectations = []
    if source.resolved_format() == "jsonl":
        expectations.append(
            gxe.ExpectColumnValuesToBeInSet(column="is_json_object", value_set=[True], mostly=_mostly(config))
        )
    expectations += _raw_common(config, source, keys=["item_id"], optional=["title", "category", "brand", "text"])
    return _apply(context, "raw_catalog", expectations, source=source.name)


RAW_SUITES = {
    "order_lines": raw_order_lines_suite,
    "amazon_reviews": raw_amazon_reviews_suite,
    "sales": raw_sales_suite,
    "request_log": raw_request_log_suite,
    "catalog": raw_catalog_suite,
}


# --------------------------------------------------------------------------- staging events
def staging_events_suite(context: Any, config: Config) -> ExpectationSuite:
    """A sample of kept events: filled, non-negative amounts, times in the window (event types,
    item ids, event times and quantities of kept rows are dbt tests of int_events_classified)."""
    start, end = _window(config)
    expectations = [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        *_not_null("source_name", "week_start", "quantity"),
        *_not_negative("revenue", "helpful_votes"),
        gxe.ExpectColumnValuesToBeBetween(
            column="event_at", min_value=start, max_value=end, strict_max=True
        ),
        gxe.ExpectColumnValuesToBeBetween(column="rating", min_value=1, max_value=5),
    ]
    return _apply(context, "staging_events", expectations)


def staging_events_by_source_suite(context: Any, config: Config) -> ExpectationSuite:
    """Whole-table counts per source: something kept, at most `gate.max_quarantined_share` set
    aside for a bad value, no kept row outside the valid window."""
    limit = config.gate.max_quarantined_share
    expectations = [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        gxe.ExpectColumnValuesToBeBetween(column="rows_kept", min_value=1),
        gxe.ExpectColumnValuesToBeBetween(
            column="quarantined_share",
            min_value=0,
            max_value=limit,
            meta={"rule": f"rows quarantined for a bad value at most {limit:.0%} of a source (gate.max_quarantined_share)"},
        ),
        gxe.ExpectColumnValuesToBeBetween(column="kept_outside_valid_window", min_value=0, max_value=0),
    ]
    return _apply(context, "staging_events_by_source", expectations)


# --------------------------------------------------------------------------- item_weeks
def item_weeks_suite(context: Any, config: Config) -> ExpectationSuite:
    """The weekly panel as published: its columns, filled units, ranges dbt does not test.

    dbt's tests of fct_item_weeks own the key (one row per item and week), the not-null keys,
    the point-in-time stamp and the signs and bounds of units, revenue, customers, rolling
    sums, verified ratio and rating."""
    expectations = [
        gxe.ExpectTableColumnsToMatchSet(column_set=list(ITEM_WEEKS_COLUMNS), exact_match=False),
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        *_not_null("units"),
        *_not_negative("n_events", "helpful_votes"),
        gxe.ExpectColumnValuesToBeBetween(column="week_of_year", min_value=1, max_value=53),
    ]
    return _apply(context, "item_weeks", expectations)


# --------------------------------------------------------------------------- series_intervals
def series_intervals_suite(context: Any, config: Config) -> ExpectationSuite:
    """The interval load panel of a request_log source: its columns and filled loads.

    dbt's tests of fct_series_intervals own the key (one row per series and interval), the
    not-null keys, the point-in-time stamp, the signs of loads and windows and the calendar."""
    expectations = [
        gxe.ExpectTableColumnsToMatchSet(column_set=list(SERIES_INTERVALS_COLUMNS), exact_match=False),
        *_not_null("requests", "work_units", "requests_lookback_sum"),
        *_not_negative("log_rows", "intervals_since_first"),
    ]
    return _apply(context, "series_intervals", expectations)


# --------------------------------------------------------------------------- labels
def item_week_labels_suite(context: Any, config: Config) -> ExpectationSuite:
    """The label mart as published: its columns, filled flags, stamps consistent.

    dbt's tests of fct_item_week_labels own the key, the not-null keys, the signs of growth
    and future units and "a hot seller is eligible"."""
    expectations = [
        gxe.ExpectTableColumnsToMatchSet(column_set=list(LABEL_COLUMNS), exact_match=False),
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        *_not_null("is_eligible", "is_label_known"),
        *_not_negative("units_lookback_sum", "n_candidates"),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="available_at",
            column_B="week_close",
            description="`available_at` is the origin week's close: week_start + 7 days, UTC.",
        ),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="label_available_at",
            column_B="horizon_close",
            description=(
                "`label_available_at` is the close of the horizon's last week: "
                f"week_start + 7 x ({config.panel.horizon_weeks} + 1) days, UTC."
            ),
        ),
    ]
    return _apply(context, "item_week_labels", expectations)


def label_weeks_suite(context: Any, config: Config) -> ExpectationSuite:
    """One row per origin week: exactly the rule's hot-seller count, no label past the data."""
    share = round(1.0 - config.panel.hot_seller_quantile, 9)
    horizon = config.panel.horizon_weeks
    expectations = [
        gxe.ExpectColumnValuesToBeBetween(
            column="hot_sellers_missing",
            min_value=0,
            max_value=0,
            description=(
                f"Per week, hot sellers are at least {share:g} (1 - hot_seller_quantile) of the "
                "eligible items with a known label, rounded up to whole items, unless fewer "
                "items grow at all (an item whose future is flat or falling to 0 is never hot)."
            ),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="share_above_target",
            max_value=0,
            description=(
                f"Per week, the hot-seller share is at most {share:g} (1 - hot_seller_quantile) "
                "rounded up to whole items, ceil((1 - q) x n) / n: the label breaks ties, so "
                "with the check above the week holds exactly that many hot sellers."
            ),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="known_labels_past_data_end",
            min_value=0,
            max_value=0,
            description=(
                f"No label is known in a week whose {horizon}-week horizon runs past the "
                "data's last complete week."
            ),
        ),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="n_candidates_reported",
            column_B="n_candidates",
            description="The mart's n_candidates equals the eligible items with a known label.",
        ),
    ]
    return _apply(context, "item_week_labels_weekly", expectations)


# --------------------------------------------------------------------------- drift
def mart_row_counts_suite(context: Any, config: Config) -> ExpectationSuite:
    """One row per gated mart (the weekly panel's with an item source, the interval panel
    with a request log): rows against the last publish change by at most max_row_count_change."""
    limit = config.gate.max_row_count_change
    expectations = [
        gxe.ExpectColumnValuesToBeBetween(
            column="row_count_change",
            min_value=-limit,
            max_value=limit,
            row_condition=Column("mart") == mart,
            meta={"table": mart},
            description=(
                f"Rows of {mart} change by at most {limit:.0%} against the last published run "
                "(no check on the first publish)."
            ),
        )
        for mart in gated_marts(config)
    ]
    return _apply(context, "mart_row_counts", expectations)


def source_rows_suite(context: Any, config: Config) -> ExpectationSuite:
    """One row per source: its kept rows fall by at most `gate.max_source_row_drop` against
    the last publish (a file cut short, a glob that lost files); growth is never refused."""
    limit = config.gate.max_source_row_drop
    expectations = [
        gxe.ExpectColumnValuesToBeBetween(
            column="kept_change",
            min_value=-limit,
            meta={"rule": f"kept rows per source fall by at most {limit:.0%} against the last publish (gate.max_source_row_drop)"},
            description="No check for a source the last publish did not record, or on the first publish.",
        )
    ]
    return _apply(context, "source_rows", expectations)


def vanished_items_suite(context: Any, config: Config) -> ExpectationSuite:
    """One row per item of the last published panel: it is still in the panel, but for at
    most `gate.max_vanished_items` of them."""
    return _still_published(context, "vanished_items", config.gate.max_vanished_items,
                            "items of the last publish still in the panel", "gate.max_vanished_items")


def week_coverage_suite(context: Any, config: Config) -> ExpectationSuite:
    """One row: the panel starts no later and ends no earlier than the last publish's, but for
    `gate.max_weeks_lost` weeks at either end."""
    limit = config.gate.max_weeks_lost
    return _apply(
        context,
        "week_coverage",
        [
            gxe.ExpectColumnValuesToBeBetween(
                column=column,
                min_value=0,
                max_value=limit,
                meta={"rule": f"weeks covered: {what} at most {limit} week(s) against the last publish (gate.max_weeks_lost)"},
            )
            for column, what in (
                ("weeks_lost_at_start", "the panel starts later by"),
                ("weeks_lost_at_end", "the panel ends earlier by"),
            )
        ],
    )


def vanished_series_suite(context: Any, config: Config) -> ExpectationSuite:
    """One row per load series of the last published interval panel: it is still in the
    panel, but for at most `gate.max_vanished_series` of them."""
    return _still_published(context, "vanished_series", config.gate.max_vanished_series,
                            "load series of the last publish still in the interval panel", "gate.max_vanished_series")


def _still_published(context: Any, name: str, limit: float, what: str, knob: str) -> ExpectationSuite:
    """One row per key of the last publish with `in_candidate`: at most a share `limit` (the
    config's `knob`) may be missing from the candidate."""
    expectations = [
        gxe.ExpectColumnValuesToBeInSet(
            column="in_candidate",
            value_set=[True],
            mostly=round(1.0 - limit, 9),
            meta={"rule": f"{what} (at most {limit:.0%} may vanish: {knob}); vanished"},
        )
    ]
    return _apply(context, name, expectations)


def interval_coverage_suite(context: Any, config: Config) -> ExpectationSuite:
    """One row per load series: it starts no later and ends no earlier than at the last
    publish, but for `gate.max_intervals_lost` intervals at either end (a cut trace)."""
    limit = config.gate.max_intervals_lost
    grain = config.load.grain
    return _apply(
        context,
        "interval_coverage",
        [
            gxe.ExpectColumnValuesToBeBetween(
                column=column,
                min_value=0,
                max_value=limit,
                meta={"rule": f"intervals covered: {what} at most {limit} {grain} interval(s) against the last publish (gate.max_intervals_lost)"},
            )
            for column, what in (
                ("intervals_lost_at_start", "the series starts later by"),
                ("intervals_lost_at_end", "the series ends earlier by"),
            )
        ],
    )
