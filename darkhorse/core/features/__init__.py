"""Programmatic access to the DarkHorse feature store (Feast), built from a darkhorse config.

`feature_repo/` holds the declarations and a `feature_store.yaml` for the Feast CLI
(`cd feature_repo && feast apply && feast materialize START END`). This package builds the same
deployment from a `Config` instead, so `darkhorse --config other.yaml ...` works without
editing any YAML. One module a job:

* `store`: names (`TRAINING_SERVICE`, `SERVING_SERVICE`, `WEEKLY_VIEW`, `STATIC_VIEW`, ...),
  `repo_config(config)`, `feature_store(config)`, `load_declarations`, `FeatureStoreError`;
* `registration`: `apply(config) -> dict` (like `feast apply`: objects no longer declared are removed);
* `materialization`: `materialize(config) -> dict` over the data's real range (not the ttl window),
  `data_time_range`;
* `columns`: a service's features and dtypes (`feature_columns`, `weekly_feature_names`);
* `offline`: `historical_features(config, entities) -> DataFrame` (point in time, `training_v1`);
* `covariates`: `known_future_features(config, pairs)`: known-future covariates (point in time
  by `known_at`, service `known_future_v1`);
* `online`: `online_features(config, item_ids) -> OnlineFeatures(features, unknown_items,
  staleness)`;
* `load`: the interval load panel (entity = series): `series_historical_features`,
  `series_online_features`.

The names below are the public API; import them from `darkhorse.core.features`.
"""

from darkhorse.core.features.columns import feature_columns, weekly_feature_names
from darkhorse.core.features.covariates import known_future_features
from darkhorse.core.features.load import series_historical_features, series_online_features
from darkhorse.core.features.materialization import data_time_range, materialize
from darkhorse.core.features.offline import historical_features
from darkhorse.core.features.online import OnlineFeatures, online_features
from darkhorse.core.features.registration import apply
from darkhorse.core.features.store import (
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    KNOWN_FUTURE_SERVICE,
    SERVING_SERVICE,
    STATIC_VIEW,
    TRAINING_SERVICE,
    WEEKLY_VIEW,
    Declarations,
    FeatureStoreError,
    feature_repo_dir,
    feature_store,
    load_declarations,
    repo_config,
)

__all__ = [
    "ENTITY_KEY",
    "EVENT_TIMESTAMP",
    "KNOWN_FUTURE_SERVICE",
    "SERVING_SERVICE",
    "STATIC_VIEW",
    "TRAINING_SERVICE",
    "WEEKLY_VIEW",
    "Declarations",
    "FeatureStoreError",
    "OnlineFeatures",
    "apply",
    "data_time_range",
    "feature_columns",
    "feature_repo_dir",
    "feature_store",
    "historical_features",
    "known_future_features",
    "load_declarations",
    "materialize",
    "online_features",
    "repo_config",
    "series_historical_features",
    "series_online_features",
    "weekly_feature_names",
]
