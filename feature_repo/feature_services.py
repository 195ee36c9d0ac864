"""Feature services, versioned per consumer. Both read the same views, so training and
serving see the same features; a consumer that needs a change gets a new version."""

from feast import FeatureService
from feature_views import (
    item_static,
    item_week_covariates,
    item_weekly_activity,
    series_interval_activity,
)

training_v1 = FeatureService(
    name="training_v1",
    features=[item_weekly_activity, item_static],
    description="Point-in-time training sets (entity = item, timestamp = the forecast cutoff).",
    tags={"consumer": "training"},
)

serving_v1 = FeatureService(
    name="serving_v1",
    features=[item_weekly_activity, item_static],
    description="Online features for the serving API: the latest closed week of each item.",
    tags={"consumer": "serving"},
)

load_training_v1 = FeatureService(
    name="load_training_v1",
    features=[series_interval_activity],
    description="Point-in-time load training sets (entity = series, timestamp = the origin).",
    tags={"consumer": "load-training"},
)

load_serving_v1 = FeatureService(
    name="load_serving_v1",
    features=[series_interval_activity],
    description="Online load features: the latest closed interval of each series.",
    tags={"consumer": "load-serving"},
)

# only with declared known-future covariates (the view exists then)
known_future_v1 = (
    FeatureService(
        name="known_future_v1",
        features=[item_week_covariates],
        description="Known-future covariates (entity = item, timestamp = the week's known_at).",
        tags={"consumer": "training"},
    )
    if item_week_covariates is not None
    else None
)
