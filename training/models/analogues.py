"""Analogues: the futures of the most similar past windows, across every series.

Each series' last `window` weeks are read on a log scale (log1p) relative to their own mean, so
that a window says what shape the recent weeks had, whatever the series' size; the mean itself
enters the distance too (weighted by `level_weight`), so that a window of a few units finds
windows of a few units, whose noise is alike. The library holds every past window of every series
whose `h` following weeks are known (a sample of `max_library` of them, drawn once per fit). The
`k` nearest windows (Euclidean distance) give, step by step, the empirical quantiles of what
followed them, moved back to the series' level: the point forecast is their median, the
quantiles theirs. A series shorter than `window` weeks is compared on the weeks it has; before
any past window has `h` known weeks after it, every series gets its recent level (the mean of
its last `window` weeks) with normal intervals.

It learns no parameters: its errors come from other series' histories rather than from a fitted
function, which is why it may differ from the boosters' errors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

from training.models.base import ModelSettings
from training.models.baselines import _level, _MatrixModel, _normal_quantiles, _pooled_sigma


class AnaloguesSettings(ModelSettings):
    window: int = Field(13, ge=2, le=104, description="Weeks of each compared window.")
    k: int = Field(50, ge=1, description="Nearest windows whose futures make the forecast.")
    level_weight: float = Field(1.0, ge=0.0, description="Weight of the window's log level in the distance.")
    max_library: int = Field(60_000, ge=100, description="Past windows sampled into the library.")
    chunk: int = Field(256, ge=1, description="Series whose neighbours are searched at once (memory).")
    seed: int = Field(0, description="Seed of the library's sample.")


def library(logy: np.ndarray, w: int, h: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sampled past windows: (relative windows, log levels, relative futures) of every series
    position with `w` known weeks and `h` known weeks after them. `logy` is right-aligned and
    at least `w + h` weeks wide, so its longest series holds at least one such window."""
    width = logy.shape[1]
    # a window ending at e needs columns e-w+1..e+h known; series are right-aligned, so it is
    # enough that the window's first column is known
    ends = np.arange(w - 1, width - h)
    rows, pos = np.nonzero(np.isfinite(logy[:, ends - w + 1]))
    if rows.size > size:
        pick = np.random.default_rng(seed).choice(rows.size, size, replace=False)
        rows, pos = rows[pick], pos[pick]
    e = ends[pos][:, None]
    past = logy[rows[:, None], e + np.arange(1 - w, 1)[None, :]]
    level = past.mean(axis=1)
    fut = logy[rows[:, None], e + np.arange(1, h + 1)[None, :]]
    return past - level[:, None], level, fut - level[:, None]


class Analogues(_MatrixModel):
    """The median and quantiles of what followed the k most similar past windows of any series."""

    model_name = "analogues"
    Settings = AnaloguesSettings
    global_model = True

    @classmethod
    def test_params(cls) -> dict:
        return {"window": 4, "k": 5, "max_library": 500}

    def _arrays(self, h: int, quantiles: list[float], only: pd.Index | None) -> tuple[np.ndarray, np.ndarray]:
        # every series' neighbours are searched (one matrix product per chunk), then the rows kept
        rows = self._rows(only)
        s = self.settings
        logy = np.log1p(np.maximum(self.y_, 0.0))
        w = min(s.window, logy.shape[1] - h)
        if w < 2:  # no past window has a known future yet: the recent level, normal intervals
            self.fit_info_ = {"fallback": f"{logy.shape[1]} weeks leave no window before a {h}-week future"}
            point = np.repeat(_level(self.y_, s.window)[:, None], h, axis=1)
            sigma = _pooled_sigma(np.diff(self.y_, axis=1))[:, None] * np.ones((1, h))
            return point[rows], _normal_quantiles(point[rows], sigma[rows], quantiles)
        lib_x, lib_lvl, lib_f = library(logy, w, h, s.max_library, s.seed)
        lib = np.column_stack([lib_x, s.level_weight * lib_lvl])
        k = min(s.k, len(lib))
        q = logy[:, -w:]  # every series' last week is known: NaN only on the left of short ones
        mask = np.isfinite(q)
        level = np.nanmean(q, axis=1)
        rel = np.where(mask, q - level[:, None], 0.0)  # zero where masked, as the distance needs
        qv = np.column_stack([rel, s.level_weight * level])
        qm = np.column_stack([mask, np.ones(len(q), dtype=bool)]).astype("float64")
        levels = np.asarray([0.5, *quantiles])
        out = np.empty((len(q), h, len(levels)))
        lib_sq = lib**2
        for a in range(0, len(q), s.chunk):
            b = slice(a, a + s.chunk)
            m, v = qm[b], qv[b]
            # squared distance over each query's known weeks: sum m (x - v)^2
            d = lib_sq @ m.T - 2.0 * lib @ v.T + (v**2).sum(axis=1)[None, :]
            near = np.argpartition(d, k - 1, axis=0)[:k]  # (k, queries)
            futures = lib_f[near]  # (k, queries, h)
            out[b] = np.moveaxis(np.quantile(futures, levels, axis=0), 0, -1)
        out = np.expm1(out + level[:, None, None])
        return out[rows, :, 0], out[rows, :, 1:]
