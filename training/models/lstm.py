"""LSTM forecaster (lightning): one global network over every series, quantile outputs.

Training samples are windows of the long frame: for an origin week `t` of a series, the
`lookback` weeks ending at `t` (left-padded with zeros and a 0 "observed" flag when the series
is younger) and the targets `t+1 .. t+horizon` (weeks past the series' end are masked out of
the loss, so the most recent origins still teach the network). Inputs per week: log1p(units)
minus the window's mean log1p level (the level itself is a static input: a scale-free network
that still knows the size of the item), the observed flag, the annual phase (sine, cosine) and,
when `use_covariates`, the Feast activity covariates (log1p if never negative, standardized with
means and deviations fitted on the training series' rows only). The future weeks' phases enter
the output head (known calendar).

The head emits quantiles on a fixed grid (non-crossing by construction) of log1p(units) minus
the level, trained with the pinball loss; any asked level is interpolated on that grid and the
point forecast is the median. Early stopping watches the pinball loss of a validation split (a
random `val_fraction` of the series, all their windows), and the best epoch's weights are kept.
Lightning picks a GPU when present (`accelerator="auto"`; `DARKHORSE_DEVICE=cpu` overrides);
prediction runs on the CPU.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from pydantic import Field
from torch import nn

from darkhorse.core.schema import DS, Y
from training.device import TORCH_THREADS_HELP
from training.models.base import ModelError, ModelSettings
from training.models.torch_common import (
    QUANTILE_GRID,
    Standardizer,
    TorchForecaster,
    fit_lightning,
    gather_windows,
    interpolate_quantiles,
    monotone_quantiles,
    numeric_covariates,
    pinball_loss,
    series_bounds,
    torch_run,
)

log = logging.getLogger(__name__)

DAYS_PER_YEAR = 365.2425


class LSTMSettings(ModelSettings):
    lookback: int = Field(26, ge=2, le=156, description="Weeks of history per window.")
    hidden_size: int = Field(32, ge=1, le=1024)
    num_layers: int = Field(1, ge=1, le=4)
    head_size: int = Field(64, ge=1, le=4096, description="Width of the output head's hidden layer.")
    dropout: float = Field(0.1, ge=0, lt=1)
    learning_rate: float = Field(5e-3, gt=0, le=1)
    weight_decay: float = Field(0.0, ge=0)
    batch_size: int = Field(512, ge=1)
    max_epochs: int = Field(20, ge=1)
    patience: int = Field(3, ge=1, description="Epochs without a better validation loss before stopping.")
    max_windows_per_epoch: int = Field(20_000, ge=1, description="Training windows drawn per epoch.")
    max_val_windows: int = Field(20_000, ge=1)
    val_fraction: float = Field(0.1, ge=0, lt=0.9, description="Share of series held out for early stopping.")
    train_weeks: int = Field(104, ge=1, description="Origins from the last N weeks are training windows.")
    use_covariates: bool = Field(True, description="Feed the Feast activity covariates.")
    gradient_clip: float = Field(1.0, ge=0)
    n_threads: int = Field(0, ge=0, description=TORCH_THREADS_HELP)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 0


class _Net(nn.Module):
    def __init__(self, n_inputs: int, n_static: int, horizon: int, s: LSTMSettings) -> None:
        super().__init__()
        self.horizon, self.n_levels = horizon, len(QUANTILE_GRID)
        self.lstm = nn.LSTM(
            n_inputs, s.hidden_size, num_layers=s.num_layers, batch_first=True,
            dropout=s.dropout if s.num_layers > 1 else 0.0,
        )
        self.head = nn.Sequential(
            nn.Linear(s.hidden_size + n_static + 2 * horizon, s.head_size),
            nn.ReLU(),
            nn.Dropout(s.dropout),
            nn.Linear(s.head_size, horizon * self.n_levels),
        )

    def forward(self, x: torch.Tensor, static: torch.Tensor, future: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        z = torch.cat([out[:, -1], static, future.flatten(1)], dim=1)
        raw = self.head(z).view(-1, self.horizon, self.n_levels)
        return monotone_quantiles(raw)


class _Module(pl.LightningModule):
    def __init__(self, net: _Net, s: LSTMSettings) -> None:
        super().__init__()
        self.net, self.lr, self.wd = net, s.learning_rate, s.weight_decay
        self.register_buffer("levels", torch.tensor(QUANTILE_GRID, dtype=torch.float32), persistent=False)

    def _loss(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        pred = self.net(b["x"], b["static"], b["future"])
        return pinball_loss(pred, b["target"], self.levels, b["tmask"])

    def training_step(self, batch, _):
        loss = self._loss(batch)
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(batch["x"]))
        return loss

    def validation_step(self, batch, _):
        self.log("val_loss", self._loss(batch), on_step=False, on_epoch=True, batch_size=len(batch["x"]))

    def configure_optimizers(self):
        return torch.optim.Adam(self.net.parameters(), lr=self.lr, weight_decay=self.wd)


class _Windows(torch.utils.data.Dataset):
    """Windows over a feature table; `__getitem__` takes a list of window numbers (one batch)."""

    def __init__(self, table: np.ndarray, days: np.ndarray, origins: np.ndarray, starts: np.ndarray,
                 ends: np.ndarray, lookback: int, horizon: int) -> None:
        self.table = np.vstack([table, np.zeros((1, table.shape[1]))]).astype("float32")
        self.days = days
        self.origins, self.starts, self.ends = origins, starts, ends
        self.lookback, self.horizon = lookback, horizon

    def __len__(self) -> int:
        return len(self.origins)

    def __getitem__(self, batch: list[int] | np.ndarray) -> dict[str, torch.Tensor]:
        b = np.asarray(batch, dtype="int64")
        o, st, en = self.origins[b], self.starts[b], self.ends[b]
        idx, real = gather_windows(len(self.table) - 1, o, st, self.lookback)
        x = self.table[idx]  # (B, L, F); column 0 is log1p(units)
        n_obs = real.sum(axis=1)
        level = (x[:, :, 0] * real).sum(axis=1) / np.maximum(n_obs, 1.0)
        x[:, :, 0] = (x[:, :, 0] - level[:, None]) * real
        x = np.concatenate([x, real[:, :, None]], axis=2)
        age = np.log1p(o - st + 1.0)
        static = np.stack([level, age / 4.0], axis=1).astype("float32")
        steps = np.arange(1, self.horizon + 1)
        fdays = self.days[o][:, None] + 7 * steps[None, :]
        phase = 2 * np.pi * (fdays % DAYS_PER_YEAR) / DAYS_PER_YEAR
        future = np.stack([np.sin(phase), np.cos(phase)], axis=2).astype("float32")
        tidx = o[:, None] + steps[None, :]
        tmask = (tidx <= en[:, None]).astype("float32")
        target = np.where(tmask > 0, self.table[np.minimum(tidx, len(self.table) - 1), 0], 0.0) - level[:, None]
        return {
            "x": torch.from_numpy(x),
            "static": torch.from_numpy(static),
            "future": torch.from_numpy(future),
            "target": torch.from_numpy((target * tmask).astype("float32")),
            "tmask": torch.from_numpy(tmask),
            "level": torch.from_numpy(level.astype("float32")),
        }


def _loader(data: _Windows, batch_size: int, *, shuffle: bool, generator: torch.Generator, max_windows: int):
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

    n = len(data)
    if shuffle:
        sampler = RandomSampler(range(n), num_samples=min(n, max_windows), generator=generator)
    else:
        keep = np.sort(np.random.default_rng(0).permutation(n)[:max_windows]) if n > max_windows else np.arange(n)
        sampler = keep.tolist() if n > max_windows else SequentialSampler(range(n))
    return DataLoader(data, batch_size=None, sampler=BatchSampler(sampler, batch_size, drop_last=False))


class LSTMForecaster(TorchForecaster):
    """Global LSTM over windows of every series; quantiles by the pinball loss."""

    model_name = "lstm"
    Settings = LSTMSettings
    global_model = True
    uses_covariates = True
    fixed_horizon = True

    @classmethod
    def test_params(cls) -> dict[str, Any]:
        return {"lookback": 8, "hidden_size": 8, "head_size": 16, "max_epochs": 2, "batch_size": 128,
                "max_windows_per_epoch": 512, "max_val_windows": 256, "n_threads": 2}

    # ------------------------------------------------------------------ features
    def _table(self, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        ylog = np.log1p(np.clip(df[Y].to_numpy(dtype="float64"), 0.0, None))
        days = (df[DS].to_numpy().astype("datetime64[D]").astype("int64")).astype("float64")
        phase = 2 * np.pi * (days % DAYS_PER_YEAR) / DAYS_PER_YEAR
        cols = [ylog, np.sin(phase), np.cos(phase)]
        table = np.column_stack(cols)
        if self.scaler_.columns:
            table = np.hstack([table, self.scaler_.transform(df)])
        return table, days

    def _fit(self, df: pd.DataFrame) -> None:
        s = self.settings
        starts, ends = series_bounds(df)
        n_series = len(starts)
        rng = np.random.default_rng(s.seed)
        n_val = round(s.val_fraction * n_series) if n_series >= 10 else 0
        val_series = np.zeros(n_series, bool)
        val_series[rng.permutation(n_series)[:n_val]] = True
        row_series = np.repeat(np.arange(n_series), ends - starts + 1)
        covs = numeric_covariates(df) if s.use_covariates else []
        self.scaler_ = Standardizer.fit(df[~val_series[row_series]], covs)
        table, days = self._table(df)
        # origins: every row with at least one known week after it, within the last train_weeks
        last_origin = df[DS].max() - pd.Timedelta(weeks=1)
        recent = (df[DS] >= last_origin - pd.Timedelta(weeks=s.train_weeks)).to_numpy()
        origins = np.flatnonzero((np.arange(len(df)) < ends[row_series]) & recent)
        if len(origins) == 0:
            raise ModelError("lstm: no training window (every series has a single week)")
        o_series = row_series[origins]
        is_val = val_series[o_series]

        def windows(sel: np.ndarray) -> _Windows:
            o = origins[sel]
            return _Windows(table, days, o, starts[row_series[o]], ends[row_series[o]], s.lookback, self.horizon_)

        n_inputs = table.shape[1] + 1
        with torch_run(s.n_threads, s.seed) as gen:
            self.net_ = _Net(n_inputs, 2, self.horizon_, s)
            module = _Module(self.net_, s)
            train_loader = _loader(windows(~is_val), s.batch_size, shuffle=True, generator=gen,
                                   max_windows=s.max_windows_per_epoch)
            val_loader = (
                _loader(windows(is_val), s.batch_size * 4, shuffle=False, generator=gen, max_windows=s.max_val_windows)
                if is_val.any() else None
            )
            self.fit_info_ = fit_lightning(
                module, train_loader, val_loader, max_epochs=s.max_epochs, patience=s.patience,
                device=s.device, gradient_clip=s.gradient_clip or None,
            )
        self.fit_info_.update({"train_windows": int((~is_val).sum()), "val_windows": int(is_val.sum())})
        # what prediction needs: each series' last `lookback` rows of the feature table
        self._keep_tail(table, days, starts, ends)

    def _keep_tail(self, table: np.ndarray, days: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> None:
        L = self.settings.lookback
        first = np.maximum(starts, ends - L + 1)
        rows = np.concatenate([np.arange(a, b + 1) for a, b in zip(first, ends, strict=True)])
        lengths = ends - first + 1
        self.tail_table_ = table[rows].astype("float32")
        self.tail_days_ = days[rows]
        self.tail_starts_ = np.r_[0, np.cumsum(lengths)[:-1]].astype("int64")
        self.tail_ends_ = (np.cumsum(lengths) - 1).astype("int64")
        self.tail_age_ = (ends - starts + 1).astype("int64")  # weeks of history per series

    # ------------------------------------------------------------------ predict
    def _predict(self, h: int, quantiles: list[float]) -> pd.DataFrame:
        s = self.settings
        data = _Windows(self.tail_table_, self.tail_days_, self.tail_ends_, self.tail_starts_,
                        self.tail_ends_, s.lookback, self.horizon_)
        outs = []
        with torch_run(s.n_threads, s.seed), torch.no_grad():
            self.net_.eval()
            for a in range(0, len(data), 2048):
                b = data[np.arange(a, min(a + 2048, len(data)))]
                # the window's age is the series' whole history, not the tail kept for prediction
                b["static"][:, 1] = torch.from_numpy(np.log1p(self.tail_age_[a:a + len(b["x"])]) / 4.0).float()
                q = self.net_(b["x"], b["static"], b["future"]) + b["level"][:, None, None]
                outs.append(q.numpy().astype("float64"))
        grid = np.expm1(np.concatenate(outs)[:, :h, :])
        qvals = interpolate_quantiles(grid, QUANTILE_GRID, quantiles)
        point = interpolate_quantiles(grid, QUANTILE_GRID, [0.5])[:, :, 0]
        return self._frame(h, quantiles, point, qvals)

    # ------------------------------------------------------------------ persistence
    def _export(self) -> tuple[dict[str, Any], dict[str, np.ndarray], dict]:
        info = {"scaler": self.scaler_.to_json(), "fit_info": self.fit_info_, "n_inputs": int(self.tail_table_.shape[1] + 1)}
        arrays = {
            "tail_table": self.tail_table_, "tail_days": self.tail_days_, "tail_starts": self.tail_starts_,
            "tail_ends": self.tail_ends_, "tail_age": self.tail_age_,
        }
        return info, arrays, {}

    def _import(self, info, arrays, states, subs) -> None:
        self.scaler_ = Standardizer.from_json(info["scaler"])
        self.fit_info_ = info["fit_info"]
        self.tail_table_ = arrays["tail_table"]
        self.tail_days_ = arrays["tail_days"]
        self.tail_starts_ = arrays["tail_starts"]
        self.tail_ends_ = arrays["tail_ends"]
        self.tail_age_ = arrays["tail_age"]
        self.net_ = _Net(int(info["n_inputs"]), 2, self.horizon_, self.settings)
        self.net_.load_state_dict(states["net"])
        self.net_.eval()
