"""Pick the accelerator: a CUDA GPU when present, the CPU otherwise (`DARKHORSE_DEVICE` overrides);
and the CPU threads a booster runs with (`DARKHORSE_THREADS` caps them)."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

NVIDIA_DRIVER = Path("/proc/driver/nvidia/gpus")
"""Where the NVIDIA driver lists its GPUs (Linux); its device files are /dev/nvidia0, 1, ..."""


def _nvidia_driver() -> bool:
    """Whether an NVIDIA driver shows a GPU here (its list or a device file): a check that
    costs no import. Without either no CUDA device can be used."""
    try:
        if NVIDIA_DRIVER.is_dir() and any(NVIDIA_DRIVER.iterdir()):
            return True
        return any(p.name[len("nvidia"):].isdigit() for p in Path("/dev").glob("nvidia*"))
    except OSError:
        return False


@functools.cache
def cuda_available() -> bool:
    """A usable CUDA device. Without an NVIDIA driver the answer is no, and torch is not
    imported to give it: the default members (XGBoost, theta) would otherwise pay torch's
    import (measured 39 s on a cold disk cache) only to hear that."""
    choice = os.environ.get("DARKHORSE_DEVICE", "auto").lower()
    if choice == "cpu":
        return False
    if "torch" not in sys.modules and not _nvidia_driver():
        if choice == "cuda":
            raise RuntimeError(f"DARKHORSE_DEVICE=cuda but no CUDA device is available (no NVIDIA driver: neither {NVIDIA_DRIVER} nor /dev/nvidia0)")
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


THREADS_ENV = "DARKHORSE_THREADS"
TORCH_THREADS_HELP = f"torch threads; 0 = {THREADS_ENV} when set, else every core (training.device.cpu_threads)."
"""The `n_threads` field of every torch model's settings: they take their threads by the boosters' rule."""


def cpu_threads(n_jobs: int = 0) -> int:
    """The threads a booster runs with: `n_jobs` when it is set (> 0); otherwise
    `DARKHORSE_THREADS` when that is set, or every core this process may run on.

    XGBoost gives the same trees whatever the thread count, so this is a speed setting only. On
    2 cores one thread made one origin of the default members 28% slower alone and 6% faster
    beside another busy process, with the threads sleeping while they wait (`OMP_WAIT_POLICY`,
    darkhorse/core/process.env; make bench-threads); whoever runs several processes on the same
    cores may still split them (the test suite's workers do) with `DARKHORSE_THREADS`."""
    if n_jobs > 0:
        return n_jobs
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"{THREADS_ENV}={env!r}: expected a whole number of threads, at least 1")
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
