"""Temporal Fusion Transformer (pytorch-forecasting) behind the DarkHorse protocol.

Inputs, in pytorch-forecasting's terms:

* target: log1p(units), normalized per window by its encoder (`EncoderNormalizer`), trained with
  `QuantileLoss` on a fixed quantile grid (the loss is in log space, so large items do not
  dominate); any asked level is interpolated on the grid, the point forecast is the median;
* static reals: the item's mean log1p(units) over its training history and, when the frame has
  `revenue`, its log mean unit price (standardized);
* known reals: the ISO week's sine and cosine and the item's age in weeks (calendar covariates
  that are known for every future week), plus pytorch-forecasting's relative time index and
  encoder length;
* observed reals: the Feast activity covariates (log1p if never negative, standardized with
  statistics fitted on the training series only) and the target itself.

Series shorter than `min_encoder_length` weeks cannot fill the encoder: they are forecast by
`fallback` (a baseline fitted on the same frame), counted in `n_fallback_` and logged, never
dropped. Early stopping watches the quantile loss on a random `val_fraction` of the series.

All preprocessing is DarkHorse's own and stateless inside pytorch-forecasting (no fitted
scalers or encoders there), so a saved model is its `state_dict` (read back with
`weights_only=True`), the settings, its scalers as JSON and the prediction windows as arrays;
the network is rebuilt with `TemporalFusionTransformer.from_dataset` on the same columns.
Variable importance (static, encoder and decoder variable-selection weights on the prediction
windows) is kept in `feature_importance_` with `static:` / `encoder:` / `decoder:` prefixes.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field, model_validator

from darkhorse.core.schema import DS, ID, Y
from training.device import TORCH_THREADS_HELP
from training.models.base import Forecaster, ModelError, ModelSettings
from training.models.fallback import FallbackName, fill_from_fallback, fit_fallback
from training.models.torch_common import (
    QUANTILE_GRID,
    Standardizer,
    TorchForecaster,
    calendar,
    fit_lightning,
    held_out_series,
    interpolate_quantiles,
    numeric_covariates,
    series_bounds,
    torch_run,
)

log = logging.getLogger(__name__)

TARGET = "y_log"
KNOWN = ["cal_sin", "cal_cos", "age"]
# covariates that are calendar arithmetic, not observations: the known reals replace them
CALENDAR_COVARIATES = {"week_of_year", "weeks_since_first_event"}


class TFTSettings(ModelSettings):
    max_encoder_length: int = Field(16, ge=2, le=156, description="Weeks of history the encoder sees.")
    min_encoder_length: int = Field(4, ge=1, description="Shorter series go to the fallback model.")
    hidden_size: int = Field(16, ge=1, le=512)
    attention_head_size: int = Field(2, ge=1, le=16)
    hidden_continuous_size: int = Field(8, ge=1, le=512)
    lstm_layers: int = Field(1, ge=1, le=4)
    dropout: float = Field(0.1, ge=0, lt=1)
    learning_rate: float = Field(3e-3, gt=0, le=1)
    batch_size: int = Field(128, ge=1)
    max_epochs: int = Field(6, ge=1)
    batches_per_epoch: int = Field(40, ge=1, description="Training batches drawn per epoch.")
    patience: int = Field(2, ge=1, description="Epochs without a better validation loss before stopping.")
    val_fraction: float = Field(0.1, ge=0, lt=0.9, description="Share of series held out for early stopping.")
    max_val_windows: int = Field(2000, ge=1)
    train_weeks: int = Field(104, ge=1, description="Only the last N weeks (+ encoder) are training windows.")
    use_covariates: bool = Field(True, description="Feed the Feast activity covariates as observed reals.")
    fallback: FallbackName = Field(
        "statquant", description="Model for series too short for the encoder."
    )
    gradient_clip: float = Field(0.1, ge=0)
    n_threads: int = Field(0, ge=0, description=TORCH_THREADS_HELP)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 0

    @model_validator(mode="after")
    def _lengths(self) -> TFTSettings:
        if self.min_encoder_length > self.max_encoder_length:
            raise ValueError("min_encoder_length must not exceed max_encoder_length")
        return self


def _dataset(frame: pd.DataFrame, s: TFTSettings, horizon: int, statics: list[str], observed: list[str], *, predict: bool):
    """A TimeSeriesDataSet with no fitted state of its own (all scaling done before)."""
    from pytorch_forecasting import TimeSeriesDataSet
    from pytorch_forecasting.data import EncoderNormalizer

    reals = [*statics, *KNOWN, *observed, "relative_time_idx", "encoder_length"]
    return TimeSeriesDataSet(
        frame,
        time_idx="time_idx",
        target=TARGET,
        group_ids=["sid"],
        max_encoder_length=s.max_encoder_length,
        min_encoder_length=s.min_encoder_length,
        max_prediction_length=horizon,
        min_prediction_length=horizon if predict else 1,
        static_reals=statics,
        time_varying_known_reals=list(KNOWN),
        time_varying_unknown_reals=[TARGET, *observed],
        target_normalizer=EncoderNormalizer(method="standard", center=True),
        scalers=dict.fromkeys(reals),
        add_relative_time_idx=True,
        add_target_scales=False,
        add_encoder_length=True,
        predict_mode=predict,
    )


class TFTForecaster(TorchForecaster):
    """pytorch-forecasting's TemporalFusionTransformer with quantile outputs and a fallback."""

    model_name = "tft"
    Settings = TFTSettings
    global_model = True
    uses_covariates = True
    uses_future_covariates = True
    fixed_horizon = True

    @classmethod
    def test_params(cls) -> dict[str, Any]:
        return {"max_encoder_length": 8, "min_encoder_length": 4, "hidden_size": 8, "attention_head_size": 1,
                "hidden_continuous_size": 4, "max_epochs": 1, "batch_size": 64, "batches_per_epoch": 4,
                "max_val_windows": 128, "n_threads": 2}

    # ------------------------------------------------------------------ frames
    def _observed(self, df: pd.DataFrame) -> list[str]:
        if not self.settings.use_covariates:
            return []
        return [c for c in numeric_covariates(df) if c not in CALENDAR_COVARIATES]

    def _model_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """Model columns of the (sorted) history: sid, time_idx, target, known, observed, static."""
        starts, ends = series_bounds(df)
        lengths = ends - starts + 1
        pos = np.arange(len(df)) - np.repeat(starts, lengths)
        out = pd.DataFrame({"sid": df[ID].to_numpy(), "time_idx": self._time_idx(df[DS])})
        out[TARGET] = np.log1p(np.clip(df[Y].to_numpy(dtype="float64"), 0.0, None))
        cal = calendar(df[DS])
        out["cal_sin"], out["cal_cos"] = cal[:, 0], cal[:, 1]
        out["age"] = pos / 52.0
        obs = self.obs_scaler_.transform(df)
        for j, c in enumerate(self.obs_scaler_.columns):
            out[f"obs_{c}"] = obs[:, j]
        st = self.static_scaler_.transform(self._static_raw(df))
        for j, c in enumerate(self.static_scaler_.columns):
            out[c] = np.repeat(st[:, j], lengths)
        return out

    def _time_idx(self, ds: pd.Series | np.ndarray) -> np.ndarray:
        days = (pd.to_datetime(ds).to_numpy().astype("datetime64[D]").astype("int64"))
        return ((days - self.origin_day_) // 7).astype("int64")

    @staticmethod
    def _static_raw(df: pd.DataFrame) -> pd.DataFrame:
        """One row per series (sorted ids): its mean log1p(units) and log mean unit price."""
        ylog = pd.Series(np.log1p(np.clip(df[Y].to_numpy(dtype="float64"), 0.0, None)), index=df.index)
        out = pd.DataFrame({"s_level": ylog.groupby(df[ID], sort=True).mean()})
        if "revenue" in df.columns:
            units = df.groupby(ID, sort=True)[Y].sum()
            rev = df.groupby(ID, sort=True)["revenue"].sum()
            out["s_price"] = np.log1p(np.clip(rev / np.maximum(units, 1.0), 0.0, None))
        return out.reset_index(drop=True)

    # ------------------------------------------------------------------ fit
    def _fit(self, df: pd.DataFrame) -> None:
        s = self.settings
        self.origin_day_ = int(df[DS].min().to_datetime64().astype("datetime64[D]").astype("int64"))
        starts, ends = series_bounds(df)
        lengths = ends - starts + 1
        ids = df[ID].to_numpy()[starts]
        val_ids = held_out_series(ids, s.val_fraction, s.seed)
        is_val_row = df[ID].isin(val_ids).to_numpy()
        observed = self._observed(df)
        self.obs_scaler_ = Standardizer.fit(df[~is_val_row], observed)
        static_raw = self._static_raw(df)
        self.static_scaler_ = Standardizer.fit(static_raw[~np.isin(ids, list(val_ids))], list(static_raw.columns))
        frame = self._model_frame(df)
        self.statics_ = list(self.static_scaler_.columns)
        self.observed_ = [f"obs_{c}" for c in self.obs_scaler_.columns]

        # the fallback covers series too short for the encoder (fitted on every series: it pools)
        short = lengths < s.min_encoder_length
        self.short_ids_ = np.sort(ids[short]).astype(str)
        self.fallback_ = None
        if short.any():
            self.fallback_ = fit_fallback(s.fallback, df)
            log.info("tft: %d of %d series are shorter than %d weeks: forecast by %s",
                     int(short.sum()), len(ids), s.min_encoder_length, s.fallback)
        self.n_fallback_ = int(short.sum())

        # training windows: series with an encoder and at least one target week
        trainable = lengths >= s.min_encoder_length + 1
        keep_ids = set(ids[trainable])
        recent = frame["time_idx"] >= frame["time_idx"].max() - (s.train_weeks + s.max_encoder_length)
        fit_rows = frame[frame["sid"].isin(keep_ids) & recent.to_numpy()]
        train_frame = fit_rows[~fit_rows["sid"].isin(val_ids)]
        val_frame = fit_rows[fit_rows["sid"].isin(val_ids)]
        self._keep_prediction_frame(df, frame, ids, lengths)
        if train_frame.empty:
            raise ModelError(f"tft: no series has the {s.min_encoder_length + 1} weeks a training window needs")
        with torch_run(s.n_threads, s.seed) as gen:
            train_ds = _dataset(train_frame, s, self.horizon_, self.statics_, self.observed_, predict=False)
            self.net_ = self._network(train_ds)
            train_loader = train_ds.to_dataloader(train=True, batch_size=s.batch_size, generator=gen, num_workers=0)
            val_loader = None
            if len(val_frame):
                val_ds = _dataset(val_frame, s, self.horizon_, self.statics_, self.observed_, predict=False)
                n = len(val_ds)
                keep = np.sort(np.random.default_rng(s.seed).permutation(n)[: s.max_val_windows]).tolist()
                val_loader = val_ds.to_dataloader(train=False, batch_size=s.batch_size * 4, sampler=keep,
                                                  shuffle=False, num_workers=0)
            self.fit_info_ = fit_lightning(
                self.net_, train_loader, val_loader, max_epochs=s.max_epochs, patience=s.patience,
                device=s.device, gradient_clip=s.gradient_clip or None, limit_train_batches=s.batches_per_epoch,
            )
            self.fit_info_.update({"train_windows": len(train_ds), "n_fallback": self.n_fallback_})
            self.feature_importance_ = self._importance()

    def _network(self, dataset):
        from pytorch_forecasting import TemporalFusionTransformer
        from pytorch_forecasting.metrics import QuantileLoss

        s = self.settings
        return TemporalFusionTransformer.from_dataset(
            dataset,
            hidden_size=s.hidden_size,
            attention_head_size=s.attention_head_size,
            hidden_continuous_size=s.hidden_continuous_size,
            lstm_layers=s.lstm_layers,
            dropout=s.dropout,
            learning_rate=s.learning_rate,
            loss=QuantileLoss(quantiles=list(QUANTILE_GRID)),
            optimizer="adam",
            reduce_on_plateau_patience=1000,  # i.e. off; early stopping ends the run
            log_interval=-1,
            logging_metrics=torch.nn.ModuleList([]),
        )

    def _keep_prediction_frame(self, df: pd.DataFrame, frame: pd.DataFrame, ids: np.ndarray, lengths: np.ndarray) -> None:
        """Each long-enough series' last `max_encoder_length` weeks and its `horizon_` future
        weeks (known reals filled in, observed values 0: the decoder never reads them)."""
        s = self.settings
        ok = set(ids[lengths >= s.min_encoder_length])
        enc = frame[frame["sid"].isin(ok)].groupby("sid", sort=True).tail(s.max_encoder_length)
        last = enc.groupby("sid", sort=True).tail(1)
        steps = np.arange(1, self.horizon_ + 1)
        fut = last.loc[last.index.repeat(self.horizon_)].copy()
        k = np.tile(steps, len(last))
        fut["time_idx"] = fut["time_idx"].to_numpy() + k
        fut["age"] = fut["age"].to_numpy() + k / 52.0
        fut_ds = self.origin_day_ + 7 * fut["time_idx"].to_numpy()
        cal = calendar(pd.to_datetime(fut_ds.astype("datetime64[D]")))
        fut["cal_sin"], fut["cal_cos"] = cal[:, 0], cal[:, 1]
        fut[TARGET] = 0.0
        for c in self.observed_:
            fut[c] = 0.0
        self.pred_frame_ = pd.concat([enc, fut]).sort_values(["sid", "time_idx"], kind="stable").reset_index(drop=True)

    # ------------------------------------------------------------------ predict
    def _raw_quantiles(self) -> tuple[np.ndarray, list[str], list[dict]]:
        """(series, horizon_, grid) in log space for the TFT series, their ids, raw outputs."""
        s = self.settings
        ds = _dataset(self.pred_frame_, s, self.horizon_, self.statics_, self.observed_, predict=True)
        loader = ds.to_dataloader(train=False, batch_size=512, num_workers=0)
        outs, sids, raws = [], [], []
        self.net_.eval()
        with torch.no_grad():
            for x, _ in loader:
                out = self.net_(x)
                outs.append(out["prediction"].numpy().astype("float64"))
                sids.extend(ds.x_to_index(x)["sid"].astype(str).tolist())
                raws.append(out)
        return np.concatenate(outs), sids, raws

    def _importance(self) -> pd.Series:
        if self.pred_frame_.empty:
            return pd.Series(dtype="float64")
        _, _, raws = self._raw_quantiles()
        parts: dict[str, float] = {}
        for out in raws:
            interp = self.net_.interpret_output(out, reduction="sum")
            for kind, names in (("static", self.net_.static_variables), ("encoder", self.net_.encoder_variables),
                                ("decoder", self.net_.decoder_variables)):
                w = interp[f"{kind}_variables"].detach().numpy()
                for n, v in zip(names, w, strict=True):
                    parts[f"{kind}:{n}"] = parts.get(f"{kind}:{n}", 0.0) + float(v)
        imp = pd.Series(parts, dtype="float64")
        for kind in ("static", "encoder", "decoder"):
            sel = imp.index.str.startswith(f"{kind}:")
            total = imp[sel].sum()
            if total > 0:
                imp[sel] = imp[sel] / total
        return imp.sort_values(ascending=False)

    def _predict(self, h: int, quantiles: list[float]) -> pd.DataFrame:
        s = self.settings
        ids = list(self.last_ds_.index)
        grid = np.full((len(ids), h, len(QUANTILE_GRID)), np.nan)
        if not self.pred_frame_.empty:
            with torch_run(s.n_threads, s.seed):
                vals, sids, _ = self._raw_quantiles()
            pos = pd.Index(ids).get_indexer(sids)
            grid[pos] = np.expm1(vals[:, :h, :])
        qvals = interpolate_quantiles(grid, QUANTILE_GRID, quantiles)
        point = interpolate_quantiles(grid, QUANTILE_GRID, [0.5])[:, :, 0]
        if self.fallback_ is not None:
            fill_from_fallback(self.fallback_, self.short_ids_, self.last_ds_, h, quantiles, point, qvals)
        return self._frame(h, quantiles, point, qvals)

    # ------------------------------------------------------------------ persistence
    def _export(self) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, Forecaster]]:
        info = {
            "origin_day": self.origin_day_,
            "obs_scaler": self.obs_scaler_.to_json(),
            "static_scaler": self.static_scaler_.to_json(),
            "statics": self.statics_,
            "observed": self.observed_,
            "fit_info": self.fit_info_,
            "n_fallback": self.n_fallback_,
            "importance": {k: float(v) for k, v in self.feature_importance_.items()},
            "pred_columns": list(self.pred_frame_.columns),
        }
        arrays = {f"pred__{c}": self.pred_frame_[c].to_numpy() for c in self.pred_frame_.columns}
        arrays["pred__sid"] = arrays["pred__sid"].astype(str)
        arrays["short_ids"] = self.short_ids_
        subs = {"fallback": self.fallback_} if self.fallback_ is not None else {}
        return info, arrays, subs

    def _import(self, info, arrays, states, subs) -> None:
        self.origin_day_ = int(info["origin_day"])
        self.obs_scaler_ = Standardizer.from_json(info["obs_scaler"])
        self.static_scaler_ = Standardizer.from_json(info["static_scaler"])
        self.statics_, self.observed_ = list(info["statics"]), list(info["observed"])
        self.fit_info_, self.n_fallback_ = info["fit_info"], int(info["n_fallback"])
        self.feature_importance_ = pd.Series(info["importance"], dtype="float64").sort_values(ascending=False)
        self.pred_frame_ = pd.DataFrame({c: arrays[f"pred__{c}"] for c in info["pred_columns"]})
        self.pred_frame_["sid"] = self.pred_frame_["sid"].astype(str)
        self.short_ids_ = arrays["short_ids"].astype(str)
        self.fallback_ = subs.get("fallback")
        with torch_run(self.settings.n_threads, self.settings.seed):
            self.net_ = self._network(_dataset(self.pred_frame_, self.settings, self.horizon_, self.statics_, self.observed_, predict=True))
            self.net_.load_state_dict(states["net"])
        self.net_.eval()
