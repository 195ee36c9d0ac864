"""The streaming load predictor: a buffer of recent intervals per series, seeded from the
published interval panel, appended to by observations, forecast and planned from on request.

* `observe(series_id, points)`: counts per interval start. Timestamps must sit on the grain and
  increase; loads must be finite and non-negative (else `RequestError` naming the field).
  Points at or before the series' last interval are late: reported, not applied (the buffer
  never rewrites the past). Intervals skipped between the last one and a new point become zero
  rows, as in the panel, and are reported as filled.
* `forecast(series_id, h, quantiles)`: the next `h` intervals after the buffer's end: from the
  release's trained load model (`darkhorse train`) reading the buffer (`refresh`: the global
  members are not refitted), or without one from a `training.load` member fitted on the buffer.
  A series' forecast is computed once per state of its buffer: the refreshed model and each
  (h, quantiles) answer are kept until an observe changes that series' buffer (late points
  alone change nothing), so repeated forecasts and plans between observations cost a lookup.
  `cache_info()` counts the forecasts computed and those answered from the cache.
* `LoadRoutes`: the three routes' work on typed requests (`api.Load*`): observe, forecast, and
  plan (`capacity.forecast_plan` over the forecast at a grid of levels and the plan's quantile,
  with `load.plan` of the config and the request's overrides).

The release seeds the buffers from the published panel at release time (`write_seed`, into
the bento); a service's first start copies them. State survives a restart: every accepted observation rewrites the series' buffer file
(`<state_dir>/<sha256 of the series id>.npz`, written beside and renamed into place), and a
new `LoadStream` on the same folder reads the buffers back instead of seeding again. Only the
series of the seed panel are known: no request names a file or creates one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from darkhorse.core.manifest import LOAD_RELEASE_FILE
from darkhorse.core.schema import DS, ID, Y, check_quantiles, quantile_columns
from darkhorse.serving import api, capacity
from darkhorse.serving.engine import RequestError
from training.load import LoadForecaster, create, periods
from training.load.frame import step
from training.load.train import read_load_model

STATE_FORMAT = 1
CACHED_ANSWERS = 16  # (h, quantiles) answers kept per series and buffer state
LOAD_SEED_DIR = "load_seed"  # in a release: the streaming buffers, seeded at release time
__all__ = ["LOAD_RELEASE_FILE", "LOAD_SEED_DIR", "LoadRoutes", "LoadStream", "Observed", "plan_settings", "write_seed"]


@dataclass(frozen=True)
class Observed:
    """What `observe` did with a request's points."""

    series_id: str
    accepted: int
    late: list[str]  # ISO timestamps of points at or before the buffer's last interval
    filled: int  # skipped intervals written as zero rows
    last_interval: str


class LoadStream:
    def __init__(
        self,
        state_dir: str | Path,
        *,
        freq: str,
        model: str = "seasonal_naive",
        params: dict[str, Any] | None = None,
        history_days: int = 28,
        fitted: LoadForecaster | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.freq = freq
        self.delta = step(freq)
        self.model, self.params = model, dict(params or {})
        if fitted is not None and fitted.freq_ != freq:
            raise RequestError("state", f"the load model was trained at {fitted.freq_}, the buffers hold {freq}")
        self.fitted = fitted
        self.max_len = history_days * periods(freq)["day"]
        self._lock = threading.Lock()
        self._ds: dict[str, np.ndarray] = {}  # int64 nanoseconds since the epoch, UTC
        self._y: dict[str, np.ndarray] = {}
        # per series: its buffer's version (bumped by an observe that changes it) and what was
        # computed from that version: the refreshed model and the answers per (h, quantiles)
        self._version: dict[str, int] = {}
        self._models: dict[str, tuple[int, Any]] = {}
        self._answers: dict[str, tuple[int, dict[tuple[int, tuple[float, ...]], pd.DataFrame]]] = {}
        self._computed = 0
        self._hits = 0
        create(model, **self.params)  # fail at start, not on the first request, on a bad spec

    # ------------------------------------------------------------------ state
    def _file(self, series_id: str) -> Path:
        return self.state_dir / f"{hashlib.sha256(series_id.encode()).hexdigest()[:32]}.npz"

    def _write(self, series_id: str) -> None:
        path = self._file(series_id)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, format=STATE_FORMAT, series_id=series_id, freq=self.freq, ds=self._ds[series_id], y=self._y[series_id])
        os.replace(tmp, path)

    @classmethod
    def open(
        cls, state_dir: str | Path, panel: pd.DataFrame | None = None, *, freq: str,
        seed_dir: str | Path | None = None, **kwargs: Any,
    ) -> LoadStream:
        """The buffers of `state_dir` when it holds any (a restart), else those of `seed_dir`
        (written by the release from the panel at release time), else seeded from `panel`
        (`unique_id, ds, y`, e.g. the published `series_intervals` read with the config's target)."""
        stream = cls(state_dir, freq=freq, **kwargs)
        stream.state_dir.mkdir(parents=True, exist_ok=True)
        files = sorted(stream.state_dir.glob("*.npz"))
        seeds = sorted(Path(seed_dir).glob("*.npz")) if seed_dir is not None and Path(seed_dir).is_dir() else []
        if not files and seeds:
            for f in seeds:
                shutil.copy2(f, stream.state_dir / f.name)
            files = sorted(stream.state_dir.glob("*.npz"))
        if files:
            for f in files:
                with np.load(f, allow_pickle=False) as z:
                    if int(z["format"]) != STATE_FORMAT or str(z["freq"]) != freq:
                        raise RequestError("state", f"{f}: written at another format or grain than {freq}")
                    sid = str(z["series_id"])
                    stream._ds[sid], stream._y[sid] = z["ds"].astype("int64"), z["y"].astype("float64")
            return stream
        if panel is None or panel.empty:
            raise RequestError("state", f"no load state in {stream.state_dir} and no panel to seed it from")
        for sid, g in panel.sort_values([ID, DS]).groupby(ID, sort=True):
            ds = pd.to_datetime(g[DS], utc=True).astype("datetime64[ns, UTC]")
            stream._ds[str(sid)] = ds.array.asi8[-stream.max_len :].astype("int64")
            stream._y[str(sid)] = g[Y].to_numpy(dtype="float64")[-stream.max_len :]
            stream._write(str(sid))
        return stream

    @property
    def series(self) -> list[str]:
        return sorted(self._ds)

    def last_interval(self, series_id: str) -> pd.Timestamp:
        return pd.Timestamp(int(self._known(series_id)[-1]), tz="UTC")

    def _known(self, series_id: str) -> np.ndarray:
        if series_id not in self._ds:
            raise RequestError("series_id", f"unknown series {series_id!r}; known: {self.series[:20]}")
        return self._ds[series_id]

    # ------------------------------------------------------------------ observe
    def observe(self, series_id: str, timestamps: Sequence[Any], values: Sequence[float]) -> Observed:
        if len(timestamps) != len(values):
            raise RequestError("values", f"{len(values)} values for {len(timestamps)} timestamps")
        if not len(timestamps):
            raise RequestError("timestamps", "no points")
        try:
            ts = pd.to_datetime(pd.Series(list(timestamps)), utc=True)
        except (ValueError, TypeError) as e:
            raise RequestError("timestamps", f"not timestamps: {e}") from None
        y = np.asarray(values, dtype="float64")
        if not np.isfinite(y).all() or (y < 0).any():
            raise RequestError("values", "loads must be finite and non-negative")
        if (ts != ts.dt.floor(self.delta)).any():
            bad = ts[ts != ts.dt.floor(self.delta)].iloc[0]
            raise RequestError("timestamps", f"{bad.isoformat()} is not the start of a {self.freq} interval")
        ns = ts.astype("datetime64[ns, UTC]").array.asi8
        if (np.diff(ns) <= 0).any():
            raise RequestError("timestamps", "timestamps must increase")
        with self._lock:
            known = self._known(series_id)
            last = int(known[-1])
            late = ns <= last
            new_ns, new_y = ns[~late], y[~late]
            filled = 0
            if new_ns.size:
                step_ns = self.delta.value
                grid = np.arange(last + step_ns, int(new_ns[-1]) + 1, step_ns, dtype="int64")
                grid_y = np.zeros(grid.size)
                grid_y[((new_ns - last) // step_ns - 1).astype(int)] = new_y
                filled = int(grid.size - new_ns.size)
                self._ds[series_id] = np.concatenate([known, grid])[-self.max_len :]
                self._y[series_id] = np.concatenate([self._y[series_id], grid_y])[-self.max_len :]
                self._write(series_id)
                self._version[series_id] = self._version.get(series_id, 0) + 1  # cached forecasts are stale
            return Observed(
                series_id=series_id,
                accepted=int(new_ns.size),
                late=[t.isoformat() for t in ts[late]],
                filled=filled,
                last_interval=self.last_interval(series_id).isoformat(),
            )

    # ------------------------------------------------------------------ forecast, plan
    def forecast(self, series_id: str, h: int, quantiles: Sequence[float]) -> pd.DataFrame:
        """`ds` (UTC), `point` and one column per quantile (`q<level>`), the next `h` intervals."""
        if not 1 <= int(h) <= periods(self.freq)["week"]:
            raise RequestError("h", f"h must lie in 1..{periods(self.freq)['week']} intervals (a week)")
        self._known(series_id)
        try:
            qs = check_quantiles(quantiles)
        except ValueError as e:
            raise RequestError("quantiles", str(e)) from None
        if self.fitted is not None and int(h) > self.fitted.horizon_:
            raise RequestError("horizon", f"the release's load model forecasts at most {self.fitted.horizon_} intervals")
        key = (int(h), tuple(float(q) for q in qs))
        with self._lock:
            version = self._version.get(series_id, 0)
            seen, answers = self._answers.get(series_id, (version, {}))
            if seen == version and key in answers:
                self._hits += 1
                return answers[key].copy()
            ds, y = self._ds[series_id].copy(), self._y[series_id].copy()
            cached = self._models.get(series_id)
            model = cached[1] if cached is not None and cached[0] == version else None
        if model is None:
            frame = pd.DataFrame({ID: series_id, DS: pd.to_datetime(ds, utc=True).tz_localize(None), Y: y})
            if self.fitted is not None:  # the release's trained model, reading the buffer
                model = self.fitted.refresh(frame)
            else:  # a member fitted on the buffer for this horizon: kept per answer, not per series
                model = create(self.model, alias="f", **self.params).fit(frame, freq=self.freq, horizon=int(h))
        fc = model.predict(h=int(h), quantiles=qs)
        out = pd.DataFrame({"ds": pd.to_datetime(fc[DS]).dt.tz_localize("UTC"), "point": fc[model.alias].to_numpy()})
        for q, col in zip(qs, quantile_columns(model.alias, qs), strict=True):
            out[f"q{q:g}"] = fc[col].to_numpy()
        with self._lock:
            self._computed += 1
            if self._version.get(series_id, 0) == version:  # no observe meanwhile: keep it
                if self.fitted is not None:
                    self._models[series_id] = (version, model)
                seen, answers = self._answers.get(series_id, (version, {}))
                answers = answers if seen == version else {}
                if len(answers) >= CACHED_ANSWERS:
                    answers.pop(next(iter(answers)))
                answers[key] = out
                self._answers[series_id] = (version, answers)
        return out.copy()

    def cache_info(self) -> dict[str, int]:
        """Forecasts computed (a model refreshed or fitted, then predicted) and answered from the
        cache since the stream opened."""
        with self._lock:
            return {"computed": self._computed, "cached": self._hits}


def _panel(config: Any) -> pd.DataFrame | None:
    panel_path = config.marts_dir / "series_intervals.parquet"
    if not panel_path.is_file():
        return None
    raw = pd.read_parquet(panel_path, columns=["series_id", "interval_start", config.load.target])
    return raw.rename(columns={"series_id": ID, "interval_start": DS, config.load.target: Y})


def write_seed(config: Any, seed_dir: str | Path) -> list[str]:
    """The buffers of every series of the published panel, written into `seed_dir` (the
    release's copy: the service starts from them, not from the panel of its start time)."""
    panel = _panel(config)
    if panel is None or panel.empty:
        raise RequestError("state", f"{config.marts_dir / 'series_intervals.parquet'}: no interval panel to seed from")
    return LoadStream.open(seed_dir, panel, freq=config.load.grain).series


# --------------------------------------------------------------------------- the routes' work
def plan_settings(config_plan: Any, req: api.LoadPlanRequest | None = None) -> capacity.PlanSettings:
    """`load.plan` of the config, with a request's overrides."""
    def pick(name: str, default: Any) -> Any:
        value = getattr(req, name, None) if req is not None else None
        return default if value is None else value

    try:
        return capacity.PlanSettings(
            throughput=pick("throughput_per_replica", config_plan.throughput_per_replica),
            quantile=pick("quantile", config_plan.quantile),
            min_replicas=pick("min_replicas", config_plan.min_replicas),
            max_replicas=pick("max_replicas", config_plan.max_replicas),
            lead=pick("lead_intervals", config_plan.lead_intervals),
            cooldown=pick("cooldown_intervals", config_plan.cooldown_intervals),
            target_utilisation=config_plan.target_utilisation,
        )
    except capacity.CapacityError as e:
        raise RequestError(e.field or "plan", str(e)) from None


class LoadRoutes:
    """What `/v1/load/observe`, `/v1/load/forecast` and `/v1/load/plan` do, on typed requests."""

    def __init__(self, stream: LoadStream, config_plan: Any) -> None:
        self.stream = stream
        self.config_plan = config_plan

    @classmethod
    def from_config(
        cls, config: Any, *, state_dir: str | Path | None = None, seed_dir: str | Path | None = None,
        model_dir: str | Path | None = None, **kwargs: Any,
    ) -> LoadRoutes:
        """Buffers under `state_dir` (default `<data_dir>/load_state`), on first start copied
        from the release's `seed_dir` (seeded at release time), else seeded from the published
        `series_intervals` (the config's `load.target` column); forecasts from the release's
        trained load model in `model_dir` when given, else a `seasonal_naive` fitted per request."""
        seeded = seed_dir is not None and any(Path(seed_dir).glob("*.npz"))
        panel = None if seeded else _panel(config)
        if model_dir is not None:
            kwargs["fitted"] = read_load_model(model_dir)
        stream = LoadStream.open(
            Path(state_dir) if state_dir else config.data_dir / "load_state", panel, freq=config.load.grain,
            seed_dir=seed_dir, **kwargs,
        )
        return cls(stream, config.load.plan)

    def observe(self, req: api.LoadObserveRequest) -> api.LoadObserveResponse:
        out = self.stream.observe(req.series_id, req.timestamps, req.values)
        return api.LoadObserveResponse(**out.__dict__)

    def forecast(self, req: api.LoadForecastRequest) -> api.LoadForecastResponse:
        fc = self.stream.forecast(req.series_id, req.horizon, req.quantiles)
        qcols = [c for c in fc.columns if c.startswith("q")]
        intervals = [
            api.LoadInterval(start=row["ds"].to_pydatetime(), point=float(row["point"]),
                             quantiles={c: float(row[c]) for c in qcols})
            for _, row in fc.iterrows()
        ]
        return api.LoadForecastResponse(series_id=req.series_id, grain=self.stream.freq, intervals=intervals)

    def plan(self, req: api.LoadPlanRequest) -> api.LoadPlanResponse:
        settings = plan_settings(self.config_plan, req)
        levels = sorted({*np.round(np.arange(0.05, 0.96, 0.05), 2).tolist(), settings.quantile})
        fc = self.stream.forecast(req.series_id, req.horizon, levels)
        q = fc[[f"q{lv:g}" for lv in levels]].to_numpy()
        plan = capacity.forecast_plan(np.asarray(levels), q, settings, initial=req.current_replicas)
        at = fc[f"q{settings.quantile:g}"].to_numpy()
        hours = self.stream.delta / pd.Timedelta("1h")
        intervals = [
            api.PlannedInterval(
                start=fc["ds"].iloc[k].to_pydatetime(), replicas=int(plan.replicas[k]),
                capacity=float(plan.capacity[k]), load_at_quantile=float(at[k]),
                p_over_capacity=float(plan.p_over_capacity[k]), actionable=k >= settings.lead,
            )
            for k in range(len(plan.replicas))
        ]
        return api.LoadPlanResponse(
            series_id=req.series_id, grain=self.stream.freq, quantile=settings.quantile,
            throughput_per_replica=settings.throughput,
            expected_intervals_over_capacity=float(plan.expected_over_capacity),
            replica_hours=float(plan.replicas.sum() * hours),
            scaling_actions=int((np.diff(np.r_[plan.replicas[:1] if req.current_replicas is None else [req.current_replicas], plan.replicas]) != 0).sum()),
            intervals=intervals,
        )
