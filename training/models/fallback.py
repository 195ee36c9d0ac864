"""Fallback forecasts for the series a model cannot forecast itself (too short, left out).

The fallback is a registered baseline fitted on the same frame (alias "fallback"); its rows
replace the model's for the listed series, so no series is ever dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from darkhorse.core.schema import DS, ID, Y, quantile_columns
from training.models.base import Forecaster

FallbackName = Literal["statquant", "moving_average", "naive", "seasonal_naive"]


def fit_fallback(name: str, df: pd.DataFrame) -> Forecaster:
    from training.models import create

    return create(name, alias="fallback").fit(df[[ID, DS, Y]])


def fill_from_fallback(
    fallback: Forecaster,
    series: Sequence[str],
    last_ds: pd.Series,
    h: int,
    quantiles: list[float],
    point: np.ndarray,
    qvals: np.ndarray,
) -> None:
    """Overwrite rows of `point` (n, h) and `qvals` (n, h, q), ordered like `last_ds`, with the
    fallback's forecasts for those of `series` that `last_ds` holds."""
    series = pd.Index(last_ds.index).intersection(pd.Index(series).astype(last_ds.index.dtype))
    if not len(series):
        return
    fb = fallback.predict(h=h, quantiles=quantiles, ids=list(series))
    rows = pd.Index(last_ds.index).get_indexer(fb[ID].to_numpy())
    steps = ((fb[DS] - last_ds.loc[fb[ID]].to_numpy()).dt.days // 7 - 1).to_numpy()
    point[rows, steps] = fb[fallback.alias].to_numpy()
    for j, col in enumerate(quantile_columns(fallback.alias, quantiles)):
        qvals[rows, steps, j] = fb[col].to_numpy()
