"""Model registry: the config names models by these keys (each class carries its own tiny test
settings, `Forecaster.test_params()`).

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
    "seasonal_index": "training.models.seasonal_index:SeasonalIndex",
    "analogues": "training.models.analogues:Analogues",
    "xgboost": "training.models.xgb:XGBoostGlobal",
    "xgboost_individual": "training.models.xgb:XGBoostIndividual",
    "ridge": "training.models.ridge:RidgeGlobal",
    "lstm": "training.models.lstm:LSTMForecaster",
    "tft": "training.models.tft:TFTForecaster",
    "autots": "training.models.autots_model:AutoTSForecaster",
    "autoets": "training.models.stats:AutoETSForecaster",
    "autotheta": "training.models.stats:AutoThetaForecaster",
    "theta": "training.models.stats:ThetaForecaster",
    "mstl": "training.models.stats:MSTLForecaster",
    "croston_sba": "training.models.stats:CrostonSBAForecaster",
    "tsb": "training.models.stats:TSBForecaster",
    "adida": "training.models.stats:ADIDAForecaster",
    "imapa": "training.models.stats:IMAPAForecaster",
    "customer_demand": "training.models.customer_demand:CustomerDemand",
    "blend": "training.blend.model:Blend",
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
    "Forecaster",
    "ModelSettings",
    "NotFittedError",
    "available",
    "create",
    "model_class",
    "register",
]
