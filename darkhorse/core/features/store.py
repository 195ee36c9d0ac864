"""The Feast deployment of a config: names, `RepoConfig`, `FeatureStore`, the repo's declarations.

Registry and sqlite online store live under `config.feast_data_dir`; the offline store is
Feast's DuckDB store over the published Parquet marts (`config.marts_dir`, the link, never the
snapshot it points to); the online store is sqlite, or Redis (`feast.online_store: redis`;
`DARKHORSE_ONLINE_STORE` and `DARKHORSE_REDIS` override the config). The declarations in the
feature repo are imported with `DARKHORSE_MARTS_DIR` and `DARKHORSE_FEATURE_TTL_WEEKS` set
from the config, afresh for every call, so configs never share objects.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from darkhorse.core.config import Config
from darkhorse.core.env import set_process_defaults
from darkhorse.core.errors import DarkHorseError

if TYPE_CHECKING:  # feast takes seconds to import: only when a function needs it
    from feast import FeatureStore

set_process_defaults()  # before feast is imported: no usage reporting

TRAINING_SERVICE = "training_v1"
SERVING_SERVICE = "serving_v1"
WEEKLY_VIEW = "item_weekly_activity"
STATIC_VIEW = "item_static"
ENTITY_KEY = "item_id"
EVENT_TIMESTAMP = "event_timestamp"
# the interval load panel of request_log sources (no rows without one)
LOAD_TRAINING_SERVICE = "load_training_v1"
LOAD_SERVING_SERVICE = "load_serving_v1"
LOAD_VIEW = "series_interval_activity"
SERIES_KEY = "series_id"
# (mart file, its point-in-time column): what Feast reads from the published marts
FEATURE_MARTS = {
    "item_weeks": "available_at",
    "items": "first_available_at",
    "series_intervals": "available_at",
}

# known-future covariates (config known_future): a view and a service, only when declared
KNOWN_FUTURE_SERVICE = "known_future_v1"
KNOWN_FUTURE_MART = "item_week_covariates"

SHIPPED_REPO_DIR = Path(__file__).resolve().parents[3] / "feature_repo"

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
        "DARKHORSE_MARTS_DIR": str(config.marts_dir),
        "DARKHORSE_FEATURE_TTL_WEEKS": str(config.feast.ttl_weeks),
        "DARKHORSE_KNOWN_FUTURE": ",".join(c.feature for c in config.known_future()),
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


def require_marts(config: Config) -> Path:
    marts = config.marts_dir
    needed = [*FEATURE_MARTS, *([KNOWN_FUTURE_MART] if config.known_future() else [])]
    missing = [f"{m}.parquet" for m in needed if not (marts / f"{m}.parquet").is_file()]
    if missing:
        raise FeatureStoreError(
            f"no published marts in {marts} (missing {', '.join(missing)}): run `darkhorse build` first"
        )
    return marts
