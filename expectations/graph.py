"""The gate's suites of the product-graph marts (`item_edges`, `item_graph_features`,
dbt_project/models/marts/_graph__models.yml).

dbt's tests own the keys (unique, not null) and the row-wise invariants of each mart (Jaccard in
(0, 1], shared customers at most either item's customers, neighbours at most the degree, the
hot share in [0, 1]). The suites here hold what needs the config or another mart:

* `item_edges`, aggregated per item in DuckDB (one row per item with edges): every edge became
  known after both items' first events (`first_known_at` after each item's `first_event_at` in
  `items`; an item outside the panel has no row there and is not checked), its shared
  customers reached `graph.min_shared_customers` on every row, and the reverse edge exists with
  the same first stamp (a co-purchase links both ways at once);
* `item_graph_features`: the neighbour cap `graph.max_neighbours` held, every kept neighbour
  shares at least `graph.min_shared_customers` customers, the mean Jaccard in (0, 1] and the
  neighbours' growth finite and not negative.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd

from darkhorse.core.config import Config
from darkhorse.core.marts import mart_path
from darkhorse.core.sql import sql_str

EDGES = "item_edges"
FEATURES = "item_graph_features"
# beyond this, a growth ratio is an overflow, not a surge
MAX_GROWTH = 1e9


def edges_frame(con: duckdb.DuckDBPyConnection, candidate_marts: Path) -> pd.DataFrame:
    """One row per item with edges (the pairs are aggregated in DuckDB: a few thousand rows
    for GX, not one per edge): its first edge's stamp and its own first event, the smallest
    margin between an edge's first stamp and the neighbour's first event, the smallest shared
    count of any edge row, and its edges whose reverse is missing or stamped differently."""
    edges = sql_str(str(mart_path(candidate_marts, EDGES)))
    items = sql_str(str(mart_path(candidate_marts, "items")))
    return con.sql(
        f"""
        with pairs as (
            select item_id, neighbour_id, min(first_known_at) as first_known_at,
                min(shared_customers) as min_shared_customers,
            from read_parquet({edges})
            group by item_id, neighbour_id
        ),
        firsts as (select item_id, first_event_at from read_parquet({items})),
        joined as (
            select pairs.*,
                mine.first_event_at as item_first_event_at,
                epoch(pairs.first_known_at) - epoch(theirs.first_event_at) as seconds_after_neighbour_first_event,
                reverse.first_known_at as reverse_first_known_at,
            from pairs
            left join firsts as mine on mine.item_id = pairs.item_id
            left join firsts as theirs on theirs.item_id = pairs.neighbour_id
            left join pairs as reverse
                on reverse.item_id = pairs.neighbour_id and reverse.neighbour_id = pairs.item_id
        )
        select item_id,
            count(*) as edges,
            min(first_known_at) as first_edge_known_at,
            any_value(item_first_event_at) as item_first_event_at,
            min(seconds_after_neighbour_first_event) as min_seconds_after_neighbour_first_event,
            min(min_shared_customers) as min_shared_customers,
            count(*) filter (where reverse_first_known_at is null) as edges_without_reverse,
            count(*) filter (where reverse_first_known_at <> first_known_at) as edges_reverse_stamped_apart,
        from joined
        group by item_id
        """
    ).df()


def features_frame(con: duckdb.DuckDBPyConnection, candidate_marts: Path, config: Config) -> pd.DataFrame:
    """The mart's rows with the fewest customers its kept neighbours can share (each at least
    `graph.min_shared_customers`)."""
    features = sql_str(str(mart_path(candidate_marts, FEATURES)))
    return con.sql(
        f"""
        select item_id, week_start, degree, neighbours, shared_customers, mean_jaccard, neighbour_growth,
            max_neighbour_growth,
            neighbours * {int(config.graph.min_shared_customers)} as min_shared_total,
        from read_parquet({features})
        """
    ).df()


def edges_suite(context: Any, config: Config) -> Any:
    expectations = [
        # an item's first edge is known after its own first event, every edge after the neighbour's
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="first_edge_known_at", column_B="item_first_event_at", or_equal=False,
            ignore_row_if="either_value_is_missing",
        ),
        gxe.ExpectColumnValuesToBeBetween(column="min_seconds_after_neighbour_first_event", min_value=0,
                                          strict_min=True),
        gxe.ExpectColumnValuesToBeBetween(
            column="min_shared_customers", min_value=config.graph.min_shared_customers
        ),
        gxe.ExpectColumnValuesToBeBetween(column="edges_without_reverse", min_value=0, max_value=0),
        gxe.ExpectColumnValuesToBeBetween(column="edges_reverse_stamped_apart", min_value=0, max_value=0),
    ]
    return context.suites.add_or_update(gx.ExpectationSuite(name=EDGES, expectations=expectations))


def features_suite(context: Any, config: Config) -> Any:
    g = config.graph
    expectations = [
        gxe.ExpectColumnValuesToBeBetween(column="neighbours", min_value=1, max_value=g.max_neighbours),
        gxe.ExpectColumnValuesToBeBetween(column="degree", min_value=1),
        gxe.ExpectColumnValuesToBeBetween(column="mean_jaccard", min_value=0, max_value=1, strict_min=True),
        *(gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0, max_value=MAX_GROWTH)
          for c in ("neighbour_growth", "max_neighbour_growth")),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="shared_customers", column_B="min_shared_total", or_equal=True
        ),
    ]
    return context.suites.add_or_update(gx.ExpectationSuite(name=FEATURES, expectations=expectations))


def datasets(con: duckdb.DuckDBPyConnection, candidate_marts: Path, config: Config) -> list[tuple[str, Callable[[], pd.DataFrame], Callable[[Any], Any], tuple[str, ...]]]:
    """(name, frame loader, suite, index columns) of each graph mart the candidate holds (a
    candidate built before the graph marts existed has none)."""
    out = []
    if mart_path(candidate_marts, EDGES).is_file():
        out.append((EDGES, partial(edges_frame, con, candidate_marts), partial(edges_suite, config=config),
                    ("item_id",)))
    if mart_path(candidate_marts, FEATURES).is_file():
        out.append((FEATURES, partial(features_frame, con, candidate_marts, config), partial(features_suite, config=config),
                    ("item_id", "week_start")))
    return out

