"""Register the feature repo's declarations, like `feast apply`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from darkhorse.core.config import Config
from darkhorse.core.features.store import feature_store, load_declarations, require_marts

if TYPE_CHECKING:
    from feast import FeatureStore


def apply(config: Config, *, store: FeatureStore | None = None) -> dict[str, Any]:
    """Register the repo's declarations (objects no longer declared are removed), like
    `feast apply`, and create the online store's tables. Returns what was registered."""
    from feast import Project
    from feast.repo_contents import RepoContents
    from feast.repo_operations import extract_objects_for_apply_delete

    require_marts(config)
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
        "marts": str(config.marts_dir),
        "feature_views": sorted(fv.name for fv in decl.feature_views),
        "feature_services": sorted(fs.name for fs in decl.feature_services),
        "removed": sorted(getattr(o, "name", str(o)) for o in to_delete),
    }
