"""The LSTM load forecaster: a stacked LSTM over level-scaled windows with quantile outputs.

One global network over every series (windows from `windows.Windows`): the input is the last
`seq_len` intervals over the window's level, standard-scaled with a mean and spread fitted on
the training windows only; the last hidden state of `layers` stacked LSTM layers (dropout
between them) feeds one linear layer with `horizon x levels` outputs: each step's quantiles at
the trained `levels`, learned with the pinball loss (direct multi-step), as corrections to the
step's seasonal naive (the same phase a day back, scaled alike: a skip connection, so the
network need not learn to copy the season across its sequence). The point is the
median; other levels asked at predict time are interpolated between the trained ones.

Training windows have every target before the held-out window (`max(horizon, day)` intervals
at the end, as for the XGBoost member); their latest 15% of origins are the early-stopping
set (training stops after `patience` epochs without improvement and keeps the best epoch).
A small grid over `seq_days` x `hidden` x `layers` is searched; the configuration with the
lowest early-stopping loss is kept. `validation()` forecasts the last `horizon` intervals from
the origin before them, unseen by every fit. Runs on a GPU when present (`training.device`).
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from training.device import cuda_available
from training.load.frame import LoadFrameError
from training.load.members import LoadForecaster, LoadSettings
from training.load.windows import Windows, training_origins

LEVELS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98)


class LSTMLoadSettings(LoadSettings):
    seq_days: list[float] = Field(default_factory=lambda: [1.0, 2.0], min_length=1,
                                  description="Grid: input length in days of the grain.")
    hidden: list[int] = Field(default_factory=lambda: [32], min_length=1, description="Grid: hidden units.")
    layers: list[int] = Field(default_factory=lambda: [2], min_length=1, description="Grid: stacked LSTM layers.")
    max_seq_len: int = Field(336, ge=2, description="Input length cap in intervals (a long day at 5 min).")
    dropout: float = Field(0.1, ge=0, lt=1, description="Between stacked layers.")
    epochs: int = Field(30, ge=1)
    patience: int = Field(3, ge=1, description="Epochs without a better early-stopping loss before stopping.")
    batch_size: int = Field(64, ge=8)
    learning_rate: float = Field(2e-3, gt=0)
    max_windows: int = Field(20_000, ge=50, description="Training windows sampled (latest 15% early-stopping).")
    threads: int = Field(1, ge=1, description="CPU threads of torch.")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 0


def _net(hidden: int, layers: int, dropout: float, outputs: int):
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(1, hidden, num_layers=layers, batch_first=True,
                                      dropout=dropout if layers > 1 else 0.0)
            self.head = torch.nn.Linear(hidden, outputs)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out[:, -1, :])

    return Net()


class LSTMLoad(LoadForecaster):
    Settings = LSTMLoadSettings
    name = "lstm"
    conditional = True

    def _device(self) -> str:
        s = self.settings.device
        return "cuda" if s == "cuda" or (s == "auto" and cuda_available()) else "cpu"

    def _inputs(self, win: Windows, rows: np.ndarray, t: np.ndarray, seq: int) -> tuple[np.ndarray, np.ndarray]:
        level = win.level(rows, t)
        x = win.block(rows, t, seq) / level[:, None]
        x = np.where(np.isnan(x), 1.0, x)  # before a series' start: its level
        return ((x - self.mu_) / self.sd_).astype("float32"), level

    def _fit(self, df: pd.DataFrame) -> None:
        import torch

        s, h = self.settings, self.horizon_
        torch.manual_seed(s.seed)
        torch.set_num_threads(s.threads)
        rng = np.random.default_rng(s.seed)
        day = self.periods_["day"]
        win = Windows(self.series_, day=day)
        W = win.width
        cut = W - max(h, day)
        min_history = min(day, max(1, int(win.lengths.min()) // 4))
        rows, t = training_origins(win, cut=cut - h + 1, horizon=h, min_history=min_history)  # t + h <= cut - 1
        if len(rows) < 10:
            raise LoadFrameError(f"load model {self.alias!r}: only {len(rows)} training windows before the held-out ones")
        if len(rows) > s.max_windows:
            pick = np.sort(rng.choice(len(rows), s.max_windows, replace=False))
            rows, t = rows[pick], t[pick]
        late = t >= np.quantile(t, 0.85)
        if late.all() or not late.any():
            late = rng.random(len(t)) < 0.15
        target_idx = t[:, None] + np.arange(1, h + 1)[None, :]
        # the scaler: fitted on the training windows' inputs only
        longest = max(self._seq(d) for d in s.seq_days)
        level = win.level(rows[~late], t[~late])
        ref = win.block(rows[~late], t[~late], longest) / level[:, None]
        self.mu_ = float(np.nanmean(ref))
        self.sd_ = float(np.nanstd(ref)) or 1.0
        device = self._device()
        best = (math.inf, None)
        self.grid_: list[dict[str, Any]] = []
        for seq_days, hidden, layers in itertools.product(s.seq_days, s.hidden, s.layers):
            seq = self._seq(seq_days)
            x, lv = self._inputs(win, rows, t, seq)
            y = ((win.mat[rows[:, None], target_idx] / lv[:, None] - self.mu_) / self.sd_).astype("float32")
            y -= self._base(win, rows, t, lv)
            net, loss, epochs = self._train(x[~late], y[~late], x[late], y[late], hidden, layers, device)
            self.grid_.append({"seq_len": seq, "hidden": hidden, "layers": layers, "val_loss": loss, "epochs": epochs})
            if loss < best[0]:
                best = (loss, (net, seq))
        self.net_, self.seq_ = best[1]
        self.config_ = min(self.grid_, key=lambda g: g["val_loss"])
        # the blend's held-out window: origin h intervals before the end
        vt = np.full(len(self.series_), W - 1 - h)
        self._holdout = np.where((vt >= win.first)[:, None], self._forecast(win, vt)[:, :, LEVELS.index(0.5)], np.nan)
        self._refresh(df)
        self._holdout_ready = True

    def _seq(self, days: float) -> int:
        return int(min(max(2, round(days * self.periods_["day"])), self.settings.max_seq_len))

    def _train(self, x, y, xv, yv, hidden: int, layers: int, device: str):
        import torch

        s = self.settings
        q = torch.tensor(LEVELS, dtype=torch.float32, device=device)
        net = _net(hidden, layers, s.dropout, y.shape[1] * len(LEVELS)).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=s.learning_rate)
        X, Y = torch.from_numpy(x[:, :, None]).to(device), torch.from_numpy(y).to(device)
        XV, YV = torch.from_numpy(xv[:, :, None]).to(device), torch.from_numpy(yv).to(device)

        def pinball(pred, target):
            d = target[:, :, None] - pred.view(len(pred), target.shape[1], len(LEVELS))
            return torch.maximum(q * d, (q - 1) * d).mean()

        best, best_state, since, epochs = math.inf, None, 0, 0
        gen = torch.Generator().manual_seed(s.seed)
        for epoch in range(s.epochs):
            net.train()
            order = torch.randperm(len(X), generator=gen).to(device)
            for i in range(0, len(X), s.batch_size):
                b = order[i:i + s.batch_size]
                opt.zero_grad()
                loss = pinball(net(X[b]), Y[b])
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
            net.eval()
            with torch.no_grad():
                val = sum(pinball(net(XV[i:i + 4096]), YV[i:i + 4096]).item() * len(XV[i:i + 4096])
                          for i in range(0, len(XV), 4096)) / max(len(XV), 1)
            epochs = epoch + 1
            if val < best - 1e-6:
                best, since = val, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                since += 1
                if since >= s.patience:
                    break
        net.load_state_dict(best_state)
        return net.to("cpu").eval(), best, epochs

    def _base(self, win: Windows, rows: np.ndarray, t: np.ndarray, level: np.ndarray) -> np.ndarray:
        """(rows, horizon): the scaled seasonal naive of every step (the latest interval of the
        target's phase a day back, the level where there is none): the network learns the
        correction to it."""
        day = self.periods_["day"]
        k = np.arange(1, self.horizon_ + 1)
        cols = t[:, None] + k[None, :] - day * np.ceil(k / day).astype(np.int64)[None, :]
        base = win.at(rows[:, None], cols) / level[:, None]
        return ((np.where(np.isnan(base), 1.0, base) - self.mu_) / self.sd_).astype("float32")

    def _forecast(self, win: Windows, t: np.ndarray) -> np.ndarray:
        """(series, horizon, levels) from origin columns `t`, in load units."""
        import torch

        rows = np.arange(len(t))
        t = np.maximum(t, 0)
        x, level = self._inputs(win, rows, t, self.seq_)
        with torch.no_grad():
            out = self.net_(torch.from_numpy(x[:, :, None])).numpy()
        out = out.reshape(len(t), self.horizon_, len(LEVELS)) + self._base(win, rows, t, level)[:, :, None]
        out = out * self.sd_ + self.mu_
        return np.maximum(out, 0.0) * level[:, None, None]

    def _refresh(self, df: pd.DataFrame) -> None:
        win = Windows(self.series_, day=self.periods_["day"])
        self.out_ = np.sort(self._forecast(win, np.full(len(self.series_), win.width - 1)), axis=2)
        self._holdout_ready = False

    def _holdout_points(self) -> np.ndarray:
        return self._holdout if getattr(self, "_holdout_ready", False) else super()._holdout_points()

    def _predict(self, h: int, quantiles: list[float]) -> tuple[np.ndarray, np.ndarray]:
        out = self.out_[:, :h, :]
        point = out[:, :, LEVELS.index(0.5)]
        levels = np.asarray(LEVELS)
        qvals = np.empty((*out.shape[:2], len(quantiles)))
        for j, q in enumerate(quantiles):  # linear between the trained levels, flat beyond them
            i = int(np.clip(np.searchsorted(levels, q), 1, len(levels) - 1))
            w = float(np.clip((q - levels[i - 1]) / (levels[i] - levels[i - 1]), 0.0, 1.0))
            qvals[:, :, j] = (1 - w) * out[:, :, i - 1] + w * out[:, :, i]
        return point, qvals
