"""`darkhorse train` for request load: the load ensemble fitted on the published interval panel
and saved to the BentoML model store, pinned by the release.

The panel is the gate-approved `series_intervals` export (one row per series per interval, the
config's `load.target` column as the load). The ensemble (`blend.LoadEnsemble`, its default
members: seasonal naive over a day and a week, the global XGBoost) is fitted for a horizon of
one day of intervals (at most `MAX_HORIZON`), its weights learned on each series' held-out
last horizon. The model is saved as `<prefix>_load_forecaster:<version>` (the run's version)
with the grain, target, horizon, weights and held-out MASE per member as metadata; the run
is written as `load_train.json` (a `darkhorse.core.manifest.LoadManifest`) beside the weekly
run's `train.json`, where `darkhorse release` reads the tag to pin (the panel then seeds the
streaming buffers).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from darkhorse.core.errors import DarkHorseError
from darkhorse.core.manifest import LOAD_TRAIN_FILE, SCHEMA_VERSION, LoadManifest
from darkhorse.core.schema import DS, ID, Y
from training.load.blend import LoadEnsemble, held_out_scale
from training.load.frame import periods

MODEL_FILE = "load_model.pkl"
MAX_HORIZON = 288


class LoadTrainError(DarkHorseError, RuntimeError):
    """No interval panel to train on, or a saved load model that cannot be read."""


def load_panel(config: Any) -> pd.DataFrame:
    """`unique_id, ds, y` from the published `series_intervals` (ds in UTC, naive)."""
    path = config.marts_dir / "series_intervals.parquet"
    if not path.is_file():
        raise LoadTrainError(f"{path} not found: run `darkhorse build` (the interval panel of the request_log source)")
    raw = pd.read_parquet(path, columns=["series_id", "interval_start", config.load.target])
    if raw.empty:
        raise LoadTrainError(f"{path}: the interval panel has no rows")
    ds = pd.to_datetime(raw["interval_start"], utc=True).dt.tz_localize(None)
    return pd.DataFrame({ID: raw["series_id"].astype(str), DS: ds, Y: raw[config.load.target].astype("float64")})


def horizon(freq: str) -> int:
    return min(periods(freq)["day"], MAX_HORIZON)


def held_out_mase(model: LoadEnsemble) -> dict[str, float]:
    """Each member's and the ensemble's mean MASE on the series' held-out windows."""
    h = model.horizon_
    scale = held_out_scale(model.series_, h, model.periods_["day"])
    actual = np.vstack([y[-h:] if len(y) >= h else np.full(h, np.nan) for y in model.series_])
    out = {}
    for name, fc in [*((n, m.validation()) for n, m in model.members_.items()), (model.alias, model.validation())]:
        with np.errstate(all="ignore"):
            per = np.mean(np.abs(actual - fc), axis=1) / scale
        out[name] = float(np.nanmean(per)) if np.isfinite(per).any() else float("nan")
    return out


def fit_load_model(config: Any, panel: pd.DataFrame | None = None) -> LoadEnsemble:
    panel = load_panel(config) if panel is None else panel
    freq = config.load.grain
    return LoadEnsemble(alias="ensemble").fit(panel, freq=freq, horizon=horizon(freq))


def train_load(config: Any, *, version: str, out_dir: Path, save: bool = True) -> dict[str, Any]:
    """Fit, save (unless `save` is false) and describe the run in `<out_dir>/load_train.json`."""
    panel = load_panel(config)
    model = fit_load_model(config, panel)
    run: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "version": version,
        "config_path": str(config.path),
        "grain": config.load.grain,
        "target": config.load.target,
        "horizon": model.horizon_,
        "series": int(panel[ID].nunique()),
        "last_interval": str(panel[DS].max()),
        "weights": model.weights_,
        "held_out_mase": held_out_mase(model),
        "config_hash": config.config_hash(),
        "tag": None,
    }
    if save:
        import bentoml

        labels = {"project": config.project, "config_hash": config.config_hash(), "kind": "load_forecaster"}
        with bentoml.models.create(
            f"{config.training.model_prefix}_load_forecaster:{version}", labels=labels,
            metadata={k: v for k, v in run.items() if k != "tag"},
        ) as ref:
            with open(Path(ref.path) / MODEL_FILE, "wb") as f:
                pickle.dump(model, f, protocol=pickle.HIGHEST_PROTOCOL)
            run["tag"] = str(ref.tag)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    LoadManifest.parse(json.loads(json.dumps(run, default=str)), source=LOAD_TRAIN_FILE)  # the schema release reads
    (out_dir / LOAD_TRAIN_FILE).write_text(json.dumps(run, indent=2, default=str))
    return run


def read_load_model(model_dir: str | Path) -> LoadEnsemble:
    path = Path(model_dir) / MODEL_FILE
    if not path.is_file():
        raise LoadTrainError(f"{path} not found: the load model was not saved by `darkhorse train`")
    with open(path, "rb") as f:
        model = pickle.load(f)  # our own model store, written by train_load
    if not isinstance(model, LoadEnsemble):
        raise LoadTrainError(f"{path}: not a load ensemble ({type(model).__name__})")
    return model
