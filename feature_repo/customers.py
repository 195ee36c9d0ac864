"""Customers and regions: entities, sources, views and services of the customer and region marts.

Self-contained so that the feature can be read in one place: `customer` (join key
`customer_id`) and `region` (join key `region`; an item x region row joins on both `item` and
`region`). Rows are stamped with the close of their week (`available_at`), so a point-in-time
join at an origin sees only weeks closed by then: RFM scores, segments and the item x region
activity as they were known, never later purchases. Purchase sequences and line prices are
line-level marts read by training, not entity features.

Declared only where the published marts carry `customer_weeks` and `item_region_weeks`: a
snapshot published before these marts existed has neither file, and Feast would fail to
materialize a view over a missing file (the next `darkhorse build` publishes both, empty
for sources without customer or region columns).
"""

from datetime import timedelta

from data_sources import MARTS_DIR
from entities import item
from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.data_format import ParquetFormat
from feast.types import Float64, Int32, Int64, String
from feature_views import TTL_WEEKS

CUSTOMER_WEEKS = MARTS_DIR / "customer_weeks.parquet"
ITEM_REGION_WEEKS = MARTS_DIR / "item_region_weeks.parquet"
DECLARED = CUSTOMER_WEEKS.is_file() and ITEM_REGION_WEEKS.is_file()

if DECLARED:
    customer = Entity(
        name="customer",
        join_keys=["customer_id"],
        value_type=ValueType.STRING,
        description="A buyer: CustomerID of order lines.",
    )

    region = Entity(
        name="region",
        join_keys=["region"],
        value_type=ValueType.STRING,
        description="A region: country, store or the sales table's region column.",
    )

    customer_weeks_source = FileSource(
        name="customer_weeks",
        path=str(CUSTOMER_WEEKS),
        file_format=ParquetFormat(),
        timestamp_field="available_at",
        description="Customer panel, one row per customer per week; stamped with the week's close.",
    )

    item_region_weeks_source = FileSource(
        name="item_region_weeks",
        path=str(ITEM_REGION_WEEKS),
        file_format=ParquetFormat(),
        timestamp_field="available_at",
        description="Item x region panel, one row per item per region per week; stamped with the week's close.",
    )

    customer_profile = FeatureView(
        name="customer_profile",
        entities=[customer],
        ttl=timedelta(weeks=TTL_WEEKS),
        schema=[
            Field(name="customer_id", dtype=String),
            Field(name="home_region", dtype=String, description="Region of the first purchase."),
            Field(name="orders", dtype=Int64, description="Orders in the week."),
            Field(name="recency_days", dtype=Float64, description="Days from the last purchase to the week's close."),
            Field(name="frequency", dtype=Int64, description="Orders to date."),
            Field(name="monetary", dtype=Float64, description="Revenue per order to date."),
            Field(name="lifetime_value", dtype=Float64, description="Revenue net of returns to date."),
            Field(name="product_diversity", dtype=Int64, description="Distinct items bought to date."),
            Field(name="product_diversity_ratio", dtype=Float64, description="Distinct items per line to date."),
            Field(name="tenure_weeks", dtype=Int32, description="Weeks since the first purchase week."),
            Field(name="orders_lookback_sum", dtype=Int64, description="Orders over the lookback window."),
            Field(name="revenue_lookback_sum", dtype=Float64, description="Revenue over the lookback window."),
            Field(name="recency_score", dtype=Int32, description="Recency quantile score (k = most recent)."),
            Field(name="frequency_score", dtype=Int32, description="Frequency quantile score."),
            Field(name="monetary_score", dtype=Int32, description="Monetary quantile score."),
            Field(name="segment", dtype=String, description="Rule-based segment (dbt fct_customer_weeks)."),
        ],
        source=customer_weeks_source,
        online=True,
        description="The customer's RFM, tenure, value, diversity and segment as of the last closed week.",
        tags={"grain": "customer-week", "stamp": "week close"},
    )

    item_region_activity = FeatureView(
        name="item_region_activity",
        entities=[item, region],
        ttl=timedelta(weeks=TTL_WEEKS),
        schema=[
            Field(name="item_id", dtype=String),
            Field(name="region", dtype=String),
            Field(name="units", dtype=Float64, description="Units sold in the region in the week."),
            Field(name="revenue", dtype=Float64, description="Revenue in the region in the week."),
            Field(name="customers", dtype=Int64, description="Distinct customers in the region in the week."),
            Field(name="new_customers", dtype=Int64, description="Of them, first-time buyers of the shop."),
            Field(name="new_customer_share", dtype=Float64, description="new_customers / customers."),
            Field(name="units_lookback_sum", dtype=Float64, description="Units over the lookback window."),
            Field(name="customers_lookback_sum", dtype=Float64, description="Weekly customers over the lookback window."),
        ],
        source=item_region_weeks_source,
        online=True,
        description="An item's last closed week in one region: units, revenue, customers, new-customer share.",
        tags={"grain": "item-region-week", "stamp": "week close"},
    )

    customers_training_v1 = FeatureService(
        name="customers_training_v1",
        features=[customer_profile],
        description="Point-in-time customer features (entity = customer, timestamp = the origin).",
        tags={"consumer": "customers-training"},
    )

    regions_training_v1 = FeatureService(
        name="regions_training_v1",
        features=[item_region_activity],
        description="Point-in-time item x region features (entities = item and region, timestamp = the origin).",
        tags={"consumer": "regions-training"},
    )
