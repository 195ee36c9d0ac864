"""What the torch forecasters share: quiet lightning trainers, seeds and threads, quantile grids,
windows over the long frame, and persistence as state_dicts (loaded with `weights_only=True`).

Imported only by the deep model modules (it imports torch and lightning at module level).

Persistence. A torch forecaster splits its fitted state into JSON-able info, numpy arrays,
`state_dict`s and plain sub-forecasters (fallbacks). `save(dir)` writes `meta.json`,
`info.json`, `arrays.npz` (no pickled objects), one `<net>.pt` per network and `sub/<name>/`
per sub-forecaster; `load(dir)` rebuilds the networks from the settings and info and reads the
weights with `torch.load(..., weights_only=True)`. Pickling (a `Blend` that holds the model, the
backtest's fitted members) goes through the same split: `__getstate__` keeps the state_dicts as
bytes and `__setstate__` reads them back with `weights_only=True`, so no torch object is ever
unpickled.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch

from darkhorse.core.schema import DS, ID, Y
from training.device import cpu_threads, lightning_accelerator
from training.models.base import Forecaster

log = logging.getLogger(__name__)

# quantile levels the deep models are trained on; other levels are interpolated between them
QUANTILE_GRID: tuple[float, ...] = (0.02, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.98)
_LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning")


# --------------------------------------------------------------------------- run environment
@contextlib.contextmanager
def torch_run(n_threads: int, seed: int) -> Iterator[torch.Generator]:
    """Threads capped (`training.device.cpu_threads`, the boosters' rule), seeds fixed, lightning
    quiet; yields a seeded generator for samplers."""
    old_threads = torch.get_num_threads()
    torch.set_num_threads(cpu_threads(n_threads))
    torch.manual_seed(seed)
    old_levels = {n: logging.getLogger(n).level for n in _LIGHTNING_LOGGERS}
    for n in _LIGHTNING_LOGGERS:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            # lightning's advice about dataloader workers and logging intervals is noise here
            warnings.filterwarnings("ignore", module=r"lightning\..*")
            warnings.filterwarnings("ignore", module=r"pytorch_forecasting\..*")
            warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=r".*is an instance of `nn.Module`.*")
            yield torch.Generator().manual_seed(seed)
    finally:
        torch.set_num_threads(old_threads)
        for n, lvl in old_levels.items():
            logging.getLogger(n).setLevel(lvl)


class BestWeights(pl.Callback):
    """Keep the weights of the epoch with the lowest `monitor` and restore them at the end
    (early stopping without checkpoint files)."""

    def __init__(self, monitor: str = "val_loss") -> None:
        self.monitor = monitor
        self.best = float("inf")
        self.best_epoch = -1
        self.state: dict[str, torch.Tensor] | None = None

    def on_validation_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        v = float(value)
        if np.isfinite(v) and v < self.best:
            self.best, self.best_epoch = v, trainer.current_epoch
            self.state = {k: t.detach().cpu().clone() for k, t in module.state_dict().items()}

    def on_fit_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self.state is not None:
            module.load_state_dict(self.state)


def fit_lightning(
    module: pl.LightningModule,
    train_loader: Any,
    val_loader: Any | None,
    *,
    max_epochs: int,
    patience: int,
    device: str,
    gradient_clip: float | None = None,
    limit_train_batches: int | None = None,
) -> dict[str, Any]:
    """Train quietly (no progress bar, summary, logger or checkpoint files; lightning's working
    dir is a temporary folder removed afterwards); early stopping on `val_loss` when there is a
    validation loader, best weights restored. The module ends on the CPU, in eval mode."""
    from lightning.pytorch.callbacks import EarlyStopping

    best = BestWeights()
    callbacks: list[pl.Callback] = [best]
    if val_loader is not None:
        callbacks.append(EarlyStopping(monitor="val_loss", patience=patience, mode="min", verbose=False))
    with tempfile.TemporaryDirectory(prefix="darkhorse-lightning-") as tmp:
        trainer = pl.Trainer(
            accelerator=lightning_accelerator(device),
            devices=1,
            max_epochs=max_epochs,
            callbacks=callbacks,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            gradient_clip_val=gradient_clip,
            limit_train_batches=limit_train_batches,
            default_root_dir=tmp,
        )
        trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader)
        epochs = int(trainer.current_epoch)
        on_gpu = trainer.strategy.root_device.type != "cpu"
    module.cpu().eval()
    return {
        "epochs": epochs,
        "best_epoch": best.best_epoch,
        "best_val_loss": None if best.state is None else best.best,
        "accelerator": "gpu" if on_gpu else "cpu",
    }


# --------------------------------------------------------------------------- quantiles
def pinball_loss(pred: torch.Tensor, target: torch.Tensor, levels: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean pinball loss; pred (..., Q), target (...), levels (Q,), mask (...) of 0/1."""
    diff = target.unsqueeze(-1) - pred
    loss = torch.maximum(levels * diff, (levels - 1.0) * diff).mean(-1)
    if mask is None:
        return loss.mean()
    return (loss * mask).sum() / mask.sum().clamp_min(1.0)


def monotone_quantiles(raw: torch.Tensor) -> torch.Tensor:
    """Non-crossing quantiles from unconstrained outputs (..., Q): the first is free, the next
    ones add positive (softplus) increments."""
    first = raw[..., :1]
    steps = torch.nn.functional.softplus(raw[..., 1:])
    return torch.cat([first, first + torch.cumsum(steps, dim=-1)], dim=-1)


def interpolate_quantiles(values: np.ndarray, grid: Sequence[float], levels: Sequence[float]) -> np.ndarray:
    """Values at `levels` from values at the sorted `grid` levels (last axis), linear between grid
    points and flat beyond its ends. The grid values are sorted first (no crossing)."""
    grid = np.asarray(grid, dtype="float64")
    v = np.sort(np.asarray(values, dtype="float64"), axis=-1)
    out = np.empty((*v.shape[:-1], len(levels)))
    for j, q in enumerate(levels):
        k = int(np.searchsorted(grid, q))
        if k < len(grid) and np.isclose(grid[k], q):
            out[..., j] = v[..., k]
        elif k == 0:
            out[..., j] = v[..., 0]
        elif k == len(grid):
            out[..., j] = v[..., -1]
        else:
            w = (q - grid[k - 1]) / (grid[k] - grid[k - 1])
            out[..., j] = (1 - w) * v[..., k - 1] + w * v[..., k]
    return out


# --------------------------------------------------------------------------- features
def calendar(ds: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """(n, 2): sine and cosine of the ISO week of year."""
    woy = pd.DatetimeIndex(ds).isocalendar().week.to_numpy().astype("float64")
    return np.stack([np.sin(2 * np.pi * woy / 52.18), np.cos(2 * np.pi * woy / 52.18)], axis=1)


def numeric_covariates(df: pd.DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    skip = {ID, DS, Y, *exclude}
    return [c for c in df.columns if c not in skip and pd.api.types.is_numeric_dtype(df[c])]


class Standardizer:
    """Per-column mean / std (log1p first for columns that are never negative), fitted on the
    training rows only; stored as plain lists."""

    def __init__(self, columns: list[str], log: list[bool], mean: list[float], std: list[float]) -> None:
        self.columns, self.log, self.mean, self.std = columns, log, mean, std

    @classmethod
    def fit(cls, df: pd.DataFrame, columns: list[str]) -> Standardizer:
        logs, means, stds = [], [], []
        for c in columns:
            v = df[c].to_numpy(dtype="float64")
            v = v[np.isfinite(v)]
            lg = bool(v.size == 0 or v.min() >= 0)
            t = np.log1p(v) if lg else v
            logs.append(lg)
            means.append(float(t.mean()) if t.size else 0.0)
            sd = float(t.std()) if t.size else 1.0
            stds.append(sd if sd > 1e-8 else 1.0)
        return cls(list(columns), logs, means, stds)

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        out = np.zeros((len(df), len(self.columns)), dtype="float64")
        for j, c in enumerate(self.columns):
            v = df[c].to_numpy(dtype="float64") if c in df else np.zeros(len(df))
            v = np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0)
            t = np.log1p(np.clip(v, 0.0, None)) if self.log[j] else v
            out[:, j] = np.clip((t - self.mean[j]) / self.std[j], -10.0, 10.0)
        return out

    def to_json(self) -> dict[str, Any]:
        return {"columns": self.columns, "log": self.log, "mean": self.mean, "std": self.std}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Standardizer:
        return cls(list(d["columns"]), list(d["log"]), list(d["mean"]), list(d["std"]))


def series_bounds(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """First and last row position of every series of a frame sorted by id, ds (sorted ids)."""
    ids = df[ID].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)] - 1
    return starts, ends


def gather_windows(n_rows: int, origins: np.ndarray, starts: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (windows x length) of the `length` weeks ending at each origin row, and the
    0/1 mask of real weeks; weeks before the series' first row point at row `n_rows` (a padding
    row the caller appends)."""
    offsets = np.arange(-length + 1, 1)
    idx = origins[:, None] + offsets[None, :]
    real = idx >= starts[:, None]
    return np.where(real, idx, n_rows), real.astype("float32")


def held_out_series(ids: np.ndarray, fraction: float, seed: int) -> set:
    """The series held out for early stopping: a random `fraction` of the unique `ids` (drawn
    with `seed`, so the same ids in the same order give the same split); none below 10 series."""
    n_val = round(fraction * len(ids)) if len(ids) >= 10 else 0
    return set(ids[np.random.default_rng(seed).permutation(len(ids))[:n_val]])


def sample_loader(n: int, batch: Callable[[np.ndarray], dict[str, torch.Tensor]], batch_size: int, *,
                  shuffle: bool, generator: torch.Generator | None = None) -> torch.utils.data.DataLoader:
    """A DataLoader over `n` samples that hands `batch` whole int64 index arrays (one call per
    batch, no per-sample collation): shuffled batches of `batch_size` for training, evaluation
    batches four times as large in sample order."""
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

    class Samples(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return n

        def __getitem__(self, b):
            return batch(np.asarray(b, dtype="int64"))

    base = RandomSampler(range(n), generator=generator) if shuffle else SequentialSampler(range(n))
    size = batch_size if shuffle else batch_size * 4
    return DataLoader(Samples(), batch_size=None, sampler=BatchSampler(base, size, drop_last=False))


# --------------------------------------------------------------------------- persistence
class TorchForecaster(Forecaster):
    """A forecaster whose fitted state is info + arrays + state_dicts (+ sub-forecasters)."""

    nets: ClassVar[tuple[str, ...]] = ("net",)

    # subclasses: split the fitted state, and rebuild from it
    def _export(self) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, Forecaster]]:
        raise NotImplementedError

    def _import(self, info: dict[str, Any], arrays: dict[str, np.ndarray], states: dict[str, dict], subs: dict[str, Forecaster]) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ shared pieces
    def _payload(self) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, dict], dict[str, Forecaster]]:
        info, arrays, subs = self._export()
        arrays = dict(arrays)
        arrays["_ids"] = self.last_ds_.index.to_numpy().astype(str)
        arrays["_last_ds"] = self.last_ds_.to_numpy().astype("datetime64[ns]").astype("int64")
        arrays["_horizon"] = np.array([self.horizon_ or 0], dtype="int64")
        states = {}
        for name in self.nets:
            net = getattr(self, f"{name}_", None)
            if net is not None:
                states[name] = {k: v.detach().cpu() for k, v in net.state_dict().items()}
        return info, arrays, states, subs

    def _restore(self, info, arrays, states, subs) -> None:
        ids = arrays.pop("_ids")
        last = pd.to_datetime(arrays.pop("_last_ds").astype("int64"))
        self.last_ds_ = pd.Series(last, index=pd.Index(ids.astype(object), name=ID), name=DS)
        self.n_series_ = len(ids)
        self.horizon_ = int(arrays.pop("_horizon")[0]) or None
        self._import(info, arrays, states, subs)
        self.fitted_ = True

    def save(self, path: str | Path) -> Path:
        if not self.fitted_:
            return super().save(path)
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        info, arrays, states, subs = self._payload()
        self._write_meta(path, storage="state_dict", nets=sorted(states), subs=sorted(subs))
        (path / "info.json").write_text(json.dumps(info, indent=2, sort_keys=True))
        np.savez(path / "arrays.npz", **arrays)
        for name, sd in states.items():
            torch.save(sd, path / f"{name}.pt")
        for name, sub in subs.items():
            sub.save(path / "sub" / name)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        path = Path(path)
        meta = cls._read_meta(path)
        if meta.get("storage") != "state_dict":
            return super().load(path)
        model = cls(alias=meta["alias"], **meta["params"])
        info = json.loads((path / "info.json").read_text())
        with np.load(path / "arrays.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        states = {n: torch.load(path / f"{n}.pt", map_location="cpu", weights_only=True) for n in meta["nets"]}
        subs = {n: Forecaster.load(path / "sub" / n) for n in meta["subs"]}
        model._restore(info, arrays, states, subs)
        return model

    def __getstate__(self) -> dict[str, Any]:
        base = {"alias": self.alias, "params": self.params(), "fitted": self.fitted_}
        if not self.fitted_:
            return base
        info, arrays, states, subs = self._payload()
        blobs = {}
        for name, sd in states.items():
            buf = io.BytesIO()
            torch.save(sd, buf)
            blobs[name] = buf.getvalue()
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return {**base, "info": json.dumps(info), "arrays": buf.getvalue(), "states": blobs, "subs": subs}

    def __setstate__(self, state: dict[str, Any]) -> None:
        type(self).__init__(self, alias=state["alias"], **state["params"])
        if not state["fitted"]:
            return
        with np.load(io.BytesIO(state["arrays"]), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        states = {
            n: torch.load(io.BytesIO(b), map_location="cpu", weights_only=True) for n, b in state["states"].items()
        }
        self._restore(json.loads(state["info"]), arrays, states, state["subs"])
