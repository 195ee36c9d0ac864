"""The graph and the text as known at a week: read from the marts `item_edges`,
`item_graph_features` and `item_week_texts` (dbt_project/models/marts/_graph__models.yml).

Every query takes (item, week) pairs and answers with what was known at that week's close
only: edge rows and text rows of later weeks are never read for it. That is the whole
point-in-time contract of the multi-task model's graph and text inputs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from darkhorse.core.errors import DarkHorseError
from darkhorse.core.marts import mart_path
from darkhorse.core.schema import DS, ID

log = logging.getLogger(__name__)

GRAPH_MARTS = ("item_edges", "item_graph_features", "item_week_texts")
GRAPH_FEATURES = ("degree", "neighbours", "shared_customers", "mean_jaccard", "neighbour_growth",
                  "max_neighbour_growth", "surging_neighbours", "surging_neighbour_share", "hot_neighbour_share",
                  "neighbours_labelled")


class GraphTextError(DarkHorseError, ValueError):
    """A graph or text mart is missing a column; the message names the file."""


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object" if c in (ID, "neighbour_id", "text") else "float64")
                         for c in columns})


def _read(folder: Path, mart: str, columns: list[str]) -> pd.DataFrame:
    path = mart_path(folder, mart)
    if not path.exists():
        log.warning("multitask: %s not found; the model runs without it", path)
        return _empty([ID if c == "item_id" else DS if c == "week_start" else c for c in columns])
    frame = duckdb.sql(f"select * from read_parquet('{path}')").df()
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise GraphTextError(f"{path}: missing column(s) {missing}")
    frame = frame[columns].rename(columns={"item_id": ID, "week_start": DS})
    frame[ID] = frame[ID].astype(str)
    frame[DS] = pd.to_datetime(frame[DS])
    return frame


@dataclass(frozen=True)
class GraphText:
    """`edges`: `unique_id, neighbour_id, ds, shared_customers, jaccard` (one row per edge per
    week its weights changed); `features`: `unique_id, ds` + GRAPH_FEATURES; `texts`:
    `unique_id, ds, text`. A row of week `ds` is known from that week's close."""

    edges: pd.DataFrame
    features: pd.DataFrame
    texts: pd.DataFrame

    @classmethod
    def load(cls, folder: str | Path) -> GraphText:
        folder = Path(folder)
        edges = _read(folder, "item_edges", ["item_id", "neighbour_id", "week_start", "shared_customers", "jaccard"])
        edges["neighbour_id"] = edges["neighbour_id"].astype(str)
        feats = _read(folder, "item_graph_features", ["item_id", "week_start", *GRAPH_FEATURES])
        texts = _read(folder, "item_week_texts", ["item_id", "week_start", "text"])
        return cls(edges=edges, features=feats, texts=texts)

    def until(self, cutoff: pd.Timestamp) -> GraphText:
        """Only the rows known at the close of week `cutoff`."""
        return GraphText(self.edges[self.edges[DS] <= cutoff], self.features[self.features[DS] <= cutoff],
                         self.texts[self.texts[DS] <= cutoff])

    # ------------------------------------------------------------------ queries
    def neighbours(self, queries: pd.DataFrame, k: int) -> pd.DataFrame:
        """For each query row q (`unique_id, ds`, position = q): its `k` heaviest neighbours as
        of week ds (shared customers then Jaccard then id), with the weights known then:
        `q, neighbour_id, shared_customers, jaccard`."""
        q = pd.DataFrame({"q": range(len(queries)), ID: queries[ID].astype(str).to_numpy(),
                          DS: pd.to_datetime(queries[DS]).to_numpy()})
        edges = self.edges
        con = duckdb.connect()
        try:
            con.register("q", q)
            con.register("edges", edges)
            return con.sql(f"""
                with latest as (
                    select q.q, e.neighbour_id,
                           arg_max(e.shared_customers, e.{DS}) as shared_customers,
                           arg_max(e.jaccard, e.{DS}) as jaccard,
                    from q inner join edges as e on e.{ID} = q.{ID} and e.{DS} <= q.{DS}
                    group by q.q, e.neighbour_id
                )
                select q, neighbour_id, shared_customers, jaccard from (
                    select *, row_number() over (partition by q order by shared_customers desc, jaccard desc,
                                                 neighbour_id) as r
                    from latest
                ) where r <= {int(k)}
                order by q, r
            """).df()
        finally:
            con.close()

    def graph_features(self, queries: pd.DataFrame) -> pd.DataFrame:
        """The SQL graph features of each query row (0 where the item had no edge yet; the hot
        share -1 where no neighbour was labelled), in the queries' order."""
        q = queries[[ID, DS]].reset_index(drop=True).copy()
        q[ID] = q[ID].astype(str)
        out = q.merge(self.features, on=[ID, DS], how="left")
        out[list(GRAPH_FEATURES)] = out[list(GRAPH_FEATURES)].astype("float64")
        out["hot_neighbour_share"] = out["hot_neighbour_share"].fillna(-1.0)
        out[list(GRAPH_FEATURES)] = out[list(GRAPH_FEATURES)].fillna(0.0)
        return out[list(GRAPH_FEATURES)]

    def documents(self, queries: pd.DataFrame, *, recent_weeks: int, history_weeks: int) -> tuple[list[str], list[str]]:
        """Two documents per query row: the item's text of the last `recent_weeks` weeks up to ds,
        and of the `history_weeks` weeks before those ('' where there is none)."""
        q = pd.DataFrame({"q": range(len(queries)), ID: queries[ID].astype(str).to_numpy(),
                          DS: pd.to_datetime(queries[DS]).to_numpy()})
        con = duckdb.connect()
        try:
            con.register("q", q)
            con.register("texts", self.texts)
            docs = con.sql(f"""
                select q.q,
                    coalesce(string_agg(t.text, ' ' order by t.{DS}) filter
                        (where t.{DS} > q.{DS} - interval {7 * recent_weeks} day), '') as recent,
                    coalesce(string_agg(t.text, ' ' order by t.{DS}) filter
                        (where t.{DS} <= q.{DS} - interval {7 * recent_weeks} day), '') as history,
                from q inner join texts as t on t.{ID} = q.{ID} and t.{DS} <= q.{DS}
                    and t.{DS} > q.{DS} - interval {7 * (recent_weeks + history_weeks)} day
                group by q.q
            """).df()
        finally:
            con.close()
        recent, history = [""] * len(q), [""] * len(q)
        for i, r, h in zip(docs["q"].to_numpy(), docs["recent"].to_numpy(), docs["history"].to_numpy(), strict=True):
            recent[int(i)], history[int(i)] = r, h
        return recent, history
