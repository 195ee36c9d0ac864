"""What a feature service serves: its features, their pandas dtypes, which come from the weekly view.

One place for the offline and the online read, so both give the same dtypes.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from darkhorse.core.features.store import WEEKLY_VIEW, FeatureStoreError

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore


def _service(store: FeatureStore, service: str | FeatureService) -> FeatureService:
    from feast.errors import FeastObjectNotFoundException

    if not isinstance(service, str):
        return service
    try:
        return store.get_feature_service(service)
    except (FeastObjectNotFoundException, FileNotFoundError):
        raise FeatureStoreError(
            f"feature service {service!r} is not in the registry {store.config.registry.path}: "
            "run `darkhorse build` (or darkhorse.core.features.apply) first"
        ) from None


def feature_columns(store: FeatureStore, service: str | FeatureService) -> dict[str, str]:
    """Feature name -> pandas dtype, in the service's order (one place for offline and online)."""
    from feast.types import PrimitiveFeastType

    dtypes: dict[str, str] = {}
    for proj in _service(store, service).feature_view_projections:
        for field in proj.features:
            t = field.dtype
            if t in (PrimitiveFeastType.FLOAT32, PrimitiveFeastType.FLOAT64):
                dtypes[field.name] = "float64"
            elif t in (PrimitiveFeastType.INT32, PrimitiveFeastType.INT64):
                dtypes[field.name] = "Int64"
            elif t == PrimitiveFeastType.BOOL:
                dtypes[field.name] = "boolean"
            elif t == PrimitiveFeastType.UNIX_TIMESTAMP:
                dtypes[field.name] = "datetime64[us, UTC]"
            else:
                dtypes[field.name] = "object"
    return dtypes


@dataclass(frozen=True)
class _ServiceInfo:
    service: Any
    dtypes: dict[str, str]
    weekly: frozenset[str]
    probes: frozenset[str]  # the first feature of each view


# per store: reading a feature service from the registry costs milliseconds (protos, type checks)
_SERVICE_INFO: weakref.WeakKeyDictionary[Any, dict[str, _ServiceInfo]] = weakref.WeakKeyDictionary()


def service_info(store: FeatureStore, service: str | FeatureService) -> _ServiceInfo:
    name = service if isinstance(service, str) else service.name
    per_store = _SERVICE_INFO.setdefault(store, {})
    if name not in per_store:
        fs = _service(store, service)
        weekly = frozenset(
            f.name for p in fs.feature_view_projections if p.name == WEEKLY_VIEW for f in p.features
        )
        probes = frozenset(p.features[0].name for p in fs.feature_view_projections if p.features)
        per_store[name] = _ServiceInfo(fs, feature_columns(store, fs), weekly, probes)
    return per_store[name]


def column_array(values: list[Any], dtype: str) -> Any:
    """A list of Python values (None for missing) as a pandas array of `dtype`; built with
    numpy directly, as pandas' generic constructors cost more than the online read itself."""
    missing = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
    if dtype == "float64":
        return np.array([np.nan if v is None else v for v in values], dtype="float64")
    if dtype == "Int64":
        data = np.array([0 if v is None else v for v in values], dtype="int64")
        return pd.arrays.IntegerArray(data, missing)
    if dtype == "boolean":
        data = np.array([False if v is None else v for v in values], dtype=bool)
        return pd.arrays.BooleanArray(data, missing)
    if dtype.startswith("datetime64"):
        return pd.to_datetime(pd.Series(values, dtype=object), utc=True).astype(dtype).array
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def coerce(df: pd.DataFrame, dtypes: dict[str, str]) -> pd.DataFrame:
    """Give offline columns the same dtypes `_column` gives online ones."""
    for col, dtype in dtypes.items():
        if col not in df.columns:
            continue
        if dtype.startswith("datetime64"):
            df[col] = pd.to_datetime(df[col], utc=True).astype(dtype)
        elif dtype == "object":
            df[col] = df[col].astype(object).where(df[col].notna(), None)
        else:
            df[col] = df[col].astype(dtype)
    return df


def weekly_feature_names(store: FeatureStore, service: str | FeatureService) -> list[str]:
    """The service's features that come from the weekly view (the ones that go stale)."""
    return sorted(service_info(store, service).weekly)
