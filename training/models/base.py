"""The one model protocol (sktime/Nixtla style): settings in the constructor, data in `fit`.

Public `fit` / `predict` validate inputs and outputs; subclasses implement `_fit` / `_predict`:

* `_fit(df)`: `df` is a validated, sorted copy of `unique_id, ds, y` (+ covariates);
  the horizon the caller will ask for is data too: `fit(df, horizon=H)` stores it as
  `self.horizon_` (a model with the `fixed_horizon` capability is trained for it and refuses
  `fit` without it, and `predict` beyond it);
* `_predict(h, quantiles)`: returns `unique_id, ds, <alias>, <alias>-qNN...` for the `h` weeks after
  each series' last training week. The base class checks the rows, clips at 0 and sorts quantiles;
* `_predict_some(h, quantiles, plan, only)` (optional): the same for the series `only`
  (`predict(ids=...)`); by default every series is predicted and the others dropped. A model
  whose forecast is arrays computed series by series (`RowwiseForecaster`) implements
  `_arrays(h, quantiles, only)` instead, and a forecast of a few series costs theirs only.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from darkhorse.core.errors import DarkHorseError
from darkhorse.core.schema import (
    DS,
    ID,
    SchemaError,
    check_quantiles,
    future_index,
    quantile_columns,
    validate_forecast,
    validate_long,
)

FORMAT_VERSION = 1


class ModelSettings(BaseModel):
    """Hyperparameters of a model; subclasses declare fields with defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NotFittedError(DarkHorseError, RuntimeError):
    pass


class ModelError(DarkHorseError, ValueError):
    """A model cannot be built or fitted as asked (invalid params, a history too short for it);
    the message names the model."""


class Forecaster:
    """Base class of every forecaster. Register subclasses with `training.models.register`."""

    Settings: ClassVar[type[ModelSettings]] = ModelSettings
    # capabilities
    probabilistic: ClassVar[bool] = True
    global_model: ClassVar[bool] = False
    uses_covariates: ClassVar[bool] = False
    uses_future_covariates: ClassVar[bool] = False
    # reads the series' groups given to `fit` (training.groups: composite-id parts, category)
    uses_groups: ClassVar[bool] = False
    # trained for the horizon given to `fit` (direct multi-step models): predicts up to it only
    fixed_horizon: ClassVar[bool] = False
    model_name: ClassVar[str] = "forecaster"

    def __init__(self, *, alias: str | None = None, **params: Any) -> None:
        try:
            self.settings = self.Settings(**params)
        except ValidationError as e:
            errs = "; ".join(
                f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors()
            )
            raise ModelError(f"model {self.model_name!r}: invalid params: {errs}") from None
        self.alias = alias or self.model_name
        self.fitted_ = False

    @classmethod
    def test_params(cls) -> dict[str, Any]:
        """Tiny settings for the contract test and CI smoke runs (seconds, not minutes)."""
        return {}

    # ------------------------------------------------------------------ public API
    def fit(
        self, df: pd.DataFrame, *, horizon: int | None = None, future: pd.DataFrame | None = None,
        groups: pd.DataFrame | None = None,
    ) -> Forecaster:
        """Fit on `df`. `future`: known-future covariates (`unique_id, ds` + columns that `df`
        also has) for the weeks after each series' last week; a model with the
        `uses_future_covariates` capability reads those columns at the target week and keeps
        `future` for `predict`, the others ignore it. `groups`: the series' groups
        (`training.groups`: `unique_id` + one text column per grouping), read by a model with the
        `uses_groups` capability."""
        if horizon is not None and int(horizon) < 1:
            raise SchemaError(f"model {self.alias!r}: horizon must be at least 1, got {horizon}")
        if self.fixed_horizon and horizon is None:
            raise ValueError(
                f"model {self.alias!r} is trained for a fixed horizon: call fit(df, horizon=H)"
            )
        self.horizon_ = None if horizon is None else int(horizon)
        data = validate_long(df)
        self.last_ds_ = data.groupby(ID, sort=True)[DS].max()
        self.n_series_ = len(self.last_ds_)
        self.future_ = None
        if future is not None and self.uses_future_covariates:
            self.future_ = self._check_future(future, data, self.horizon_ or 1)
        self.groups_ = groups if self.uses_groups else None
        self._fit(data)
        self.fitted_ = True
        return self

    def predict(
        self, *, h: int, quantiles: Sequence[float] = (0.1, 0.5, 0.9), future: pd.DataFrame | None = None,
        ids: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """`h` weeks after each series' last week. `future`: other known-future values of the
        columns given to `fit` (a new price plan) for this call; default: those given to `fit`
        (with `ids`, it needs rows for those series only). `ids`: only these series (a what-if
        answer for a few items), the same forecast as theirs in a prediction of every series."""
        h, qs, only, plan = self._asked_for(h, quantiles, future, ids)
        if only is not None:
            out = self._predict_some(h, qs, plan, only)
        elif plan is not None:
            out = self._predict_future(h, qs, plan)
        else:
            out = self._predict(h, qs)
        return self._checked(out, h, qs, only)

    def _asked_for(
        self, h: int, quantiles: Sequence[float], future: pd.DataFrame | None, ids: Sequence[str] | None
    ) -> tuple[int, list[float], pd.Index | None, pd.DataFrame | None]:
        """`predict`'s arguments checked: the horizon, the levels, the series `ids` names (None:
        every series) and the plan to read (the fitted one unless `future` is given; None for a
        model fitted without one)."""
        if not self.fitted_:
            raise NotFittedError(f"model {self.alias!r} must be fitted before predict")
        if int(h) < 1:
            raise SchemaError(f"h must be at least 1, got {h}")
        horizon = getattr(self, "horizon_", None)
        if self.fixed_horizon and horizon is not None and int(h) > horizon:
            raise ValueError(f"model {self.alias!r} was trained for horizons up to {horizon}, asked {h}")
        qs = check_quantiles(quantiles)
        only = None if ids is None else self._series(ids)
        fitted_future = getattr(self, "future_", None)
        plan = None
        if fitted_future is not None:
            plan = fitted_future if future is None else self._check_future(future, None, int(h), only)
        return int(h), qs, only, plan

    def _checked(self, out: pd.DataFrame, h: int, qs: list[float], only: pd.Index | None) -> pd.DataFrame:
        """A forecast checked as `predict` hands it on: the series' next `h` weeks, every level."""
        return validate_forecast(out, model=self.alias, quantiles=qs, expected=future_index(self._last(only), h))

    def _last(self, only: pd.Index | None) -> pd.Series:
        """Each series' last week, of the series `only` when given (every series otherwise)."""
        return self.last_ds_ if only is None else self.last_ds_.loc[only]

    def _series(self, ids: Sequence[str]) -> pd.Index:
        """The fitted series named by `ids`, in the fitted order, each once."""
        if not len(ids):
            raise SchemaError(f"model {self.alias!r}: ids names no series (leave it out for every series)")
        known = self.last_ds_.index
        asked = pd.Index(ids).astype(known.dtype)
        missing = asked[known.get_indexer(asked) < 0]
        if len(missing):
            raise SchemaError(f"model {self.alias!r}: {len(missing)} series it was not fitted on "
                              f"(first: {missing[0]!r})")
        return known[np.unique(known.get_indexer(asked))]

    def _predict_some(self, h: int, quantiles: list[float], plan: pd.DataFrame | None, only: pd.Index) -> pd.DataFrame:
        """`_predict` / `_predict_future` for the series `only` (`plan`: rows for those series at
        least); this default predicts every series (the others on the fitted plan) and keeps
        `only`'s rows. Models whose prediction costs per series override it."""
        if plan is None:
            out = self._predict(h, quantiles)
        else:
            if plan is not self.future_:
                fitted = self.future_
                plan = pd.concat([fitted[~fitted[ID].isin(only)], plan], ignore_index=True)
            out = self._predict_future(h, quantiles, plan)
        return out[out[ID].isin(only)]

    def params(self) -> dict[str, Any]:
        return self.settings.model_dump(mode="json")

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the fitted model to folder `path` (model.pkl + meta.json)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._write_meta(path)
        with open(path / "model.pkl", "wb") as f:
            pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)
        return path

    def _write_meta(self, path: Path, **extra: Any) -> None:
        """`meta.json`: format version, model, alias, settings, class (+ `extra`)."""
        meta = {
            "format_version": FORMAT_VERSION,
            "model": self.model_name,
            "alias": self.alias,
            "params": self.params(),
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            **extra,
        }
        (path / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True))

    @staticmethod
    def _read_meta(path: Path) -> dict[str, Any]:
        meta = json.loads((path / "meta.json").read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: model format {meta.get('format_version')} is not supported")
        return meta

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        """Read a model written by `save` (a DarkHorse artefact: only load files you trust)."""
        path = Path(path)
        cls._read_meta(path)
        with open(path / "model.pkl", "rb") as f:
            model = pickle.load(f)
        if not isinstance(model, Forecaster):
            raise ValueError(f"{path}: not a DarkHorse model")
        return model

    def _frame(
        self, h: int, quantiles: list[float], point: np.ndarray, qvals: np.ndarray, only: pd.Index | None = None
    ) -> pd.DataFrame:
        """Output frame from arrays: point (n_series, h), qvals (n_series, h, n_quantiles); the
        rows are every series' in the fitted order, or `only`'s."""
        out = future_index(self._last(only), h)
        cols = {self.alias: np.asarray(point, dtype="float64").reshape(-1)}
        for j, c in enumerate(quantile_columns(self.alias, quantiles)):
            cols[c] = np.asarray(qvals[:, :, j], dtype="float64").reshape(-1)
        return pd.concat([out, pd.DataFrame(cols, index=out.index)], axis=1)  # one block, not a column at a time

    # ------------------------------------------------------------------ known-future covariates
    def _check_future(
        self, future: pd.DataFrame, data: pd.DataFrame | None, h: int, only: pd.Index | None = None
    ) -> pd.DataFrame:
        """The rows of `future` for the `h` weeks after each series' last week (of the series
        `only`, when given), checked: the columns of the fit (or, at fit, numeric columns `data`
        also has), every week present, finite values. Rows beyond the `h` weeks are dropped,
        never read."""
        if not isinstance(future, pd.DataFrame) or ID not in future or DS not in future:
            raise SchemaError(f"model {self.alias!r}: future must be a frame with {ID}, {DS} and covariates")
        if data is None:
            cols = list(self.future_.columns.drop([ID, DS]))
            missing = [c for c in cols if c not in future]
            if missing:
                raise SchemaError(f"model {self.alias!r}: future lacks the covariates {missing} it was fitted with")
        else:
            cols = [c for c in future.columns if c not in (ID, DS)]
            absent = [c for c in cols if c not in data]
            if not cols or absent:
                raise SchemaError(
                    f"model {self.alias!r}: future needs covariate columns that the history also has "
                    f"(missing from the history: {absent})"
                )
        grid = future_index(self._last(only), h)
        f = future[[ID, DS, *cols]].copy()
        ds = pd.to_datetime(f[DS])
        f[DS] = (ds.dt.tz_convert("UTC").dt.tz_localize(None) if ds.dt.tz is not None else ds).astype("datetime64[ns]")
        f[ID] = f[ID].astype(grid[ID].dtype) if len(grid) else f[ID]
        out = grid.merge(f.drop_duplicates([ID, DS], keep="last"), on=[ID, DS], how="left")
        values = out[cols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype="float64")
        bad = ~np.isfinite(values)
        if bad.any():
            row = out.loc[bad.any(axis=1)].iloc[0]
            raise SchemaError(
                f"model {self.alias!r}: future has no finite value of {[c for c, b in zip(cols, bad.any(axis=0), strict=True) if b]} "
                f"for {int(bad.any(axis=1).sum())} of {len(out)} series-weeks (first: {row[ID]} {pd.Timestamp(row[DS]).date()})"
            )
        out[cols] = values
        return out

    def _predict_future(self, h: int, quantiles: list[float], future: pd.DataFrame) -> pd.DataFrame:
        """`_predict` with known-future values (`unique_id, ds` + the fitted columns, every
        series x the `h` weeks); models that read them override it."""
        return self._predict(h, quantiles)

    # ------------------------------------------------------------------ to implement
    def _fit(self, df: pd.DataFrame) -> None:
        raise NotImplementedError

    def _predict(self, h: int, quantiles: list[float]) -> pd.DataFrame:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alias={self.alias!r}, {self.params()})"


class RowwiseForecaster(Forecaster):
    """A model whose forecast of each series is a row of arrays (statistics pooled over every
    series may enter each row): `_arrays(h, quantiles, only)` returns the point (k, h) and the
    quantiles (k, h, q) of the series `only` in the fitted order, or of every series when `only`
    is None. A forecast of a few series then computes their rows only, equal to their rows of a
    whole forecast. Such models read no plan."""

    def _arrays(self, h: int, quantiles: list[float], only: pd.Index | None) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _rows(self, only: pd.Index | None) -> slice | np.ndarray:
        """The positions of the series `only` in the fitted order (every row when None)."""
        return slice(None) if only is None else self.last_ds_.index.get_indexer(only)

    def _predict(self, h: int, quantiles: list[float]) -> pd.DataFrame:
        return self._frame(h, quantiles, *self._arrays(h, quantiles, None))

    def _predict_some(self, h: int, quantiles: list[float], plan: pd.DataFrame | None, only: pd.Index) -> pd.DataFrame:
        return self._frame(h, quantiles, *self._arrays(h, quantiles, only), only)


def row_nanquantile(a: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """`np.nanquantile(a, qs, axis=1).T` of a 2-D array, to the last bit, without a Python call
    per row: the rows holding the same number of finite values take one vectorised quantile
    (NaN where a row holds none)."""
    qs = np.asarray(qs, dtype="float64")
    out = np.full((a.shape[0], len(qs)), np.nan)
    finite = np.isfinite(a)
    counts = finite.sum(axis=1)
    for n in np.unique(counts[counts > 0]):
        rows = np.flatnonzero(counts == n)
        out[rows] = np.quantile(a[rows][finite[rows]].reshape(len(rows), n), qs, axis=1).T
    return out


def series_matrix(df: pd.DataFrame, column: str = "y") -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """Right-aligned matrix (series x weeks, NaN-padded on the left), lengths and ids.

    Every series' last week is in the last column, so the same column means the same offset
    from each series' own end.
    """
    ids = pd.Index(df[ID].unique())
    lengths = df.groupby(ID, sort=False).size().reindex(ids).to_numpy()
    width = int(lengths.max())
    mat = np.full((len(ids), width), np.nan)
    pos = df.groupby(ID, sort=False).cumcount().to_numpy()
    row = np.repeat(np.arange(len(ids)), lengths)
    col = width - np.repeat(lengths, lengths) + pos
    mat[row, col] = df[column].to_numpy(dtype="float64")
    return mat, lengths, ids
