"""Product graph and item text: the entity, sources, views and services of the graph marts.

Self-contained so that the feature can be read in one place (dbt_project/models/marts/
_graph__models.yml holds the marts' grain). Every row is stamped with when it became known:

* `item_graph` (entity item): the item's graph features of its last closed week (degree,
  kept neighbours, shared customers, mean Jaccard, neighbours' growth, share of hot
  neighbours at the last known label), stamped `available_at`, the week's close; online.
* `item_edge` (entities item and `neighbour`, join key `neighbour_id`): an edge's weights
  (shared customers, Jaccard) as of the last week they changed, stamped `available_at`; a
  pair asked before the edge formed gets nulls. No expiry: a row holds until the pair's next
  row. Offline only (the graph has up to `graph.max_neighbours` edges per item and week kept
  downstream, but every pair is a row here).
* `item_text` (entity item): the text written about the item in its last week with text,
  stamped `available_at`; no expiry, offline only.

Declared only where the published marts carry the three files: a snapshot published before the
graph marts existed has none of them, and Feast would fail to read a view over a missing file
(the next `darkhorse build` publishes all three, empty for sources without customers or text).
"""

from datetime import timedelta

from data_sources import MARTS_DIR
from entities import item
from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.data_format import ParquetFormat
from feast.types import Float64, Int32, String
from feature_views import TTL_WEEKS

ITEM_EDGES = MARTS_DIR / "item_edges.parquet"
ITEM_GRAPH_FEATURES = MARTS_DIR / "item_graph_features.parquet"
ITEM_WEEK_TEXTS = MARTS_DIR / "item_week_texts.parquet"
DECLARED = ITEM_EDGES.is_file() and ITEM_GRAPH_FEATURES.is_file() and ITEM_WEEK_TEXTS.is_file()

if DECLARED:
    neighbour = Entity(
        name="neighbour",
        join_keys=["neighbour_id"],
        value_type=ValueType.STRING,
        description="The other end of a product-graph edge: an item key.",
    )

    item_edges_source = FileSource(
        name="item_edges",
        path=str(ITEM_EDGES),
        file_format=ParquetFormat(),
        timestamp_field="available_at",
        description="Product graph, one row per directed edge per week its weights changed; "
        "stamped with the week's close.",
    )

    item_graph_features_source = FileSource(
        name="item_graph_features",
        path=str(ITEM_GRAPH_FEATURES),
        file_format=ParquetFormat(),
        timestamp_field="available_at",
        description="Graph features, one row per item per week with a known edge; stamped with the week's close.",
    )

    item_week_texts_source = FileSource(
        name="item_week_texts",
        path=str(ITEM_WEEK_TEXTS),
        file_format=ParquetFormat(),
        timestamp_field="available_at",
        description="Item text, one row per item per week with text; stamped with the week's close.",
    )

    item_graph = FeatureView(
        name="item_graph",
        entities=[item],
        ttl=timedelta(weeks=TTL_WEEKS),
        schema=[
            Field(name="item_id", dtype=String),
            Field(name="degree", dtype=Int32, description="Edges known at the week's close (before the cap)."),
            Field(name="neighbours", dtype=Int32, description="Neighbours kept (graph.max_neighbours, heaviest)."),
            Field(name="shared_customers", dtype=Int32, description="Customers shared with the kept neighbours."),
            Field(name="mean_jaccard", dtype=Float64, description="Mean Jaccard weight of the kept neighbours."),
            Field(name="neighbour_growth", dtype=Float64,
                  description="Kept neighbours' momentum, weighted by shared customers."),
            Field(name="max_neighbour_growth", dtype=Float64, description="The highest momentum among kept neighbours."),
            Field(name="surging_neighbours", dtype=Int32, description="Kept neighbours with momentum at least 2."),
            Field(name="surging_neighbour_share", dtype=Float64,
                  description="Share of the kept neighbours' shared customers held by the surging ones."),
            Field(name="hot_neighbour_share", dtype=Float64,
                  description="Share of kept neighbours hot at the last label known then (null: none labelled)."),
            Field(name="neighbours_labelled", dtype=Int32, description="Kept neighbours with a known label."),
        ],
        source=item_graph_features_source,
        online=True,
        description="The item's place in the product graph as of its last closed week.",
        tags={"grain": "item-week", "stamp": "week close"},
    )

    item_edge = FeatureView(
        name="item_edge",
        entities=[item, neighbour],
        ttl=timedelta(0),  # no expiry: an edge's row holds until its weights change
        schema=[
            Field(name="item_id", dtype=String),
            Field(name="neighbour_id", dtype=String),
            Field(name="shared_customers", dtype=Int32, description="Customers who bought (reviewed) both, to date."),
            Field(name="jaccard", dtype=Float64, description="shared / (item's + neighbour's customers - shared)."),
        ],
        source=item_edges_source,
        online=False,
        description="An edge's weights as of the last week they changed; nulls before the edge formed.",
        tags={"grain": "edge-week", "stamp": "week close"},
    )

    item_text = FeatureView(
        name="item_text",
        entities=[item],
        ttl=timedelta(0),  # no expiry: the last text written stays the last one known
        schema=[
            Field(name="item_id", dtype=String),
            Field(name="n_texts", dtype=Int32, description="Lines or reviews whose text the week holds."),
            Field(name="text", dtype=String, description="The week's text (graph.text_max_chars at most)."),
        ],
        source=item_week_texts_source,
        online=False,
        description="The text of the item's last week with text, as known at the origin.",
        tags={"grain": "item-week", "stamp": "week close"},
    )

    graph_training_v1 = FeatureService(
        name="graph_training_v1",
        features=[item_graph, item_text],
        description="Point-in-time graph features and text (entity = item, timestamp = the origin).",
        tags={"consumer": "graph-training"},
    )

    edges_training_v1 = FeatureService(
        name="edges_training_v1",
        features=[item_edge],
        description="Point-in-time edge weights (entities = item and neighbour, timestamp = the origin).",
        tags={"consumer": "graph-training"},
    )

    graph_serving_v1 = FeatureService(
        name="graph_serving_v1",
        features=[item_graph],
        description="Online graph features: the latest closed week of each item.",
        tags={"consumer": "serving"},
    )
