"""The multi-task network: a graph branch, a temporal transformer, a text branch,
cross-attention (text queries time), a fused shared backbone and one head per task.

* time: the item's last `window` weeks (per week: log1p units minus the window's level, an
  observed flag, standardized covariates), projected to `d_model`, plus sinusoidal positional
  encoding, through `n_layers` pre-norm transformer encoder layers with a padding mask;
* text: the two document vectors (recent weeks, earlier weeks) projected to `d_model` tokens;
* cross-attention: the text tokens attend over the time steps (queries text, keys/values
  time); without it the text tokens enter the fusion as they are;
* graph: one message-passing step, GraphSAGE-style: the item's own node vector and the
  weighted mean of its neighbours' node vectors (a sparse adjacency product computed by the
  caller over the edges known at the sample's week) and the SQL graph features, through an MLP;
* fusion + backbone: the concatenated branch summaries and the static vector through a
  two-layer MLP shared by every head;
* heads: hot seller (logit, focal loss, weight 1.0), future growth (log1p of the label's growth
  score, weight `growth_weight`) and the auxiliary targets the data has (mean rating and
  engagement for reviews; customers for order lines: weight `aux_weight` each).
Ablation switches (`use_graph`, `use_text`, `cross_attention`, `multi_task`) remove a branch or
the extra heads; `staged` trains the graph branch and the heads first, then everything.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, model_validator

from training.device import TORCH_THREADS_HELP
from training.models.base import ModelSettings


class MultiTaskSettings(ModelSettings):
    window: int = Field(16, ge=2, le=156, description="Weeks of history per sample.")
    d_model: int = Field(32, ge=4, le=512)
    n_heads: int = Field(4, ge=1, le=16)
    n_layers: int = Field(1, ge=1, le=8)
    ff_size: int = Field(64, ge=4, le=4096)
    hidden: int = Field(64, ge=4, le=4096, description="Width of the shared backbone.")
    dropout: float = Field(0.1, ge=0, lt=1)
    learning_rate: float = Field(2e-3, gt=0, le=1)
    weight_decay: float = Field(1e-4, ge=0)
    batch_size: int = Field(256, ge=1)
    max_epochs: int = Field(8, ge=1)
    patience: int = Field(2, ge=1)
    max_train_rows: int = Field(12_000, ge=100, description="Labelled samples used (newest origins first).")
    val_fraction: float = Field(0.15, ge=0, lt=0.9)
    focal_gamma: float = Field(2.0, ge=0)
    focal_alpha: float = Field(0.75, gt=0, lt=1, description="Weight of the positive class in the focal loss.")
    growth_weight: float = Field(0.3, ge=0)
    aux_weight: float = Field(0.2, ge=0)
    neighbours: int = Field(20, ge=1, le=1000, description="Neighbours per sample (the heaviest as of its week).")
    text_dim: int = Field(32, ge=2, le=1024, description="TF-IDF + SVD components (a pretrained encoder has its own).")
    text_recent_weeks: int = Field(4, ge=1, le=104)
    text_history_weeks: int = Field(26, ge=1, le=520)
    use_graph: bool = True
    use_text: bool = True
    cross_attention: bool = True
    multi_task: bool = True
    staged: bool = False
    stage_epochs: int = Field(2, ge=1, description="Epochs of the graph-first stage when staged.")
    n_threads: int = Field(0, ge=0, description=TORCH_THREADS_HELP)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 0

    @model_validator(mode="after")
    def _heads(self) -> MultiTaskSettings:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        return self


def positional_encoding(length: int, d: int):
    import torch

    pos = torch.arange(length, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10_000.0) / d))
    pe = torch.zeros(length, d)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : d // 2]
    return pe


def build_net(*, n_time: int, n_static: int, n_node: int, n_graph: int, text_dim: int, n_aux: int,
              s: MultiTaskSettings):
    import torch
    from torch import nn

    d = s.d_model

    def mlp(n_in: int, n_out: int) -> nn.Module:
        return nn.Sequential(nn.Linear(n_in, s.hidden), nn.GELU(), nn.Dropout(s.dropout), nn.Linear(s.hidden, n_out))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.time_proj = nn.Linear(n_time, d)
            self.register_buffer("pe", positional_encoding(s.window, d), persistent=False)
            layer = nn.TransformerEncoderLayer(d, s.n_heads, s.ff_size, s.dropout, batch_first=True, norm_first=True)
            self.time_enc = nn.TransformerEncoder(layer, s.n_layers, enable_nested_tensor=False)
            self.time_norm = nn.LayerNorm(d)
            n_fused = d + n_static
            if s.use_text:
                self.text_proj = nn.Linear(text_dim, d)
                self.text_type = nn.Parameter(torch.zeros(2, d))
                if s.cross_attention:
                    self.cross = nn.MultiheadAttention(d, s.n_heads, dropout=s.dropout, batch_first=True)
                    self.cross_norm = nn.LayerNorm(d)
                n_fused += d
            if s.use_graph:
                self.graph = mlp(2 * n_node + n_graph, d)
                n_fused += d
            self.backbone = nn.Sequential(nn.Linear(n_fused, s.hidden), nn.GELU(), nn.Dropout(s.dropout),
                                          nn.Linear(s.hidden, s.hidden), nn.GELU())
            self.hot = nn.Linear(s.hidden, 1)
            self.growth = nn.Linear(s.hidden, 1)
            self.aux = nn.Linear(s.hidden, max(n_aux, 1))
            self.stage = 2

        def forward(self, b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            mask = b["mask"]
            pad = mask < 0.5
            h = self.time_enc(self.time_proj(b["x"]) + self.pe, src_key_padding_mask=pad)
            h = self.time_norm(h)
            w = mask / mask.sum(dim=1, keepdim=True).clamp_min(1.0)
            time_summary = (h * w[:, :, None]).sum(dim=1)
            if self.stage == 1:  # graph first: the other branches wait
                time_summary = time_summary.detach() * 0.0
            parts = [time_summary, b["static"]]
            if s.use_text:
                tok = self.text_proj(b["text"]) + self.text_type
                has = b["text_mask"]
                if s.cross_attention:
                    att, _ = self.cross(tok, h, h, key_padding_mask=pad, need_weights=False)
                    tok = self.cross_norm(tok + att)
                tw = has / has.sum(dim=1, keepdim=True).clamp_min(1.0)
                text_summary = (tok * tw[:, :, None]).sum(dim=1)
                if self.stage == 1:
                    text_summary = text_summary.detach() * 0.0
                parts.append(text_summary)
            if s.use_graph:
                parts.append(self.graph(torch.cat([b["node"], b["agg"], b["graph"]], dim=1)))
            z = self.backbone(torch.cat(parts, dim=1))
            return {"hot": self.hot(z).squeeze(-1), "growth": self.growth(z).squeeze(-1), "aux": self.aux(z)}

    return Net()


def lightning_module(net, s: MultiTaskSettings):
    import lightning.pytorch as pl
    import torch
    import torch.nn.functional as F

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def losses(self, b) -> dict[str, torch.Tensor]:
            out = self.net(b)
            y = b["y"]
            ce = F.binary_cross_entropy_with_logits(out["hot"], y, reduction="none")
            p = torch.sigmoid(out["hot"])
            pt = p * y + (1 - p) * (1 - y)
            alpha = s.focal_alpha * y + (1 - s.focal_alpha) * (1 - y)
            parts = {"hot": (alpha * (1 - pt) ** s.focal_gamma * ce).mean() * 4.0}
            if s.multi_task:
                parts["growth"] = s.growth_weight * F.smooth_l1_loss(out["growth"], b["growth"])
                am = b["aux_mask"]
                if am.shape[1] and float(am.sum()) > 0:
                    err = F.smooth_l1_loss(out["aux"][:, : am.shape[1]], b["aux"], reduction="none")
                    parts["aux"] = s.aux_weight * (err * am).sum() / am.sum().clamp_min(1.0)
            return parts

        def training_step(self, batch, _):
            loss = sum(self.losses(batch).values())
            self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(batch["y"]))
            return loss

        def validation_step(self, batch, _):
            # early stopping watches the hot-seller loss, the task that is ranked
            self.log("val_loss", self.losses(batch)["hot"], on_step=False, on_epoch=True, batch_size=len(batch["y"]))

        def configure_optimizers(self):
            return torch.optim.AdamW(self.net.parameters(), lr=s.learning_rate, weight_decay=s.weight_decay)

    return Module()


def describe(s: MultiTaskSettings) -> dict[str, Any]:
    return {k: getattr(s, k) for k in ("use_graph", "use_text", "cross_attention", "multi_task", "staged")}
