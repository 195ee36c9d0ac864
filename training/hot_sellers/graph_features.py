"""The hot-seller classifier's product-graph features: per item and week, read from the
`item_graph_features` mart (dbt_project/models/marts/_graph__models.yml).

The mart's row of (item, week t) is built from the edges known at the close of week t, the
neighbours' weeks up to t and their labels known at t's close (the label of week t - horizon),
so joining it on the classifier's feature row of week t adds nothing from after t: the same
point in time as the row's own lags. Columns added (`GRAPH_COLUMNS`):

* `graph_degree`: edges known (before the neighbour cap); 0 for an item without one;
* `graph_neighbour_growth`: the kept neighbours' momentum, weighted by shared customers (0
  without neighbours);
* `graph_max_neighbour_growth`: the highest momentum among them (0 without neighbours);
* `graph_surging_neighbours`, `graph_surging_share`: kept neighbours surging now (momentum at
  least 2) and their share of the shared customers (0 without neighbours): a surge spreading
  along co-bought items shows here weeks before the item's own onset, while its own momentum and
  the neighbours' weighted mean barely move;
* `graph_hot_share`: share of kept neighbours that were hot sellers at the last known label;
  missing where none was labelled (XGBoost learns a direction for it).

On when `hot_sellers.classifier.graph_features` is set and the marts folder holds the mart with
rows; otherwise the feature rows are returned unchanged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from darkhorse.core.errors import DarkHorseError
from darkhorse.core.schema import DS, ID
from training.hot_sellers.mart_reader import read_mart

MART = "item_graph_features"
GRAPH_COLUMNS = ("graph_degree", "graph_neighbour_growth", "graph_max_neighbour_growth", "graph_surging_neighbours",
                 "graph_surging_share", "graph_hot_share")
_READ = {"degree": "graph_degree", "neighbour_growth": "graph_neighbour_growth",
         "max_neighbour_growth": "graph_max_neighbour_growth", "surging_neighbours": "graph_surging_neighbours",
         "surging_neighbour_share": "graph_surging_share", "hot_neighbour_share": "graph_hot_share"}
_ZERO_WITHOUT_EDGE = GRAPH_COLUMNS[:-1]  # an item week without a known edge: no neighbour, no growth


class GraphFeaturesError(DarkHorseError, ValueError):
    """The graph feature mart lacks a column; the message names the file."""


def _prepare(path: str, frame: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("item_id", "week_start", *_READ) if c not in frame.columns]
    if missing:
        raise GraphFeaturesError(f"{path}: missing column(s) {missing}")
    out = pd.DataFrame({ID: frame["item_id"].astype(str), DS: pd.to_datetime(frame["week_start"])})
    for src, dst in _READ.items():
        out[dst] = pd.to_numeric(frame[src], errors="coerce").astype("float64")
    return out


def load(marts_dir: str | Path | None) -> pd.DataFrame | None:
    """`unique_id, ds` + GRAPH_COLUMNS of every item week with a known edge, or None when the
    folder is not given or has no graph feature rows (read once per change of the file)."""
    return read_mart(marts_dir, MART, _prepare, what="graph features")


def add_graph_features(feats: pd.DataFrame, marts_dir: str | Path | None) -> pd.DataFrame:
    """`feats` (`unique_id, ds` + features, any index) with GRAPH_COLUMNS joined on (item,
    week), same index and order; unchanged when graph features are off or missing."""
    graph = load(marts_dir)
    if graph is None:
        return feats
    keys = pd.MultiIndex.from_arrays([feats[ID].astype(str).to_numpy(), pd.to_datetime(feats[DS]).to_numpy()])
    found = graph.set_index([ID, DS]).reindex(keys)
    out = feats.copy()
    for c in _ZERO_WITHOUT_EDGE:
        out[c] = found[c].fillna(0.0).to_numpy()
    out["graph_hot_share"] = found["graph_hot_share"].to_numpy(dtype="float64", na_value=np.nan)
    return out
