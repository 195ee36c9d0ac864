"""Environment every DarkHorse process runs with: telemetry off, nothing fetched at run time."""

from __future__ import annotations

import os

OFFLINE_ENV = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "FEAST_USAGE": "False",
    "BENTOML_DO_NOT_TRACK": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "HF_HUB_OFFLINE": "1",
    "OTEL_SDK_DISABLED": "true",
}


def set_offline_defaults() -> None:
    """Set the variables above unless the caller's environment already says otherwise."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
