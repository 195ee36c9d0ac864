"""The DarkHorse release service: forecasts, hot sellers and capacity allocation over HTTP.

`darkhorse release` copies this file into a bento together with `release.json` (the release's
`ReleaseManifest`: the pinned model tags, the config it was trained with, the backtest metrics;
validated on import, a bad file stops the service with a message naming the file and field)
and a model card. Routes:

* `POST /v1/forecast`: weekly quantile forecasts of the named items;
* `POST /v1/hot-sellers`: top k (or above a threshold) items by a hot-seller score;
* `POST /v1/allocate`: newsvendor, fair share, service level or node balance allocation, of
  items, or (`level: region` / `item_region`) of the release's reconciled region forecasts;
* `POST /v1/release`: the release, its models, feature freshness and limits;
* `POST /v1/load/observe`, `/v1/load/forecast`, `/v1/load/plan`: request load per interval of
  the config's `request_log` series (darkhorse/serving/load.py): append observed loads, forecast
  the next intervals with quantiles, plan replicas; from the load model the release pins
  (`load_release.json`) and buffers the release seeded from the interval panel (`load_seed/`),
  copied on the first start (from the published panel for a release without them) and kept under `DARKHORSE_LOAD_STATE` (default
  `<data_dir>/load_state`), so they survive a restart;
* `GET /ui/`: a small dashboard of the three; `GET /docs`, `/docs.json`: the OpenAPI schema.

A request_log-only release (no `release.json`, only `load_release.json`) serves the load
routes and `/v1/release`; the weekly routes answer HTTP 404 "this release has no weekly
forecaster". Requests that cannot be answered (unknown items, horizon beyond the trained one, capacity below
the minimums, ...) get HTTP 400 with `{"error": ..., "field": ...}`. No route reads or writes a
path taken from a request.
"""

import logging
import os
from pathlib import Path

from darkhorse.core.env import PROCESS_ENV

# no OpenTelemetry SDK (no traces are exported anyway): with it on, every request left span
# objects behind and the garbage collector's passes over them stalled requests (set
# OTEL_SDK_DISABLED=false before serving to trace with BentoML's tracing settings); telemetry off
os.environ.update({**PROCESS_ENV, **os.environ})  # defaults: what the caller set wins

import bentoml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from darkhorse.core.manifest import (
    LOAD_RELEASE_FILE,
    RELEASE_FILE,
    LoadManifest,
    ManifestError,
    ReleaseManifest,
)
from darkhorse.serving import api, collector
from darkhorse.serving.engine import Engine, RequestError
from darkhorse.serving.load import LOAD_SEED_DIR
from darkhorse.serving.regions import REGIONS_FILE

log = logging.getLogger("darkhorse.service")

HERE = Path(__file__).resolve().parent
MANIFEST_PATH = Path(os.environ.get("DARKHORSE_RELEASE", HERE / RELEASE_FILE))
_LOAD_RELEASE = MANIFEST_PATH.parent / LOAD_RELEASE_FILE
if not MANIFEST_PATH.is_file() and not _LOAD_RELEASE.is_file():
    raise ManifestError(f"{MANIFEST_PATH}: not found, nor {_LOAD_RELEASE}: not a DarkHorse release")
# the weekly part (release.json) and the load part (load_release.json): a release has one or both
MANIFEST = ReleaseManifest.read(MANIFEST_PATH) if MANIFEST_PATH.is_file() else None
LOAD_MANIFEST = LoadManifest.read(_LOAD_RELEASE) if _LOAD_RELEASE.is_file() else None
MODELS = MANIFEST.pinned(str(MANIFEST_PATH)) if MANIFEST is not None else None
LOAD_TAG = LOAD_MANIFEST.pinned(str(_LOAD_RELEASE)) if LOAD_MANIFEST is not None else None
RELEASE = (MANIFEST.released(str(MANIFEST_PATH)) if MANIFEST is not None
           else LOAD_MANIFEST.released(str(_LOAD_RELEASE)))
NO_WEEKLY = {"error": f"this release has no weekly forecaster: it carries {'+'.join(RELEASE.parts)} "
             "(its config has no sales source); see /v1/release", "field": "release"}
_DASHBOARD = (HERE / "dashboard" / "index.html").read_text()


async def _dashboard_page(request: Request) -> HTMLResponse:
    return HTMLResponse(_DASHBOARD)


dashboard = Starlette(routes=[Route("/", _dashboard_page)])


class JsonOnly:
    """ASGI middleware: the API takes JSON bodies only; any other Content-Type gets HTTP 415
    before BentoML tries to parse it (a multipart type without a boundary made it fail)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].startswith("/v1/"):
            raw = dict(scope["headers"]).get(b"content-type", b"application/json")
            ctype = raw.split(b";")[0].strip().lower()
            if ctype not in (b"application/json", b""):
                shown = ctype.decode("latin-1")[:100]
                resp = JSONResponse(
                    {"error": f"unsupported Content-Type {shown!r}: send application/json", "field": "Content-Type"},
                    status_code=415,
                )
                await resp(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _load_config():
    """The config the release was trained with (`DARKHORSE_CONFIG` overrides); None if absent."""
    from darkhorse.core.config import ConfigError, load_config

    path = os.environ.get("DARKHORSE_CONFIG") or (MANIFEST or LOAD_MANIFEST).config_path
    if not path or not Path(path).is_file():
        log.warning("config %s not found: feature freshness will not be checked", path)
        return None
    try:
        return load_config(path)
    except ConfigError as exc:
        log.warning("config %s unusable (%s): feature freshness will not be checked", path, exc)
        return None


def _load_routes(config, model_dir=None):
    """The load routes' engine when the config has a request_log source, else None: the
    release's pinned load model and its seeded buffers when it has them."""
    if config is None or not any(s.kind == "request_log" for s in config.sources):
        return None
    from darkhorse.serving.load import LoadRoutes

    try:
        return LoadRoutes.from_config(
            config, state_dir=os.environ.get("DARKHORSE_LOAD_STATE") or None,
            seed_dir=MANIFEST_PATH.parent / LOAD_SEED_DIR, model_dir=model_dir,
        )
    except RequestError as exc:
        log.warning("load routes off: %s", exc)
        return None


@bentoml.asgi_app(dashboard, path="/ui")
@bentoml.service(name=RELEASE.bento, traffic={"timeout": 60})
class DarkHorse:
    """One release: the forecaster and hot-seller model of one training run, and/or its load
    forecaster, pinned by tag."""

    if MODELS is not None:
        forecaster = bentoml.models.BentoModel(MODELS.forecaster)
        hot_seller_model = bentoml.models.BentoModel(MODELS.hot_seller_classifier)
    if LOAD_TAG:
        load_model = bentoml.models.BentoModel(LOAD_TAG)

    def __init__(self) -> None:
        config = _load_config()
        serving = config.serving if config is not None else None
        self.engine = None if MANIFEST is None else Engine.from_release(
            MANIFEST, Path(self.forecaster.path), Path(self.hot_seller_model.path), config=config,
            max_age_days=serving.max_feature_age_days if serving else 14.0,
            refresh_seconds=serving.freshness_refresh_seconds if serving else 60.0,
            regions_path=MANIFEST_PATH.parent / REGIONS_FILE,
        )
        self.load = _load_routes(config, Path(self.load_model.path) if LOAD_TAG else None)
        # everything loaded so far lives as long as the process: out of the collector's reach,
        # and a request's own objects are not swept mid-request (darkhorse.serving.collector)
        collector.settle()

    @staticmethod
    def _answer(fn, request):
        try:
            return fn(request)
        except RequestError as exc:
            return JSONResponse(exc.body(), status_code=400)

    def _weekly_answer(self, method: str, request):
        if self.engine is None:
            return JSONResponse(NO_WEEKLY, status_code=404)
        return self._answer(getattr(self.engine, method), request)

    @bentoml.api(route="/v1/forecast", input_spec=api.ForecastRequest, output_spec=api.ForecastResponse)
    def forecast(self, **fields) -> api.ForecastResponse:
        """Weekly quantile forecasts of the named items, up to the trained horizon."""
        return self._weekly_answer("forecast", api.ForecastRequest.model_construct(**fields))

    @bentoml.api(route="/v1/hot-sellers", input_spec=api.HotSellersRequest, output_spec=api.HotSellersResponse)
    def hot_sellers(self, **fields) -> api.HotSellersResponse:
        """Items ranked by a hot-seller score as of the release's last closed week."""
        return self._weekly_answer("hot_sellers", api.HotSellersRequest.model_construct(**fields))

    @bentoml.api(route="/v1/allocate", input_spec=api.AllocateRequest, output_spec=api.AllocateResponse)
    def allocate(self, **fields) -> api.AllocateResponse:
        """Allocate a capacity (or nodes) across items from their forecast demand distributions."""
        return self._weekly_answer("allocate", api.AllocateRequest.model_construct(**fields))

    def _load_answer(self, method: str, request):
        if self.load is None:
            body = {"error": "this release serves no load series: its config has no request_log source "
                    "or no published interval panel", "field": "series_id"}
            return JSONResponse(body, status_code=400)
        return self._answer(getattr(self.load, method), request)

    @bentoml.api(route="/v1/load/observe", input_spec=api.LoadObserveRequest, output_spec=api.LoadObserveResponse)
    def load_observe(self, **fields) -> api.LoadObserveResponse:
        """Append observed loads (interval starts on the grain, increasing); late points are reported."""
        return self._load_answer("observe", api.LoadObserveRequest.model_construct(**fields))

    @bentoml.api(route="/v1/load/forecast", input_spec=api.LoadForecastRequest, output_spec=api.LoadForecastResponse)
    def load_forecast(self, **fields) -> api.LoadForecastResponse:
        """Quantile forecasts of a series' next intervals, from its buffer."""
        return self._load_answer("forecast", api.LoadForecastRequest.model_construct(**fields))

    @bentoml.api(route="/v1/load/plan", input_spec=api.LoadPlanRequest, output_spec=api.LoadPlanResponse)
    def load_plan(self, **fields) -> api.LoadPlanResponse:
        """Replicas per interval: ceil(q_tau(load) / throughput) within limits, lead and cooldown."""
        return self._load_answer("plan", api.LoadPlanRequest.model_construct(**fields))

    @bentoml.api(route="/v1/release")
    def release(self) -> api.Health:
        """What the release carries (`parts`): the weekly part's pinned models, items, horizon and
        feature freshness, and the load part's model, grain, horizon and series."""
        health = self.engine.health() if self.engine is not None else api.Health(parts=[])
        load = None
        if LOAD_MANIFEST is not None:
            load = api.LoadRelease(
                release=LOAD_MANIFEST.version, load_forecaster=LOAD_TAG, grain=LOAD_MANIFEST.grain,
                target=LOAD_MANIFEST.target, horizon=LOAD_MANIFEST.horizon,
                trained_through=LOAD_MANIFEST.last_interval,
                series=self.load.stream.series if self.load is not None else [],
            )
        return health.model_copy(update={"parts": list(RELEASE.parts), "load": load})


DarkHorse.add_asgi_middleware(JsonOnly)
