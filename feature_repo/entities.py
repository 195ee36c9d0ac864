"""Entities of the DarkHorse feature store."""

from feast import Entity, ValueType

item = Entity(
    name="item",
    join_keys=["item_id"],
    value_type=ValueType.STRING,
    description="A product: parent_asin, stock code or the sales table's item key.",
)

series = Entity(
    name="series",
    join_keys=["series_id"],
    value_type=ValueType.STRING,
    description="A request-load series: a service, endpoint or region of a request log.",
)
