"""Model registry: the config names models by these keys.

Heavy libraries are imported inside each model's module, and model modules are imported only
when a model is created, so `import training.models` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from training.models.base import Forecaster, ModelSettings, NotFittedError

# name -> "module:Class"
_REGISTRY: dict[str, str] = {
    "naive": "training.models.baselines:Naive",
    "seasonal_naive": "training.models.baselines:SeasonalNaive",
    "moving_average": "training.models.baselines:MovingAverage",
    "statquant": "training.models.baselines:StatQuant",
    "xgboost": "training.models.xgb:XGBoostGlobal",
    "xgboost_individual": "training.models.xgb:XGBoostIndividual",
    "lstm": "training.models.lstm:LSTMForecaster",
    "tft": "training.models.tft:TFTForecaster",
    "autots": "training.models.autots_model:AutoTSForecaster",
    "blend": "training.blend:Blend",
}

# tiny settings for the contract test and CI smoke runs
TEST_PARAMS: dict[str, dict[str, Any]] = {
    "xgboost": {"n_estimators": 20, "max_depth": 3, "max_train_rows": 5000},
    "xgboost_individual": {"n_estimators": 10, "max_depth": 2, "n_jobs": 2, "min_rows": 20},
    "lstm": {"lookback": 8, "hidden_size": 8, "head_size": 16, "max_epochs": 2, "batch_size": 128,
             "max_windows_per_epoch": 512, "max_val_windows": 256, "n_threads": 2},
    "tft": {"max_encoder_length": 8, "min_encoder_length": 4, "hidden_size": 8, "attention_head_size": 1,
            "hidden_continuous_size": 4, "max_epochs": 1, "batch_size": 64, "batches_per_epoch": 4,
            "max_val_windows": 128, "n_threads": 2},
    "autots": {"model_list": ["LastValueNaive", "AverageValueNaive", "SeasonalNaive"], "max_generations": 0,
               "num_validations": 1, "transformer_list": "superfast", "max_series": 20, "n_jobs": 2},
    "blend": {
        "members": [{"model": "naive"}, {"model": "moving_average", "params": {"window": 4}}],
        "inner_windows": 2,
    },
}


def register(name: str, target: str) -> None:
    """Register `module:Class` under `name` (plugins can add models)."""
    _REGISTRY[name] = target


def available() -> list[str]:
    return sorted(_REGISTRY)


def model_class(name: str) -> type[Forecaster]:
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(available())}")
    module, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


def create(name: str, *, alias: str | None = None, **params: Any) -> Forecaster:
    return model_class(name)(alias=alias, **params)


__all__ = [
    "TEST_PARAMS",
    "Forecaster",
    "ModelSettings",
    "NotFittedError",
    "available",
    "create",
    "model_class",
    "register",
]
