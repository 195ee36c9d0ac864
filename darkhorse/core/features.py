"""Programmatic access to the DarkHorse feature store (Feast), built from a darkhorse config.

`feature_repo/` holds the declarations and a `feature_store.yaml` for the Feast CLI
(`cd feature_repo && feast apply && feast materialize START END`). This module builds the same
deployment from a `Config` instead, so `darkhorse --config other.yaml ...` works without
editing any YAML:

* registry and sqlite online store under `config.feast_data_dir` (`data/feast/`, the same files
  `feature_store.yaml` names for the default config);
* offline store: Feast's DuckDB store over the published Parquet marts (`paths.marts`);
* online store: sqlite, or Redis (`feast.online_store: redis`); the environment variables
  `DARKHORSE_ONLINE_STORE` (sqlite|redis) and `DARKHORSE_REDIS` (host:port[,db=N]) override
  the config.

The declarations are imported with `DARKHORSE_MARTS_DIR` and `DARKHORSE_FEATURE_TTL_WEEKS` set
from the config (and imported afresh for every call, so configs never share objects).

Public API:

* `feature_store(config) -> feast.FeatureStore`, `repo_config(config)`;
* `apply(config) -> dict` (like `feast apply`: objects no longer declared are removed);
* `materialize(config) -> dict` (the data's real range, not the ttl window);
* `historical_features(config, entities) -> DataFrame` (point in time, `training_v1`);
* `online_features(config, item_ids) -> OnlineFeatures(features, unknown_items, staleness)`;
* helpers: `data_time_range`, `published_marts_dir`, `feature_repo_dir`, `load_declarations`,
  `feature_columns`, `weekly_feature_names`; names `TRAINING_SERVICE`, `SERVING_SERVICE`,
  `WEEKLY_VIEW`, `STATIC_VIEW`; errors raise `FeatureStoreError`.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import duckdb
import numpy as np
import pandas as pd

from darkhorse.core.config import Config
from darkhorse.core.errors import DarkHorseError
from darkhorse.core.marts import mart_path
from darkhorse.core.sql import sql_str

if TYPE_CHECKING:  # feast takes seconds to import: only when a function needs it
    from feast import FeatureService, FeatureStore

os.environ.setdefault("FEAST_USAGE", "False")

TRAINING_SERVICE = "training_v1"
SERVING_SERVICE = "serving_v1"
WEEKLY_VIEW = "item_weekly_activity"
STATIC_VIEW = "item_static"
ENTITY_KEY = "item_id"
EVENT_TIMESTAMP = "event_timestamp"
# (mart file, its point-in-time column): what Feast reads from the published marts
FEATURE_MARTS = {"item_weeks": "available_at", "items": "first_available_at"}

SHIPPED_REPO_DIR = Path(__file__).resolve().parents[2] / "feature_repo"

_DECLARATIONS_LOCK = threading.Lock()


class FeatureStoreError(DarkHorseError, RuntimeError):
    """The feature store cannot do what was asked (no published marts, bad online store...)."""


def _import_feast() -> None:
    """Import feast, then silence the one warning its DuckDB store repeats on every read.

    Importing feast turns every DeprecationWarning of the process on ("once"); ibis, under
    Feast's DuckDB store, calls a method DuckDB 1.5 deprecates, so the filter goes in after.
    """
    import feast  # noqa: F401

    warnings.filterwarnings("ignore", message=r".*fetch_arrow_table", category=DeprecationWarning)


# --------------------------------------------------------------------------- configuration
def published_marts_dir(config: Config) -> Path:
    """The published marts path as configured, absolute, with symlinks left in place.

    `Config.marts_dir` follows symlinks for a relative `paths.marts`; Feast must keep the link
    (`data/marts -> data/published/<run_id>`), or its registry would pin one snapshot that the
    publish step later deletes.
    """
    p = Path(config.paths.marts)
    return p if p.is_absolute() else Path(os.path.normpath(config.root / p))


def feature_repo_dir(config: Config) -> Path:
    """The config's Feast repo; DarkHorse's own `feature_repo/` when `feast.repo` is left unset
    and there is no `feature_repo/` beside the config (a config written beside the user's data)."""
    configured = config.feast_repo_dir
    if (configured / "feature_store.yaml").is_file() or "repo" in config.feast.model_fields_set:
        return configured
    return SHIPPED_REPO_DIR


def _online_store_settings(config: Config) -> dict[str, Any]:
    kind = os.environ.get("DARKHORSE_ONLINE_STORE") or config.feast.online_store
    if kind == "sqlite":
        return {"type": "sqlite", "path": str(config.feast_data_dir / "online_store.db")}
    if kind == "redis":
        conn = os.environ.get("DARKHORSE_REDIS") or config.feast.redis_connection
        return {"type": "redis", "connection_string": conn}
    raise FeatureStoreError(
        f"DARKHORSE_ONLINE_STORE={kind!r}: the online store must be 'sqlite' or 'redis'"
    )


def repo_config(config: Config):
    """The Feast `RepoConfig` of this config (what feature_store.yaml says, with its paths)."""
    _import_feast()
    from feast import RepoConfig
    from feast.repo_config import RegistryConfig

    config.feast_data_dir.mkdir(parents=True, exist_ok=True)
    return RepoConfig(
        project=config.project,
        provider="local",
        registry=RegistryConfig(path=str(config.feast_data_dir / "registry.db")),
        offline_store={"type": "duckdb"},
        online_store=_online_store_settings(config),
        entity_key_serialization_version=3,
        repo_path=feature_repo_dir(config),
    )


def feature_store(config: Config) -> FeatureStore:
    """A `feast.FeatureStore` for this config (no YAML read or written)."""
    from feast import FeatureStore

    return FeatureStore(config=repo_config(config))


# --------------------------------------------------------------------------- declarations
@dataclass(frozen=True)
class Declarations:
    """The Feast objects declared in the config's feature repo."""

    entities: list[Any]
    data_sources: list[Any]
    feature_views: list[Any]
    on_demand_feature_views: list[Any]
    feature_services: list[Any]


@contextlib.contextmanager
def _declaration_import(repo_dir: Path, module_names: list[str], env: dict[str, str]) -> Iterator[None]:
    """Import the repo's modules in a clean slate: env set, repo on sys.path, no stale modules."""
    saved_env = {k: os.environ.get(k) for k in env}
    saved_modules = {n: sys.modules.pop(n) for n in module_names if n in sys.modules}
    saved_bytecode = sys.dont_write_bytecode
    os.environ.update(env)
    sys.path.insert(0, str(repo_dir))
    sys.dont_write_bytecode = True  # keep the declarations folder free of __pycache__
    try:
        yield
    finally:
        sys.dont_write_bytecode = saved_bytecode
        with contextlib.suppress(ValueError):
            sys.path.remove(str(repo_dir))
        for n in module_names:
            sys.modules.pop(n, None)
        sys.modules.update(saved_modules)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def load_declarations(config: Config) -> Declarations:
    """Import the feature repo's .py files (honouring .feastignore) for this config."""
    _import_feast()
    from feast import Entity, FeatureService, FeatureView, OnDemandFeatureView
    from feast.data_source import DataSource
    from feast.repo_operations import get_repo_files

    repo_dir = feature_repo_dir(config)
    if not (repo_dir / "feature_store.yaml").is_file():
        raise FeatureStoreError(f"no Feast repo at {repo_dir} (feast.repo in the config)")
    files = get_repo_files(repo_dir)
    names = [".".join(f.relative_to(repo_dir.resolve()).with_suffix("").parts) for f in files]
    env = {
        "DARKHORSE_MARTS_DIR": str(published_marts_dir(config)),
        "DARKHORSE_FEATURE_TTL_WEEKS": str(config.feast.ttl_weeks),
    }
    found: dict[str, list[Any]] = {k: [] for k in Declarations.__dataclass_fields__}

    def add(kind: str, obj: Any) -> None:
        if not any(o is obj for o in found[kind]):
            found[kind].append(obj)

    with _DECLARATIONS_LOCK, _declaration_import(repo_dir, names, env):
        for name in names:
            module = importlib.import_module(name)
            for attr in vars(module).values():
                if isinstance(attr, Entity):
                    add("entities", attr)
                elif isinstance(attr, OnDemandFeatureView):
                    add("on_demand_feature_views", attr)
                elif isinstance(attr, FeatureView):
                    add("feature_views", attr)
                    if attr.batch_source is not None:
                        add("data_sources", attr.batch_source)
                elif isinstance(attr, FeatureService):
                    add("feature_services", attr)
                elif isinstance(attr, DataSource):
                    add("data_sources", attr)
    return Declarations(**found)


# --------------------------------------------------------------------------- apply, materialize
def _require_marts(config: Config) -> Path:
    marts = published_marts_dir(config)
    missing = [f"{m}.parquet" for m in FEATURE_MARTS if not (marts / f"{m}.parquet").is_file()]
    if missing:
        raise FeatureStoreError(
            f"no published marts in {marts} (missing {', '.join(missing)}): run `darkhorse build` first"
        )
    return marts


def apply(config: Config, *, store: FeatureStore | None = None) -> dict[str, Any]:
    """Register the repo's declarations (objects no longer declared are removed), like
    `feast apply`, and create the online store's tables. Returns what was registered."""
    from feast import Project
    from feast.repo_contents import RepoContents
    from feast.repo_operations import extract_objects_for_apply_delete

    _require_marts(config)
    decl = load_declarations(config)
    store = store or feature_store(config)
    contents = RepoContents(
        projects=[Project(name=config.project)],
        data_sources=decl.data_sources,
        feature_views=decl.feature_views,
        on_demand_feature_views=decl.on_demand_feature_views,
        stream_feature_views=[],
        label_views=[],
        entities=decl.entities,
        feature_services=decl.feature_services,
        permissions=[],
    )
    to_apply, to_delete, _, _ = extract_objects_for_apply_delete(
        config.project, store.registry, contents
    )
    store.apply(to_apply, objects_to_delete=to_delete, partial=False)
    return {
        "project": config.project,
        "registry": str(config.feast_data_dir / "registry.db"),
        "marts": str(published_marts_dir(config)),
        "feature_views": sorted(fv.name for fv in decl.feature_views),
        "feature_services": sorted(fs.name for fs in decl.feature_services),
        "removed": sorted(getattr(o, "name", str(o)) for o in to_delete),
    }


def data_time_range(config: Config) -> tuple[datetime, datetime]:
    """(first, last) point-in-time stamp over the Parquet marts Feast reads (UTC)."""
    marts = _require_marts(config)
    parts = [
        f"select min({col}) as lo, max({col}) as hi from read_parquet({sql_str(mart_path(marts, m))})"
        for m, col in FEATURE_MARTS.items()
    ]
    con = duckdb.connect()
    try:
        lo, hi = con.execute(
            f"select min(lo), max(hi) from ({' union all '.join(parts)})"
        ).fetchone()
    finally:
        con.close()
    if lo is None:
        raise FeatureStoreError(f"the published marts in {marts} have no rows")
    return pd.Timestamp(lo).tz_convert(UTC).to_pydatetime(), pd.Timestamp(hi).tz_convert(UTC).to_pydatetime()


def materialize(
    config: Config,
    *,
    store: FeatureStore | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """Load the latest row per item of every feature view into the online store.

    Covers the data's real range by default (START = the earliest stamp, END = the latest + 1 s):
    `feast materialize-incremental` would only look back one ttl on its first run, and the data
    may lie years before today. Returns a summary (range, store, seconds).
    """
    lo, hi = data_time_range(config)
    start = start or lo
    end = end or hi + timedelta(seconds=1)
    store = store or feature_store(config)
    t0 = time.perf_counter()
    store.materialize(start_date=start, end_date=end)
    return {
        "online_store": store.config.online_store.type,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "latest_feature_at": hi.isoformat(),
        "seconds": round(time.perf_counter() - t0, 3),
    }


# --------------------------------------------------------------------------- dtypes
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


def _service_info(store: FeatureStore, service: str | FeatureService) -> _ServiceInfo:
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


def _column(values: list[Any], dtype: str) -> Any:
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


def _coerce(df: pd.DataFrame, dtypes: dict[str, str]) -> pd.DataFrame:
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
    return sorted(_service_info(store, service).weekly)


# --------------------------------------------------------------------------- offline
def historical_features(
    config: Config,
    entities: pd.DataFrame,
    *,
    service: str = TRAINING_SERVICE,
    store: FeatureStore | None = None,
) -> pd.DataFrame:
    """Point-in-time features for (item_id, event_timestamp) rows, aligned with `entities`.

    A feature row is joined when its stamp is at or before the row's `event_timestamp` (and,
    for the weekly view, within the ttl): a week is visible once it has closed. Rows of
    `entities` keep their order and duplicates; other columns of `entities` are kept. Items
    without a row by then get nulls.
    """
    if ENTITY_KEY not in entities.columns or EVENT_TIMESTAMP not in entities.columns:
        raise ValueError(f"entities needs the columns {ENTITY_KEY!r} and {EVENT_TIMESTAMP!r}")
    store = store or feature_store(config)
    info = _service_info(store, service)
    fs, dtypes = info.service, info.dtypes
    keys = pd.DataFrame(
        {
            ENTITY_KEY: entities[ENTITY_KEY].astype(str).to_numpy(),
            EVENT_TIMESTAMP: pd.to_datetime(entities[EVENT_TIMESTAMP], utc=True)
            .astype("datetime64[us, UTC]")
            .array,
        }
    )
    unique = keys.drop_duplicates(ignore_index=True)
    if unique.empty:
        out = entities.copy()
        for col, dtype in dtypes.items():
            out[col] = pd.Series(dtype=dtype, index=out.index)
        return out
    job = store.get_historical_features(
        entity_df=unique,
        features=fs,
        # the marts carry no created stamp today; if a source adds one, rows created after the
        # cutoff (restatements) stay out instead of only breaking ties
        filter_by_created_timestamp=True,
    )
    got = job.to_df()
    got[EVENT_TIMESTAMP] = pd.to_datetime(got[EVENT_TIMESTAMP], utc=True).astype("datetime64[us, UTC]")
    got[ENTITY_KEY] = got[ENTITY_KEY].astype(str)
    got = got[[ENTITY_KEY, EVENT_TIMESTAMP, *dtypes]]
    merged = keys.merge(got, on=[ENTITY_KEY, EVENT_TIMESTAMP], how="left", validate="many_to_one")
    out = entities.copy()
    for col in dtypes:
        out[col] = merged[col].array
    return _coerce(out, dtypes)


# --------------------------------------------------------------------------- online
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
    info = _service_info(store, service)
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
        columns[col] = _column([values[k] for k in take], dtype)
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
