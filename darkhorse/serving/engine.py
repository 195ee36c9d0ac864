"""What the release serves, without the HTTP layer: `Engine` answers the typed requests of
`darkhorse.serving.api` from a release's pinned models, and `FeatureFreshness` watches the Feast online
store. `bentos/service.py` wraps one `Engine` in a BentoML service.

At start the forecaster predicts every item's next `horizon` weeks at a grid of quantile levels
(`serving.quantile_grid` equal-probability bins, plus the trained levels, which are therefore
served exactly as trained); requests then only slice and interpolate
those arrays, so a request's latency does not depend on the models. Hot-seller scores are the
ones the release computed at its last closed week (the classifier needs history the release
does not carry); under a what-if plan the items it names are scored again from their forecasts
under it, with the feature rows and models the release kept for that (`whatif.pkl`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from darkhorse.core.errors import DarkHorseError
from darkhorse.core.manifest import ReleaseManifest
from darkhorse.core.schema import DS, ID, quantile_columns
from darkhorse.serving import allocation as alloc
from darkhorse.serving import api
from darkhorse.serving import regions as region_forecasts

log = logging.getLogger(__name__)

FRESHNESS_NOTE = (
    "Feast's online store does not enforce ttl on reads: DarkHorse compares the newest "
    "materialized week with the clock (max_age_days) and with the weeks the models were trained on."
)


class RequestError(DarkHorseError, ValueError):
    """A request the release cannot answer (unknown items, horizon too long ...): HTTP 400."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def body(self) -> dict[str, str]:
        return {"error": str(self), "field": self.field}


def level_key(q: float) -> str:
    return f"q{round(q * 100, 6):g}"


def _ranking_whatif(hot_seller_dir: Path):
    """The release's `RankingWhatIf` (`training.hot_sellers.whatif`), or None where it kept none
    (a release trained before hot sellers took a plan)."""
    import pickle

    from training.hot_sellers.whatif import WHATIF_FILE

    path = hot_seller_dir / WHATIF_FILE
    if not path.is_file():
        return None
    with open(path, "rb") as f:
        return pickle.load(f)


def _item_scores(scores: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Each item's scores (a row of `scores`) that are not missing."""
    return {item: {c: float(v) for c, v in row.items() if pd.notna(v)} for item, row in scores.to_dict("index").items()}


def _arrays(forecast: pd.DataFrame, column: str, levels) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A forecast table (`unique_id, ds, <column>, <column>-qNN` for every level, dense per
    item) as item keys, week starts, points (n, h) and a non-negative, non-decreasing quantile
    grid (n, h, levels)."""
    fc = forecast.sort_values(["unique_id", "ds"], kind="stable")
    ids = fc["unique_id"].astype(str).unique()
    n = len(ids)
    h = len(fc) // max(n, 1)
    if n == 0 or h * n != len(fc):
        raise ValueError("forecast is not one row per item and week")
    grid = fc[quantile_columns(column, levels)].to_numpy(dtype="float64").reshape(n, h, len(levels))
    grid = np.maximum.accumulate(np.maximum(grid, 0.0), axis=2)
    weeks = fc["ds"].to_numpy()[:h].astype("datetime64[D]")
    return ids, weeks, fc[column].to_numpy(dtype="float64").reshape(n, h), grid


# --------------------------------------------------------------------------- freshness
class FeatureFreshness:
    """Feature timestamps in the Feast online store, re-read in the background at most every
    `refresh_seconds` (a request never waits for the store). The check reads `probe_items`
    items spread over the release's list: materialization writes every item's week at once,
    and reading all of a large catalogue would stall the service's requests for the read."""

    probe_items = 256

    def __init__(
        self, config, items: list[str], *, trained_through: date, max_age_days: float,
        refresh_seconds: float, source: str,
    ) -> None:
        self.config = config
        self.items = items
        self.trained_through = trained_through
        self.max_age_days = max_age_days
        self.refresh_seconds = refresh_seconds
        self.source = source
        self._store = None
        self._lock = threading.Lock()
        self._refreshing = False
        self._checked: datetime | None = None
        self._as_of: datetime | None = None
        self._available = False
        self._error = ""

    def _feature_store(self):
        if self._store is None:
            from darkhorse.core.features import feature_store

            self._store = feature_store(self.config)
        return self._store

    def refresh(self) -> None:
        """Read every item's latest feature stamp (blocking)."""
        from darkhorse.core.features import online_features

        try:
            step = max(1, len(self.items) // self.probe_items)
            res = online_features(self.config, self.items[::step], store=self._feature_store())
            stamps = res.staleness["feature_at"].dropna()
            as_of = stamps.max().to_pydatetime() if len(stamps) else None
            available, error = True, "" if len(stamps) else "no item has materialized features"
        except Exception as exc:  # the store is optional for forecasts: report, don't fail
            as_of, available, error = None, False, f"{type(exc).__name__}: {exc}"[:300]
            log.warning("online store unreadable: %s", error)
        with self._lock:
            self._as_of, self._available, self._error = as_of, available, error
            self._checked = datetime.now(UTC)
            self._refreshing = False

    def _maybe_refresh(self) -> None:
        with self._lock:
            due = self._checked is None or (datetime.now(UTC) - self._checked).total_seconds() > self.refresh_seconds
            if not due or self._refreshing:
                return
            self._refreshing = True
        threading.Thread(target=self.refresh, name="feature-freshness", daemon=True).start()

    def snapshot(self) -> api.Freshness:
        self._maybe_refresh()
        with self._lock:
            as_of, available, checked, error = self._as_of, self._available, self._checked, self._error
        now = datetime.now(UTC)
        age = (now - as_of).total_seconds() / 86400 if as_of else None
        ahead = None
        if as_of is not None:
            model_close = datetime.combine(self.trained_through, datetime.min.time(), UTC) + timedelta(weeks=1)
            ahead = int((as_of - model_close) / timedelta(weeks=1))
        note = FRESHNESS_NOTE if not error else f"{error}. {FRESHNESS_NOTE}"
        return api.Freshness(
            source=self.source, available=available, features_as_of=as_of, age_days=age,
            max_age_days=self.max_age_days, stale=(age is None or age > self.max_age_days),
            weeks_ahead_of_model=ahead, checked_at=checked, note=note,
        )

    def latest(self, items: list[str]) -> tuple[dict[str, dict[str, float | None]], dict[str, dict[str, str | None]]]:
        """The items' latest online feature values and their names (`api.ITEM_NAMES`: description,
        category, brand), by item; both empty when the store is unreadable."""
        from darkhorse.core.features import ENTITY_KEY, online_features

        try:
            feats = online_features(self.config, items, store=self._feature_store()).features
        except Exception as exc:
            log.warning("online features unreadable: %s", exc)
            return {}, {}
        cols = [c for c in feats.columns if c != ENTITY_KEY and pd.api.types.is_numeric_dtype(feats[c])]
        names = [c for c in api.ITEM_NAMES if c in feats.columns]
        values, named = {}, {}
        for row in feats[[ENTITY_KEY, *cols, *names]].itertuples(index=False):
            numbers, texts = row[1 : 1 + len(cols)], row[1 + len(cols) :]
            values[row[0]] = {c: (None if pd.isna(v) else float(v)) for c, v in zip(cols, numbers, strict=True)}
            named[row[0]] = {c: (v if isinstance(v, str) and v else None) for c, v in zip(names, texts, strict=True)}
        return values, named


class NoFreshness:
    """Stand-in when no feature store is configured: says so in every response."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def snapshot(self) -> api.Freshness:
        return api.Freshness(
            source="none", available=False, features_as_of=None, age_days=None, max_age_days=0.0,
            stale=True, weeks_ahead_of_model=None, checked_at=None, note=self.reason,
        )

    def latest(self, items: list[str]) -> tuple[dict[str, dict[str, float | None]], dict[str, dict[str, str | None]]]:
        return {}, {}


# ------------------------------------------------------------------------------- engine
@dataclass
class Engine:
    """Forecast arrays, hot-seller scores and release identity; answers api requests."""

    ids: np.ndarray  # (n,) item keys
    weeks: np.ndarray  # (h,) week starts (datetime64[D])
    point: np.ndarray  # (n, h)
    grid: np.ndarray  # (n, h, K) quantiles at `levels`
    levels: np.ndarray  # (K,)
    scores: pd.DataFrame  # index item, one column per score
    as_of_week: date
    release: api.Release
    freshness: Any
    regions: Any = None  # darkhorse.serving.regions.RegionForecasts; None: the release carries none
    paths: Any = None  # training.periods.PathBank: the backtest's sample paths
    model: Any = None  # the release's forecaster, for what-if plans (None: from a forecast table only)
    whatif: Any = None  # training.hot_sellers.whatif.RankingWhatIf: hot sellers under a plan (None: not kept)

    def __post_init__(self) -> None:
        self.position = {str(i): k for k, i in enumerate(self.ids)}
        self.period = self._periods(self.grid)
        # hot sellers: each score's ranking and each item's non-null scores, once per release
        # (a sort of every item and a `.loc` per listed item on each request, otherwise)
        self.ranked = {c: self.scores[c].dropna().sort_values(ascending=False, kind="stable") for c in self.scores.columns}
        self.item_scores = _item_scores(self.scores)

    @property
    def horizon(self) -> int:
        return self.grid.shape[1]

    def _periods(self, grid: np.ndarray) -> np.ndarray:
        """period[:, w - 1]: the quantiles of the total of the first w weeks. Week 1 is the
        forecast itself; longer periods come from the backtest's sample paths when the release
        carries them, else from the weekly quantiles added level by level (comonotone)."""
        period = np.cumsum(grid, axis=1)
        if self.paths is not None and len(self.paths) and grid.shape[1] > 1:
            period[:, 1:] = self.paths.period_quantiles(grid, self.levels, self.levels)[:, 1:]
        return period

    # -------------------------------------------------------------------- construction
    @classmethod
    def from_forecast(
        cls, forecast: pd.DataFrame, column: str, levels: np.ndarray, scores: pd.DataFrame,
        release: api.Release, freshness: Any, as_of_week: date, paths: Any = None,
    ) -> Engine:
        """`forecast`: `unique_id, ds, <column>, <column>-qNN` for every level, dense per item."""
        ids, weeks, point, grid = _arrays(forecast, column, levels)
        return cls(
            ids=ids, weeks=weeks, point=point, grid=grid,
            levels=np.asarray(levels, dtype="float64"), scores=scores, as_of_week=as_of_week,
            release=release, freshness=freshness, paths=paths,
        )

    @classmethod
    def from_release(
        cls, manifest: ReleaseManifest, forecaster_dir: Path, hot_seller_dir: Path, *, config=None,
        max_age_days: float = 14.0, refresh_seconds: float = 60.0, regions_path: Path | None = None,
    ) -> Engine:
        """The engine of a built release: `manifest` is its `release.json`, the two folders its
        pinned models' (`manifest.release.quantile_grid` sets the served grid)."""
        from training.models.base import Forecaster

        started = time.perf_counter()
        models = manifest.pinned()
        model = Forecaster.load(Path(forecaster_dir) / "blend")
        # the grid, plus the trained levels so those are served exactly as trained
        grid = alloc.grid_levels(manifest.released().quantile_grid)
        levels = np.array(sorted({round(float(q), 6) for q in [*grid, *manifest.quantiles, 0.5]}))
        forecast = model.predict(h=manifest.horizon, quantiles=list(levels))
        ranking = pd.read_parquet(Path(hot_seller_dir) / "ranking.parquet")
        scores = ranking.pivot_table(index="unique_id", columns="model", values="score", aggfunc="first")
        scores.index = scores.index.astype(str)
        trained = manifest.last_week
        release = api.Release(
            release=manifest.version, forecaster=models.forecaster,
            hot_seller_model=models.hot_seller_classifier, trained_through=trained,
        )
        items = sorted(forecast["unique_id"].astype(str).unique())
        if config is None:
            freshness: Any = NoFreshness("no DarkHorse config: feature freshness is not checked")
        else:
            freshness = FeatureFreshness(
                config, items, trained_through=trained, max_age_days=max_age_days,
                refresh_seconds=refresh_seconds, source=f"feast online store ({config.feast.online_store})",
            )
            freshness.refresh()
        engine = cls.from_forecast(forecast, model.alias, levels, scores, release, freshness, trained,
                                   paths=getattr(model, "period_paths_", None))
        engine.regions = region_forecasts.load(regions_path)
        engine.model = model
        engine.whatif = _ranking_whatif(Path(hot_seller_dir))
        log.info("release %s: %d items x %d weeks x %d levels ready in %.1fs", release.release,
                 len(engine.ids), engine.horizon, len(levels), time.perf_counter() - started)
        return engine

    # ----------------------------------------------------------------------- requests
    def _rows(self, items: list[str], field: str = "items") -> np.ndarray:
        idx = [self.position.get(i, -1) for i in items]
        unknown = [i for i, k in zip(items, idx, strict=True) if k < 0]
        if unknown:
            shown = ", ".join(repr(u) for u in unknown[:10])
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            raise RequestError(
                field, f"{len(unknown)} unknown item(s): {shown}{more}; the release knows {len(self.ids)} items"
            )
        return np.asarray(idx, dtype="int64")

    def _horizon(self, value: int | None, field: str) -> int:
        if value is None:
            return self.horizon
        if value > self.horizon:
            raise RequestError(field, f"{value} weeks is beyond the trained horizon of {self.horizon} weeks")
        return value

    def _week(self, day: date, field: str) -> int:
        """The forecast week holding `day`."""
        k = int(np.searchsorted(self.weeks, np.datetime64(day, "D"), side="right")) - 1
        if k < 0 or np.datetime64(day, "D") >= self.weeks[k] + np.timedelta64(7, "D"):
            last = pd.Timestamp(self.weeks[-1] + np.timedelta64(6, "D")).date()
            raise RequestError(field, f"{day} is not in a forecast week ({pd.Timestamp(self.weeks[0]).date()} to {last})")
        return k

    def covariates(self) -> list[str]:
        """The known-future covariates the release's members read (a plan's `values` keys)."""
        base = getattr(self.model, "future_", None)
        return [] if base is None else [c for c in base.columns if c not in (ID, DS)]

    def _plan_future(self, plan: list[api.PlannedWeek], only: set[str] | None = None) -> tuple[pd.DataFrame, list[str]]:
        """Every plan row checked; the release's plan of the items the rows name (those in `only`
        when given) with the rows' values in place, and those items (sorted)."""
        covariates = self.covariates()
        if not covariates:
            raise RequestError("plan", "this release reads no known-future covariates (config known_future); "
                               "it has no plan to change")
        weeks = []
        for i, row in enumerate(plan):
            self._rows([row.item], f"plan[{i}].item")
            weeks.append(self.weeks[self._week(row.week, f"plan[{i}].week")])
            unknown = sorted(set(row.values) - set(covariates))
            if unknown:
                raise RequestError(f"plan[{i}].values", f"unknown covariate(s) {unknown}; this release reads {covariates}")
        named = {row.item for row in plan}
        moved = sorted(named if only is None else named & only)
        base = self.model.future_
        future = base[base[ID].astype(str).isin(moved)].reset_index(drop=True)
        at = pd.Series(np.arange(len(future)), index=pd.MultiIndex.from_arrays(
            [future[ID].astype(str).to_numpy(), future[DS].to_numpy().astype("datetime64[D]")]))
        for row, week in zip(plan, weeks, strict=True):
            if row.item in moved:
                r = int(at[(row.item, week)])
                for name, value in row.values.items():
                    future.iat[r, future.columns.get_loc(name)] = float(value)
        return future, moved

    def planned(self, plan: list[api.PlannedWeek], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The point and quantile grid of the items at `rows` (one per row, in their order) with
        the request's plan in place of the release's in the weeks and items it names, and which
        rows were forecast again. Every plan row is checked. An item's forecast reads its own
        plan only, so the asked items the plan names are forecast again by the release's members
        (those fitted with known-future covariates read the plan, the others give their released
        forecast) and the rest keep the released forecast; a row for an item not asked about
        changes no answer."""
        future, moved = self._plan_future(plan, {str(i) for i in self.ids[rows]})
        point, grid = self.point[rows], self.grid[rows]
        if not moved:
            return point, grid, np.zeros(len(rows), dtype=bool)
        forecast = self.model.predict(h=self.horizon, quantiles=list(self.levels), future=future, ids=moved)
        ids, _, p, g = _arrays(forecast, self.model.alias, self.levels)
        at_row = pd.Index(ids).get_indexer(self.ids[rows])
        hit = at_row >= 0
        point[hit], grid[hit] = p[at_row[hit]], g[at_row[hit]]
        return point, grid, hit

    def planned_scores(self, plan: list[api.PlannedWeek]) -> pd.DataFrame:
        """The release's hot-seller scores with the items `plan` names scored again from their
        forecasts under it (`training.hot_sellers.whatif`): the blend's and every member's at the
        levels the ranking read, the growth blend's from them; the final ranking over every item."""
        if self.whatif is None:
            raise RequestError("plan", "this release keeps no hot-seller what-if state (trained before hot sellers "
                               "took a plan): train and release again to rank under a plan")
        future, moved = self._plan_future(plan)
        w = self.whatif
        forecast = self.model.predict_with_members(h=self.horizon, quantiles=w.quantiles, future=future, ids=moved)
        missing = [c for c in w.forecast_columns if c not in forecast.columns]
        if missing:
            raise RequestError("plan", f"the release's forecaster gives no {missing} forecast, which its hot-seller "
                               "ranking read: train and release again")
        return w.rescore(forecast, self.scores)

    def forecast(self, req: api.ForecastRequest) -> api.ForecastResponse:
        rows = self._rows(req.items)
        h = self._horizon(req.horizon, "horizon")
        qs = sorted(set(req.quantiles))
        if req.plan:  # the asked items under the plan, one row each
            points, grids, _ = self.planned(req.plan, rows)
            rows = np.arange(len(rows))
        else:
            points, grids = self.point, self.grid
        flat = alloc.Demand(grids[rows, :h].reshape(-1, len(self.levels)), self.levels)
        values = np.column_stack([flat.quantile(q) for q in qs]).reshape(len(rows), h, len(qs))
        keys = [level_key(q) for q in qs]
        weeks = [pd.Timestamp(w).date() for w in self.weeks[:h]]
        out = []
        for r, item in enumerate(req.items):
            point = points[rows[r], :h]
            out.append(api.ItemForecast(item=item, weeks=[
                api.WeekForecast(week=weeks[s], point=float(point[s]),
                                 quantiles=dict(zip(keys, values[r, s].tolist(), strict=True)))
                for s in range(h)
            ]))
        return api.ForecastResponse(
            release=self.release, features=self.freshness.snapshot(), horizon=h, quantiles=qs, forecasts=out,
            planned=len(req.plan),
        )

    def hot_sellers(self, req: api.HotSellersRequest) -> api.HotSellersResponse:
        scores, ranked_by = self.scores, self.ranked
        if req.plan:  # the plan's items scored again, every item ranked again
            scores = self.planned_scores(req.plan)
            ranked_by = None
        if req.score not in scores.columns:
            raise RequestError("score", f"unknown score {req.score!r}; the release has {', '.join(scores.columns)}")
        col = ranked_by[req.score] if ranked_by is not None else (
            scores[req.score].dropna().sort_values(ascending=False, kind="stable"))
        ranked = col
        if req.threshold is not None:
            ranked = ranked[ranked >= req.threshold]
        if req.k is not None:
            ranked = ranked.iloc[: req.k]
        latest, names = self.freshness.latest(list(ranked.index)) if len(ranked) else ({}, {})
        item_scores = self.item_scores if ranked_by is not None else _item_scores(scores.loc[ranked.index])
        items = [
            api.HotSeller(
                item=item, rank=k + 1, score=float(score), scores=dict(item_scores[item]),
                latest=latest.get(item, {}), **names.get(item, {}),
            )
            for k, (item, score) in enumerate(ranked.items())
        ]
        return api.HotSellersResponse(
            release=self.release, features=self.freshness.snapshot(), as_of_week=self.as_of_week,
            score=req.score, eligible=len(col), items=items, planned=len(req.plan),
        )

    def allocate(self, req: api.AllocateRequest) -> api.AllocateResponse:
        ids = [i.id for i in req.items]
        rows = self._rows(ids) if req.level == "item" else None
        w = self._horizon(req.weeks, "weeks")
        if req.plan and rows is not None:  # the items' periods under the plan
            _, grid, moved = self.planned(req.plan, rows)
            period = self.period[rows]  # an item's periods read its own forecast only
            if moved.any():
                period[moved] = self._periods(grid[moved])
            demand = alloc.Demand(period[:, w - 1], self.levels)
        elif rows is not None:
            demand = alloc.Demand(self.period[rows, w - 1], self.levels)
        else:
            demand = self._region_demand(req, ids, w)
        unit = np.array([i.unit_cost for i in req.items])
        try:
            if req.mode == "balance":
                caps = None if req.node_capacities is None else np.asarray(req.node_capacities, dtype="float64")
                n_nodes = len(caps) if caps is not None else int(req.nodes)
                res = alloc.balance(demand, n_nodes, headroom=req.headroom, unit_cost=unit, node_capacity=caps)
            else:
                lo = np.array([i.min for i in req.items])
                hi = np.array([np.inf if i.max is None else i.max for i in req.items])
                common = {"unit_cost": unit, "minimum": lo, "maximum": hi}
                if req.mode == "newsvendor":
                    res = alloc.newsvendor(
                        demand, req.capacity, underage_cost=np.array([i.underage_cost for i in req.items]),
                        overage_cost=np.array([i.overage_cost for i in req.items]), **common,
                    )
                elif req.mode == "fair_share":
                    res = alloc.fair_share(demand, req.capacity, **common)
                else:
                    levels = np.array([req.service_level if i.service_level is None else i.service_level for i in req.items])
                    res = alloc.service_level(demand, req.capacity, level=levels, **common)
        except alloc.AllocationError as exc:
            raise RequestError(exc.field or "items", str(exc)) from exc
        return self._allocation_response(req, ids, res, w, unit)

    def _region_demand(self, req: api.AllocateRequest, ids: list[str], weeks: int) -> alloc.Demand:
        """Demand of regions or item x region pairs from the release's reconciled hierarchy."""
        if self.regions is None:
            raise RequestError("level", f"this release carries no region forecasts (level {req.level} needs them)")
        try:
            rows = self.regions.rows(req.level, ids, [i.region for i in req.items])
        except region_forecasts.RegionLookupError as exc:
            raise RequestError(exc.field, exc.message) from exc
        regions = self._planned_regions(req.plan, req.level) if req.plan else self.regions
        return alloc.Demand(regions.period_quantiles(rows, weeks), regions.levels)

    def _planned_regions(self, plan: list[api.PlannedWeek], level: str) -> region_forecasts.RegionForecasts:
        """The release's hierarchy with the items `plan` names moved as the release's forecast of
        each moves under the plan (`RegionForecasts.planned`), a week's change landing in the
        regions its rows name where they name one. An item outside the hierarchy's top items, or a
        region the item has no series in, is refused, naming the row; `planned` checks every row
        as at level item."""
        known = set(self.regions.items)
        for i, row in enumerate(plan):
            if row.item not in known:
                raise RequestError(f"plan[{i}].item", f"{row.item} is not among the {len(known)} items of the release's "
                                   f"region forecasts (its top items by units): a plan at level {level} moves those only")
            if row.region is not None and ("item_region", row.item, row.region) not in self.regions.position:
                sold = sorted(r for lv, it, r in self.regions.position if lv == "item_region" and it == row.item)
                raise RequestError(f"plan[{i}].region", f"{row.item} has no region forecast in {row.region}; "
                                   f"its regions are {', '.join(sold)}")
        moved = sorted({row.item for row in plan})
        rows = self._rows(moved, "plan")
        point, _, _ = self.planned(plan, rows)
        weeks = self.regions.weeks
        at = pd.Index(self.weeks.astype("datetime64[D]")).get_indexer(weeks)
        found = at >= 0  # a hierarchy week outside the release's forecast weeks stays as released
        before, after = {}, {}
        for k, item in enumerate(moved):
            before[item], after[item] = np.ones(len(at)), np.ones(len(at))
            before[item][found], after[item][found] = self.point[rows[k], at[found]], point[k, at[found]]
        return self.regions.planned(before, after, self._landing(plan, weeks))

    def _landing(self, plan: list[api.PlannedWeek], weeks: np.ndarray) -> dict[str, dict[int, set[str]]]:
        """Per item and hierarchy week, the regions its plan rows name there; a week where one of
        the item's rows names none is left out (every region moves). Empty, without reading the
        rows' weeks again, where no row names a region (the usual plan)."""
        if all(row.region is None for row in plan):
            return {}
        named: dict[tuple[str, int], set[str] | None] = {}
        for i, row in enumerate(plan):
            week = self.weeks[self._week(row.week, f"plan[{i}].week")].astype("datetime64[D]")
            w = np.flatnonzero(weeks == week)
            if not len(w):
                continue
            key = (row.item, int(w[0]))
            if row.region is None or named.get(key, set()) is None:
                named[key] = None
            else:
                named[key] = named.get(key, set()) | {row.region}
        out: dict[str, dict[int, set[str]]] = {}
        for (item, w), where in named.items():
            if where is not None:
                out.setdefault(item, {})[w] = where
        return out

    def _allocation_response(self, req, ids, res: alloc.Allocation, weeks: int, unit) -> api.AllocateResponse:
        n = len(ids)
        cols = {
            "item": ids, "quantity": res.quantity.tolist(), "service_level": res.service_level.tolist(),
            "expected_demand": res.expected_demand.tolist(), "expected_shortfall": res.expected_shortfall.tolist(),
            "expected_leftover": res.expected_leftover.tolist(),
            "target_level": res.target_level.tolist() if res.target_level is not None else [None] * n,
            "safety_stock": res.safety_stock.tolist() if res.safety_stock is not None else [None] * n,
            "node": res.node.tolist() if res.node is not None else [None] * n,
            "region": [i.id if req.level == "region" else i.region for i in req.items],
        }
        # plain dicts validated in one model_validate call (pydantic-core): building 1,000
        # item models one by one in Python cost more than the allocation itself
        keys = list(cols)
        allocations = [dict(zip(keys, vals, strict=True)) for vals in zip(*cols.values(), strict=True)]
        nodes = res.nodes if res.mode == "balance" else None
        load = unit * res.quantity
        return api.AllocateResponse.model_validate(dict(
            release=self.release, features=self.freshness.snapshot(), mode=res.mode, weeks=weeks,
            capacity=None if res.mode == "balance" and not np.isfinite(res.capacity) else res.capacity,
            used=res.used, binding=res.binding,
            shadow_price=res.shadow_price if res.mode == "newsvendor" else None, share=res.share,
            fill_rate=res.fill_rate, expected_shortfall=float(res.expected_shortfall.sum()),
            expected_leftover=float(res.expected_leftover.sum()), allocations=allocations, nodes=nodes,
            planned=len(req.plan),
            max_node_load=max(nd["load"] for nd in nodes) if nodes else None,
            lower_bound_max_load=(
                alloc.lower_bound_max_load(load, len(nodes)) if nodes and req.node_capacities is None else None
            ),
        ))

    def health(self) -> api.Health:
        return api.Health(
            release=self.release, features=self.freshness.snapshot(), items=len(self.ids),
            horizon=self.horizon, scores=list(self.scores.columns),
            regions=self.regions.regions if self.regions is not None else [],
            region_items=self.regions.items if self.regions is not None else [],
            known_future=self.covariates(),
        )


__all__ = ["Engine", "FeatureFreshness", "NoFreshness", "RequestError", "level_key"]
