"""The multi-task sequence model of a customer's next order (torch + lightning).

Inputs of one sample (training.customers.data): the last `seq_len` purchase lines before the
origin (item, log units, log price, discount, log days before the origin), the temporal
aggregates of the last week / month / quarter / year and their ratios, the customer's RFM row
of the closed week, the customer's region.

* product embeddings (shared with the next-product head: logits = trunk @ embeddings');
* a bidirectional LSTM over the lines, then multi-head attention from a learned query over the
  LSTM states (padding masked), plus the last state;
* temporal comparison branches: one small layer per window (week, month, quarter, year) and
  one over the windows' rate ratios;
* a customer feature encoder (RFM, value, diversity, tenure, segment) and a region embedding;
* a repeat term: the customer's own items, weighted by how recently they were bought, added to
  the next-product logits with a gain the trunk sets per customer (retail customers rebuy; a
  softmax over embeddings alone finds a customer's own items only through the sequence);
* heads: next product (cross-entropy against the next order's items, uniform over them),
  quantity and revenue (smooth L1 on log1p), discount (smooth L1, lines with a reference price;
  its predictions clipped to [-1, 1] like its training target).

Trained with AdamW, cosine annealing with warm restarts, gradient clipping and early stopping
on the validation loss (the best epoch's weights are kept). Small and CPU by default.
"""

from __future__ import annotations

import copy
import time

import lightning.pytorch as pl
import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from training.customers import data as cdata
from training.device import lightning_accelerator
from training.models.torch_common import torch_run

MAX_BASKET = 64


class SequenceParams(BaseModel):
    """Hyperparameters of the sequence model (validated)."""

    model_config = ConfigDict(extra="forbid")

    max_items: int = Field(1000, ge=10, description="Item vocabulary: the most bought items of the training lines.")
    seq_len: int = Field(50, ge=2, le=1000, description="Lines of history per sample.")
    embed_dim: int = Field(32, ge=4)
    hidden: int = Field(48, ge=4, description="LSTM hidden size per direction.")
    heads: int = Field(4, ge=1)
    region_dim: int = Field(8, ge=1)
    trunk: int = Field(128, ge=8)
    dropout: float = Field(0.1, ge=0, lt=1)
    lr: float = Field(3e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    batch_size: int = Field(256, ge=1)
    max_epochs: int = Field(10, ge=1)
    patience: int = Field(2, ge=0, description="Epochs without a better validation loss before stopping.")
    restart_epochs: int = Field(3, ge=1, description="Epochs of the first cosine cycle (warm restarts).")
    grad_clip: float = Field(1.0, gt=0)
    quantity_weight: float = Field(0.5, ge=0)
    revenue_weight: float = Field(0.5, ge=0)
    discount_weight: float = Field(0.5, ge=0)
    smooth_l1_beta: float = Field(
        0.05, gt=0, description="Where the size heads' smooth L1 turns from squared to absolute error: small, so "
        "they aim at the median (what MAE rewards), not the mean of skewed orders and discounts."
    )
    home_distance: bool = Field(
        False, description="Add the customer's km to the home region (`region_distances` mart) to its features."
    )
    threads: int = Field(1, ge=0, description="Torch threads (0: all cores); one, since two threads on two busy cores ran ten times slower.")
    seed: int = 0
    accelerator: str = Field("cpu", description="cpu, cuda or auto (lightning).")


class _Net(nn.Module):
    def __init__(self, p: SequenceParams, n_items: int, n_regions: int, n_customer: int) -> None:
        super().__init__()
        e, h = p.embed_dim, p.hidden
        self.items = nn.Embedding(n_items, e, padding_idx=cdata.PAD)
        self.steps = nn.Linear(cdata.STEP_FEATURES, e)
        self.lstm = nn.LSTM(e, h, batch_first=True, bidirectional=True)
        self.query = nn.Parameter(torch.randn(1, 1, 2 * h) * 0.1)
        self.attn = nn.MultiheadAttention(2 * h, p.heads if (2 * h) % p.heads == 0 else 1, batch_first=True,
                                          dropout=p.dropout)
        self.windows = nn.ModuleList(nn.Sequential(nn.Linear(4, 8), nn.ReLU()) for _ in cdata.WINDOWS_DAYS)
        self.ratios = nn.Sequential(nn.Linear(len(cdata.WINDOWS_DAYS) - 1, 8), nn.ReLU())
        self.customer = nn.Sequential(nn.Linear(n_customer, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
        self.region = nn.Embedding(n_regions, p.region_dim)
        width = 4 * h + 8 * (len(cdata.WINDOWS_DAYS) + 1) + 32 + p.region_dim
        self.trunk = nn.Sequential(nn.Linear(width, p.trunk), nn.ReLU(), nn.Dropout(p.dropout), nn.Linear(p.trunk, p.trunk), nn.ReLU())
        self.next_item = nn.Linear(p.trunk, e)
        self.item_bias = nn.Parameter(torch.zeros(n_items))
        self.sizes = nn.Linear(p.trunk, 3)  # log1p quantity, log1p revenue, discount
        self.repeat_gain = nn.Linear(p.trunk, 2)  # per customer: gain of the recency-weighted own items
        self.recency = nn.Parameter(torch.tensor(0.1))  # decay per line back in the sequence

    def forward(self, seq, steps, temporal, customer, region):
        x = self.items(seq) + self.steps(steps)
        states, _ = self.lstm(x)
        pad = seq == cdata.PAD
        pad = pad.clone()
        pad[:, -1] = False  # the most recent position always attends (a sample has history)
        pooled, _ = self.attn(self.query.expand(len(seq), -1, -1), states, states, key_padding_mask=pad)
        n_win = len(cdata.WINDOWS_DAYS)
        branches = [f(temporal[:, 4 * k: 4 * k + 4]) for k, f in enumerate(self.windows)]
        branches.append(self.ratios(temporal[:, 4 * n_win:]))
        z = torch.cat([pooled[:, 0], states[:, -1], *branches, self.customer(customer), self.region(region)], dim=1)
        t = self.trunk(z)
        logits = self.next_item(t) @ self.items.weight.T + self.item_bias
        # the customer's own items, most recent weighing most (padding and unknown items left out)
        back = torch.arange(seq.shape[1] - 1, -1, -1, device=seq.device, dtype=torch.float32)
        weight = torch.exp(-nn.functional.softplus(self.recency) * back).expand_as(seq) * (seq > cdata.OOV)
        own = torch.zeros_like(logits).scatter_add_(1, seq, weight)
        gain = nn.functional.softplus(self.repeat_gain(t))
        logits = logits + gain[:, :1] * torch.log1p(own) + gain[:, 1:] * (own > 0)
        return logits, self.sizes(t)


def _tensors(s: cdata.Samples, vocab: cdata.Vocab) -> list[torch.Tensor]:
    n = len(s)
    basket = np.full((n, MAX_BASKET), -1, dtype="int64")
    for k, b in enumerate(s.basket):
        idx = [vocab.item_index[i] for i in b if i in vocab.item_index][:MAX_BASKET]
        basket[k, : len(idx)] = idx
    disc = np.nan_to_num(np.clip(s.discount, -1, 1), nan=0.0)
    targets = np.column_stack([np.log1p(np.maximum(s.quantity, 0)), np.log1p(np.maximum(s.revenue, 0)), disc])
    return [
        torch.as_tensor(s.seq_items), torch.as_tensor(s.seq_steps, dtype=torch.float32),
        torch.as_tensor(s.temporal, dtype=torch.float32), torch.as_tensor(s.customer_feats, dtype=torch.float32),
        torch.as_tensor(s.region), torch.as_tensor(basket), torch.as_tensor(targets, dtype=torch.float32),
        torch.as_tensor(np.isfinite(s.discount)),
    ]


class _Module(pl.LightningModule):
    def __init__(self, p: SequenceParams, n_items: int, n_regions: int, n_customer: int) -> None:
        super().__init__()
        self.p = p
        self.net = _Net(p, n_items, n_regions, n_customer)
        self.best_loss = float("inf")
        self.best_state: dict | None = None
        self.epochs_run = 0

    def _loss(self, batch):
        seq, steps, temporal, customer, region, basket, targets, has_disc = batch
        logits, sizes = self.net(seq, steps, temporal, customer, region)
        dist = torch.zeros_like(logits)
        valid = basket >= 0
        dist.scatter_add_(1, basket.clamp(min=0), valid.float())
        n = dist.sum(dim=1)
        known = n > 0
        logp = torch.log_softmax(logits, dim=1)
        ce = -(dist[known] / n[known, None] * logp[known]).sum(dim=1).mean() if known.any() else logits.sum() * 0
        def sl1(a, b):
            return nn.functional.smooth_l1_loss(a, b, beta=self.p.smooth_l1_beta)

        disc = sl1(sizes[has_disc, 2], targets[has_disc, 2]) if has_disc.any() else sizes.sum() * 0
        return (ce + self.p.quantity_weight * sl1(sizes[:, 0], targets[:, 0])
                + self.p.revenue_weight * sl1(sizes[:, 1], targets[:, 1]) + self.p.discount_weight * disc)

    def training_step(self, batch, batch_idx):
        return self._loss(batch)

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self._loss(batch), prog_bar=False, batch_size=len(batch[0]))

    def on_validation_epoch_end(self) -> None:
        loss = float(self.trainer.callback_metrics.get("val_loss", float("inf")))
        if not self.trainer.sanity_checking:
            self.epochs_run += 1
            if loss < self.best_loss:
                self.best_loss = loss
                self.best_state = copy.deepcopy(self.net.state_dict())

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.p.lr, weight_decay=self.p.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=self.p.restart_epochs)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}


class SequenceModel:
    """`fit(train, val)` then `predict(test, k)`: ranked items and order sizes per sample."""

    def __init__(self, params: SequenceParams, vocab: cdata.Vocab) -> None:
        self.params = params
        self.vocab = vocab

    def fit(self, train: cdata.Samples, val: cdata.Samples, *, progress=print) -> SequenceModel:
        from lightning.pytorch.callbacks import EarlyStopping
        from torch.utils.data import DataLoader, TensorDataset

        p = self.params
        t0 = time.perf_counter()
        with torch_run(p.threads, p.seed) as gen:
            self.module_ = _Module(p, self.vocab.n_items, self.vocab.n_regions, self.vocab.customer_width)
            train_dl = DataLoader(TensorDataset(*_tensors(train, self.vocab)), batch_size=p.batch_size, shuffle=True,
                                  generator=gen)
            val_dl = DataLoader(TensorDataset(*_tensors(val, self.vocab)), batch_size=4 * p.batch_size)
            trainer = pl.Trainer(
                max_epochs=p.max_epochs, gradient_clip_val=p.grad_clip, accelerator=lightning_accelerator(p.accelerator),
                devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                enable_model_summary=False, callbacks=[EarlyStopping("val_loss", patience=p.patience, mode="min")],
            )
            trainer.fit(self.module_, train_dl, val_dl)
        if self.module_.best_state is not None:
            self.module_.net.load_state_dict(self.module_.best_state)
        self.epochs_ = self.module_.epochs_run
        progress(f"sequence model: {self.epochs_} epochs, best validation loss {self.module_.best_loss:.4f}, "
                 f"{time.perf_counter() - t0:.1f} s")
        return self

    @torch.no_grad()
    def _batches(self, samples: cdata.Samples):
        """(next-product logits over the vocabulary's items, sizes) per batch of 1024 samples."""
        net = self.module_.net.cpu().eval()
        x = _tensors(samples, self.vocab)
        for lo in range(0, len(samples), 1024):
            logits, size = net(*(t[lo: lo + 1024] for t in x[:5]))
            yield logits[:, 2:], size.numpy()  # padding and out-of-vocabulary left out

    @staticmethod
    def _sizes(sizes: list[np.ndarray]) -> dict[str, np.ndarray]:
        s = np.concatenate(sizes) if sizes else np.zeros((0, 3))
        s[:, 2] = np.clip(s[:, 2], -1, 1)
        return {"quantity": np.expm1(s[:, 0]).clip(min=0), "revenue": np.expm1(s[:, 1]).clip(min=0),
                "discount": s[:, 2]}

    def predict(self, samples: cdata.Samples, *, k: int = 100) -> dict[str, object]:
        ranked, sizes = [], []
        for logits, size in self._batches(samples):
            top = torch.topk(logits, min(k, logits.shape[1]), dim=1).indices.numpy()
            ranked += [[self.vocab.items[i] for i in row] for row in top]
            sizes.append(size)
        return {"ranked": ranked, **self._sizes(sizes)}

    def item_probabilities(self, samples: cdata.Samples) -> dict[str, np.ndarray]:
        """`probability` (samples x the vocabulary's items, in `vocab.items` order: the chance
        that an item of the next order is that item) and the next order's sizes."""
        probs, sizes = [], []
        for logits, size in self._batches(samples):
            probs.append(torch.softmax(logits, dim=1).numpy())
            sizes.append(size)
        n = len(self.vocab.items)
        return {"probability": np.concatenate(probs) if probs else np.zeros((0, n)), **self._sizes(sizes)}


__all__ = ["SequenceModel", "SequenceParams"]
