"""Online lookups: the latest materialized features of items, with how stale each one is."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from darkhorse.core.config import Config
from darkhorse.core.features.columns import column_array, service_info
from darkhorse.core.features.store import (
    ENTITY_KEY,
    SERVING_SERVICE,
    FeatureStoreError,
    feature_store,
)

if TYPE_CHECKING:
    from feast import FeatureStore


class OnlineFeatures(NamedTuple):
    """What `online_features` returns (unpacks as `features, unknown_items, staleness`).

    * `features`: one row per requested item, in request order: `item_id` + the service's
      features (null for unknown items);
    * `unknown_items`: requested items the online store has no row for, in request order;
    * `staleness`: one row per requested item: `item_id`, `feature_at` (the stamp of its latest
      weekly row, i.e. the close of the last week it was materialized for; NaT if none), `age`
      (`as_of - feature_at`), `is_stale` (no weekly row, or older than `feast.ttl_weeks`: the
      online store does not enforce the ttl, so callers must look at this).
    """

    features: pd.DataFrame
    unknown_items: list[str]
    staleness: pd.DataFrame


def online_features(
    config: Config,
    item_ids: Iterable[str],
    *,
    as_of: datetime | None = None,
    service: str = SERVING_SERVICE,
    store: FeatureStore | None = None,
) -> OnlineFeatures:
    """Latest materialized features of `item_ids`; unknown items get nulls and are listed.

    `as_of` (default: now, UTC) is the reference time of `staleness.age`; pass the panel's
    last week close to judge a historical data set. Pass a long-lived `store` when calling
    often: building one reads the registry, and the service's feature list is read once per
    store.
    """
    from feast.protos.feast.serving.ServingService_pb2 import FieldStatus

    store = store or feature_store(config)
    info = service_info(store, service)
    requested = [str(i) for i in item_ids]
    unique = list(dict.fromkeys(requested))
    as_of = as_of or datetime.now(UTC)
    ttl = timedelta(weeks=config.feast.ttl_weeks)

    data: dict[str, list[Any]] = {c: [] for c in info.dtypes}
    found = dict.fromkeys(unique, False)
    weekly_at: dict[str, float | None] = dict.fromkeys(unique)
    if unique:
        resp = store.get_online_features(
            features=info.service, entity_rows=[{ENTITY_KEY: i} for i in unique]
        )
        data = resp.to_dict()
        # every feature of a view shares its row's status and stamp: one feature per view
        # tells them. sqlite says NOT_FOUND for a missing item; Redis says PRESENT with an
        # empty value and a zero stamp: a row exists only with a status and a stamp.
        not_found = FieldStatus.NOT_FOUND
        names = list(resp.proto.metadata.feature_names.val)
        for name, vector in zip(names, resp.proto.results, strict=True):
            if name not in info.probes:
                continue
            is_weekly = name in info.weekly
            for item, status, ts in zip(unique, vector.statuses, vector.event_timestamps, strict=True):
                if status != not_found and (ts.seconds or ts.nanos):
                    found[item] = True
                    if is_weekly:
                        weekly_at[item] = ts.seconds + ts.nanos / 1e9
    position = {item: k for k, item in enumerate(unique)}
    take = [position[i] for i in requested]
    columns: dict[str, Any] = {ENTITY_KEY: requested}
    for col, dtype in info.dtypes.items():
        values = data[col]
        columns[col] = column_array([values[k] for k in take], dtype)
    features = pd.DataFrame(columns)

    stamps_us = np.array(
        [round(weekly_at[i] * 1e6) if weekly_at[i] is not None else np.iinfo("int64").min for i in requested],
        dtype="int64",
    ).view("datetime64[us]")  # int64 min is NaT
    as_of_us = np.datetime64(pd.Timestamp(as_of).tz_convert(UTC).tz_localize(None).as_unit("us"))
    age = as_of_us - stamps_us
    staleness = pd.DataFrame(
        {
            ENTITY_KEY: requested,
            "feature_at": pd.DatetimeIndex(stamps_us).tz_localize(UTC),
            "age": age,
            "is_stale": np.isnat(stamps_us) | (age > np.timedelta64(ttl)),
        }
    )
    unknown = [i for i in unique if not found[i]]
    return OnlineFeatures(features, unknown, staleness)


def forget_items(
    config: Config, item_ids: Iterable[str], *, store: FeatureStore | None = None, key: str = ENTITY_KEY
) -> int:
    """Remove `item_ids` from the online store (every feature view keyed by `key`: the item
    views, or with `key="series_id"` the load series' view): items or series that left the
    published panel must not go on being served with their last features. Materializing only
    writes rows, it never removes one. Returns the rows (sqlite) or keys (Redis) removed.

    The sqlite and Redis stores (the two DarkHorse configures) are handled; any other raises
    FeatureStoreError rather than leaving the items in place silently.
    """
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
    from feast.protos.feast.types.Value_pb2 import Value as ValueProto

    items = list(dict.fromkeys(str(i) for i in item_ids))
    if not items:
        return 0
    store = store or feature_store(config)
    repo = store.config
    version = repo.entity_key_serialization_version
    keys = [
        EntityKeyProto(join_keys=[key], entity_values=[ValueProto(string_val=i)]) for i in items
    ]
    kind = repo.online_store.type
    if kind == "sqlite":
        import sqlite3

        from feast.infra.online_stores.sqlite import SqliteOnlineStore, _table_id

        path = SqliteOnlineStore._get_db_path(repo)
        views = [v for v in store.list_feature_views() if list(v.join_keys) == [key]]
        serialized = [serialize_entity_key(k, entity_key_serialization_version=version) for k in keys]
        removed = 0
        with sqlite3.connect(path) as con:
            tables = {r[0] for r in con.execute("select name from sqlite_master where type = 'table'")}
            for view in views:
                table = _table_id(repo.project, view, repo.registry.enable_online_feature_view_versioning)
                if table not in tables:
                    continue
                for start in range(0, len(serialized), 500):
                    part = serialized[start : start + 500]
                    cur = con.execute(
                        f'delete from "{table}" where entity_key in ({",".join("?" * len(part))})', part
                    )
                    removed += cur.rowcount
        return removed
    if kind == "redis":
        from feast.infra.online_stores.helpers import _redis_key

        client = store._get_provider().online_store._get_client(repo.online_store)
        return int(client.delete(*[_redis_key(repo.project, k, entity_key_serialization_version=version) for k in keys]))
    raise FeatureStoreError(
        f"online store {kind!r}: cannot remove the {len(items)} {key} value(s) that left the panel "
        f"(e.g. {items[:3]}); use sqlite or redis"
    )
