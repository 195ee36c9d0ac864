"""Reading one backtest directory into a `Run` (the report's only file reads besides its template).

`forecasts.parquet` (required): `unique_id, ds, cutoff, window, y` and, for every model `M`, the
point forecast `M` and its quantiles `M-qNN`; `metrics.json` (required): aggregate forecast and
hot-seller metrics, windows, run metadata. Optional: `series_metrics.parquet`,
`hot_sellers.parquet`, `feature_importance.parquet`, `blend_weights.parquet` (None when absent).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from darkhorse.core.schema import CUTOFF, DS, ID, Y

WINDOW = "window"
_QUANTILE_COLUMN = re.compile(r"^(?P<model>.+)-q(?P<level>\d+)$")
_RESERVED = {ID, DS, Y, CUTOFF, WINDOW}


@dataclass
class Run:
    """What the report needs from one backtest directory."""

    out_dir: Path
    forecasts: pd.DataFrame
    metrics: dict[str, Any]
    models: list[str]
    quantiles: dict[str, dict[int, str]]
    series_metrics: pd.DataFrame | None = None
    hot_sellers: pd.DataFrame | None = None
    feature_importance: pd.DataFrame | None = None
    blend_weights: pd.DataFrame | None = None
    eval_cutoffs: list[pd.Timestamp] = field(default_factory=list)

    @property
    def eval_rows(self) -> pd.DataFrame:
        fc = self.forecasts
        if self.eval_cutoffs:
            return fc[fc[CUTOFF].isin(self.eval_cutoffs)]
        return fc


def load_run(out: Path) -> Run:
    fc_path, metrics_path = out / "forecasts.parquet", out / "metrics.json"
    for p in (fc_path, metrics_path):
        if not p.is_file():
            raise FileNotFoundError(f"backtest output {p} not found")
    fc = pd.read_parquet(fc_path)
    missing = [c for c in (ID, DS, Y) if c not in fc.columns]
    if missing:
        raise ValueError(f"{fc_path} lacks column(s) {', '.join(missing)}")
    fc[DS] = pd.to_datetime(fc[DS])
    if CUTOFF in fc.columns:
        fc[CUTOFF] = pd.to_datetime(fc[CUTOFF])
    else:
        fc[CUTOFF] = pd.NaT
    fc[ID] = fc[ID].astype(str)
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) or {}
    if not isinstance(metrics, dict):
        raise ValueError(f"{metrics_path} is not a JSON object")

    quantiles = quantile_columns(fc.columns)
    models = [m for m in quantiles if m in fc.columns]
    run = Run(out, fc, metrics, models, quantiles)
    run.series_metrics = _read_optional(out / "series_metrics.parquet")
    run.hot_sellers = _read_optional(out / "hot_sellers.parquet")
    run.feature_importance = _read_optional(out / "feature_importance.parquet")
    run.blend_weights = _read_optional(out / "blend_weights.parquet")
    for frame in (run.series_metrics, run.hot_sellers):
        if frame is not None and CUTOFF in frame.columns:
            frame[CUTOFF] = pd.to_datetime(frame[CUTOFF])
    run.eval_cutoffs = eval_cutoffs(fc, metrics)
    return run


def _read_optional(path: Path) -> pd.DataFrame | None:
    return pd.read_parquet(path) if path.is_file() else None


def quantile_columns(columns: Sequence[str]) -> dict[str, dict[int, str]]:
    """model -> {quantile level in percent: column}, models in column order."""
    found: dict[str, dict[int, str]] = {}
    for col in columns:
        m = _QUANTILE_COLUMN.match(str(col))
        if m and m["model"] not in _RESERVED:
            found.setdefault(m["model"], {})[int(m["level"])] = str(col)
    return {model: dict(sorted(levels.items())) for model, levels in found.items()}


def eval_cutoffs(fc: pd.DataFrame, metrics: dict[str, Any]) -> list[pd.Timestamp]:
    """Cutoffs of the evaluation windows: the `window` column, else metrics.json, else all."""
    cutoffs: set[pd.Timestamp] = set()
    if WINDOW in fc.columns:
        cutoffs = set(fc.loc[fc[WINDOW].astype(str) == "eval", CUTOFF].dropna().unique())
    if not cutoffs:
        for w in metrics.get("windows") or []:
            if isinstance(w, dict) and w.get("role") == "eval" and w.get("cutoff"):
                try:
                    cutoffs.add(pd.Timestamp(w["cutoff"]))
                except (TypeError, ValueError):
                    continue
        cutoffs &= {pd.Timestamp(c) for c in fc[CUTOFF].dropna().unique()}
    return sorted({pd.Timestamp(c) for c in cutoffs})
