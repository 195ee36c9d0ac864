"""Transformer hot-seller classifier: a sequence model over an item's recent weeks.

A sample is (item, origin week) with a known label; its input is the `window` weeks ending at
the origin (left-padded and masked when the item is younger): per week log1p(units) minus the
window's mean level, an observed flag, the annual phase and the Feast activity covariates
(standardized on the training items only), plus the level and the item's age as a summary token.
Network: input projection + learned positions, `n_layers` pre-norm transformer encoder layers
with padding masks, the summary token's output -> one logit.

Class imbalance (about 5% positives): the positive class is weighted by `pos_weight` (default
negatives / positives, capped at `max_pos_weight`) in the binary cross-entropy, or `loss="focal"`
uses the focal loss (gamma `focal_gamma`) instead; with weights the probabilities are mapped back
to the training base rate (prior shift), as for the XGBoost classifier. Early stopping watches
the validation loss of a random `val_fraction` of the items. The caller passes only labels known
at the origin (see `training.hot_sellers.score_origin`).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from darkhorse.core.schema import DS, ID, Y
from training.device import TORCH_THREADS_HELP
from training.models.base import ModelSettings


class TransformerClassifierSettings(ModelSettings):
    window: int = Field(16, ge=2, le=156, description="Weeks of history per sample.")
    d_model: int = Field(32, ge=4, le=512)
    n_heads: int = Field(4, ge=1, le=16)
    n_layers: int = Field(2, ge=1, le=8)
    ff_size: int = Field(64, ge=4, le=4096)
    dropout: float = Field(0.1, ge=0, lt=1)
    learning_rate: float = Field(1e-3, gt=0, le=1)
    weight_decay: float = Field(1e-4, ge=0)
    batch_size: int = Field(256, ge=1)
    max_epochs: int = Field(12, ge=1)
    patience: int = Field(2, ge=1)
    max_train_rows: int = Field(60_000, ge=100, description="Labelled samples drawn (newest origins kept first).")
    val_fraction: float = Field(0.15, ge=0, lt=0.9, description="Share of items held out for early stopping.")
    loss: Literal["weighted", "focal"] = "weighted"
    pos_weight: float | None = Field(None, gt=0, description="Weight of positives; None = negatives/positives.")
    max_pos_weight: float = Field(50.0, gt=0)
    focal_gamma: float = Field(2.0, ge=0)
    use_covariates: bool = True
    n_threads: int = Field(0, ge=0, description=TORCH_THREADS_HELP)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 0

    @model_validator(mode="after")
    def _heads(self) -> TransformerClassifierSettings:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        return self


def _build_net(n_inputs: int, s: TransformerClassifierSettings):
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(n_inputs, s.d_model)
            self.summary = nn.Linear(2, s.d_model)
            self.pos = nn.Parameter(torch.zeros(1, s.window + 1, s.d_model))
            nn.init.normal_(self.pos, std=0.02)
            layer = nn.TransformerEncoderLayer(
                s.d_model, s.n_heads, s.ff_size, s.dropout, batch_first=True, norm_first=True
            )
            self.encoder = nn.TransformerEncoder(layer, s.n_layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(s.d_model)
            self.out = nn.Linear(s.d_model, 1)

        def forward(self, x: torch.Tensor, mask: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
            tokens = torch.cat([self.summary(static).unsqueeze(1), self.proj(x)], dim=1) + self.pos
            pad = torch.cat([torch.zeros_like(mask[:, :1]), 1.0 - mask], dim=1).bool()
            h = self.encoder(tokens, src_key_padding_mask=pad)
            return self.out(self.norm(h[:, 0])).squeeze(-1)

    return Net()


def _module(net, s: TransformerClassifierSettings, pos_weight: float):
    import lightning.pytorch as pl
    import torch

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def _loss(self, b) -> torch.Tensor:
            logit = self.net(b["x"], b["mask"], b["static"])
            y = b["y"]
            if s.loss == "focal":
                p = torch.sigmoid(logit)
                ce = torch.nn.functional.binary_cross_entropy_with_logits(logit, y, reduction="none")
                pt = p * y + (1 - p) * (1 - y)
                return ((1 - pt) ** s.focal_gamma * ce).mean()
            w = torch.tensor(pos_weight, device=logit.device)
            return torch.nn.functional.binary_cross_entropy_with_logits(logit, y, pos_weight=w)

        def training_step(self, batch, _):
            loss = self._loss(batch)
            self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(batch["y"]))
            return loss

        def validation_step(self, batch, _):
            self.log("val_loss", self._loss(batch), on_step=False, on_epoch=True, batch_size=len(batch["y"]))

        def configure_optimizers(self):
            return torch.optim.AdamW(self.net.parameters(), lr=s.learning_rate, weight_decay=s.weight_decay)

    return Module()


class TransformerHotSellerClassifier:
    """`fit(frame, labels, covariates=...)` on known labels; `predict_proba(frame, ...)` scores
    every item at its last week (same interface as `HotSellerClassifier`)."""

    def __init__(self, **params: Any) -> None:
        self.settings = TransformerClassifierSettings(**params)

    # ------------------------------------------------------------------ inputs
    def _table(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Feature table (rows + 1 padding row), series start per row, row order kept."""
        from training.models.torch_common import series_bounds

        ylog = np.log1p(np.clip(frame[Y].to_numpy(dtype="float64"), 0.0, None))
        days = frame[DS].to_numpy().astype("datetime64[D]").astype("int64").astype("float64")
        phase = 2 * np.pi * (days % 365.2425) / 365.2425
        cols = [ylog[:, None], np.sin(phase)[:, None], np.cos(phase)[:, None]]
        if self.scaler_.columns:
            cols.append(self.scaler_.transform(frame))
        table = np.hstack(cols)
        table = np.vstack([table, np.zeros((1, table.shape[1]))]).astype("float32")
        starts, ends = series_bounds(frame)
        row_start = np.repeat(starts, ends - starts + 1)
        return table, row_start, ends

    def _batch(self, table: np.ndarray, row_start: np.ndarray, origins: np.ndarray, labels: np.ndarray | None):
        import torch

        from training.models.torch_common import gather_windows

        idx, real = gather_windows(len(table) - 1, origins, row_start[origins], self.settings.window)
        x = table[idx]
        n_obs = real.sum(axis=1)
        level = (x[:, :, 0] * real).sum(axis=1) / np.maximum(n_obs, 1.0)
        x[:, :, 0] = (x[:, :, 0] - level[:, None]) * real
        x = np.concatenate([x, real[:, :, None]], axis=2)
        age = np.log1p(origins - row_start[origins] + 1.0) / 4.0
        out = {
            "x": torch.from_numpy(x),
            "mask": torch.from_numpy(real),
            "static": torch.from_numpy(np.stack([level, age], axis=1).astype("float32")),
        }
        if labels is not None:
            out["y"] = torch.from_numpy(labels.astype("float32"))
        return out

    def _loader(self, table, row_start, origins, labels, *, shuffle: bool, generator=None):
        from training.models.torch_common import sample_loader

        return sample_loader(len(origins), lambda b: self._batch(table, row_start, origins[b], labels[b]),
                             self.settings.batch_size, shuffle=shuffle, generator=generator)

    # ------------------------------------------------------------------ fit / predict
    def fit(self, frame: pd.DataFrame, labels: pd.DataFrame, *, covariates: list[str]) -> TransformerHotSellerClassifier:
        from training.models.torch_common import (
            Standardizer,
            fit_lightning,
            held_out_series,
            torch_run,
        )

        s = self.settings
        frame = frame.sort_values([ID, DS], kind="stable").reset_index(drop=True)
        rows = frame[[ID, DS]].reset_index().rename(columns={"index": "row"})
        keyed = rows.merge(labels[[ID, DS, "label"]], on=[ID, DS])
        if len(keyed) > s.max_train_rows:  # the newest origins first: they are most like the next one
            keyed = keyed.sort_values([DS, ID], ascending=[False, True], kind="stable").head(s.max_train_rows)
        y = keyed["label"].to_numpy(dtype="float64")
        pos = float(y.sum())
        self.n_train_, self.n_pos_ = len(y), int(pos)
        self.prior_ = pos / max(len(y), 1)
        self.net_ = None
        if pos == 0 or pos == len(y):
            return self
        val_items = held_out_series(np.sort(keyed[ID].unique()), s.val_fraction, s.seed)
        is_val = keyed[ID].isin(val_items).to_numpy()
        if y[is_val].sum() == 0:  # a validation split without positives says nothing
            is_val[:] = False
        covs = [c for c in covariates if c in frame.columns] if s.use_covariates else []
        self.scaler_ = Standardizer.fit(frame[~frame[ID].isin(val_items)], covs)
        table, row_start, _ = self._table(frame)
        origins = keyed["row"].to_numpy()
        n_tr_pos = max(float(y[~is_val].sum()), 1.0)
        weight = s.pos_weight or min((float((~is_val).sum()) - n_tr_pos) / n_tr_pos, s.max_pos_weight)
        self.weight_ = float(weight) if s.loss == "weighted" else 1.0
        with torch_run(s.n_threads, s.seed) as gen:
            self.net_ = _build_net(table.shape[1] + 1, s)
            module = _module(self.net_, s, self.weight_)
            train = self._loader(table, row_start, origins[~is_val], y[~is_val], shuffle=True, generator=gen)
            val = self._loader(table, row_start, origins[is_val], y[is_val], shuffle=False) if is_val.any() else None
            self.fit_info_ = fit_lightning(module, train, val, max_epochs=s.max_epochs, patience=s.patience,
                                           device=s.device, gradient_clip=1.0)
        self.fit_info_.update({"train_rows": int((~is_val).sum()), "val_rows": int(is_val.sum()), "positives": int(pos)})
        return self

    def predict_proba(self, frame: pd.DataFrame, *, covariates: list[str]) -> pd.Series:
        """Probability per item at its last week in `frame`."""
        import torch

        from training.models.torch_common import torch_run

        frame = frame.sort_values([ID, DS], kind="stable").reset_index(drop=True)
        last = frame.groupby(ID, sort=True).tail(1).index.to_numpy()
        ids = frame.loc[last, ID].to_numpy()
        if self.net_ is None:
            return pd.Series(self.prior_, index=ids, name="score")
        table, row_start, _ = self._table(frame)
        probs = []
        with torch_run(self.settings.n_threads, self.settings.seed), torch.no_grad():
            self.net_.eval()
            for a in range(0, len(last), 4096):
                b = self._batch(table, row_start, last[a:a + 4096], None)
                probs.append(torch.sigmoid(self.net_(b["x"], b["mask"], b["static"])).numpy().astype("float64"))
        p = np.concatenate(probs)
        if self.settings.loss == "weighted" and self.weight_ != 1.0:
            odds = p / np.clip(1 - p, 1e-12, None) / self.weight_
            p = odds / (1 + odds)
        return pd.Series(p, index=ids, name="score")
