"""Pick the accelerator: a CUDA GPU when present, the CPU otherwise (`DARKHORSE_DEVICE` overrides)."""

from __future__ import annotations

import functools
import os


@functools.cache
def cuda_available() -> bool:
    choice = os.environ.get("DARKHORSE_DEVICE", "auto").lower()
    if choice == "cpu":
        return False
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    available = bool(torch.cuda.is_available())
    if choice == "cuda" and not available:
        raise RuntimeError("DARKHORSE_DEVICE=cuda but no CUDA device is available")
    return available


def xgboost_device(setting: str = "auto") -> str:
    if setting == "auto":
        return "cuda" if cuda_available() else "cpu"
    return setting


def lightning_accelerator(setting: str = "auto") -> str:
    """`accelerator=` of a lightning Trainer: "auto" (a GPU when present) unless the model's
    setting or `DARKHORSE_DEVICE` asks for the CPU ("cpu") or insists on CUDA ("gpu")."""
    env = os.environ.get("DARKHORSE_DEVICE", "auto").lower()
    if setting == "cpu" or env == "cpu":
        return "cpu"
    if setting == "cuda" or env == "cuda":
        if not cuda_available():
            raise RuntimeError("a CUDA device was asked for but none is available")
        return "gpu"
    return "auto"
