"""Item x region hierarchy: base forecasts at every level, reconciled so that every level adds up.

Levels (top to bottom): `total` -> `region` -> `item` -> `item_region`, and `total` ->
`category` -> `item` where the panel names the items' categories (a source's `category`
column); the bottom series are the item x region pairs of the top items and top regions by
units (regions outside the top are summed into one region, `OTHER`, so that an item's and the
total's series are the whole demand of those items; items without a category form the category
`OTHER`). `S` (series x bottom) is the summing matrix.

* Base forecasts: simple exponential smoothing fitted per series at every level on its own
  (the smoothing weight picked from a grid by in-sample one-step squared error), quantiles
  from the series' one-step residual quantiles widened by sqrt(step). They do not add up.
* Reconciliation: `bottom_up` (the bottom forecasts summed) or `mint_shrink` (Wickramasuriya,
  Athanasopoulos and Hyndman 2019, MinT with the Schafer-Strimmer shrunk covariance of the
  one-step residuals): bottom = P @ base with P = (S' W^-1 S)^-1 S' W^-1, all levels = S @ bottom.
  Bottom forecasts are clipped at zero before summing (demand is never negative), which keeps
  the levels coherent.
* Quantiles, two ways (`quantile_method`):
  `paths`: sample paths of every series = base mean + joint bootstrap of the one-step
  residuals (a whole week's residual vector across series per draw, so the series keep their
  correlation; k draws summed for step k); each path is reconciled like the mean and the
  quantiles are read from the reconciled paths. Every path adds up, so the distribution is
  coherent; quantiles of a parent are quantiles of the sum, not sums of quantiles.
  `per_quantile` (default): each quantile level is reconciled like the mean, the bottom quantiles sorted
  so they do not cross, and every upper level is the sum of its bottom quantiles: the quantiles
  themselves add up; an upper level's is the comonotone sum (children moving together), which
  errs wide, never narrow. On Online Retail (benchmarks/bench_hierarchy.py) it scored better
  at the region, item and item x region levels, the paths at the total.
* Members at the bottom (`backtest(members=...)`): a member gives each item x region series a
  weekly forecast from its history up to the origin; the bottom base forecasts become
  (1 - `member_weight`) x SES + `member_weight` x member (the quantiles shifted with the mean),
  then reconciled like the plain ones (MinT's covariance still from the SES residuals).
  `level_member`: the mean of the last weeks (the control: what any member's level alone
  gives); `neighbour_member`: the distance-weighted demand of the item in the other regions
  (`region_distances`, great-circle km between region centroids), scaled to the region's size;
  the customers' expected demand per item x region is `training.customers.demand.hierarchy_member`.
* `backtest()`: rolling origins, MASE (MAE over the in-sample one-step naive MAE) and scaled
  pinball loss per level, base vs each reconciliation, with and without each member, and the
  coherence check: the largest absolute difference between a series and the sum of its bottom
  series.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from darkhorse.core.errors import DarkHorseError

LEVELS = ("total", "category", "region", "item", "item_region")
METHODS = ("bottom_up", "mint_shrink")
OTHER = "OTHER"
TOTAL = "TOTAL"
ALPHAS = np.linspace(0.05, 0.95, 19)


class HierarchyError(DarkHorseError, ValueError):
    """The item x region panel cannot form a hierarchy (the message names the input)."""


@dataclass(frozen=True)
class Hierarchy:
    """Series of every level (rows of `values`, weeks as columns) and the summing matrix."""

    keys: pd.DataFrame  # one row per series: unique_id, level, item_id, region (+ category where named)
    S: np.ndarray  # (n_series, n_bottom)
    weeks: np.ndarray  # (T,) week starts
    values: np.ndarray  # (n_series, T)

    @property
    def bottom(self) -> np.ndarray:
        return np.flatnonzero(self.keys["level"].to_numpy() == "item_region")


def series_id(item: str | None, region: str | None, category: str | None = None) -> str:
    """`item@region`, `item`, `@region`, `#category` or `TOTAL`."""
    if category is not None:
        return f"#{category}"
    if item is None and region is None:
        return TOTAL
    if region is None:
        return str(item)
    return f"{'' if item is None else item}@{region}"


def build(
    panel: pd.DataFrame, *, top_items: int, top_regions: int, end_week=None,
    items: Sequence[str] | None = None,
) -> Hierarchy:
    """The hierarchy of `panel` (`item_id, region, week_start, units`, the item x region mart;
    with a `category` column naming any item's category, a category level too).

    Items and regions are ranked by units up to `end_week` (inclusive; default: all weeks),
    so that a backtest origin never chooses its series with the future; `items` fixes the
    items instead. Weeks run from the panel's first to its last week, dense.
    """
    need = {"item_id", "region", "week_start", "units"}
    if missing := need - set(panel.columns):
        raise HierarchyError(f"item x region panel: missing column(s) {sorted(missing)}")
    if panel.empty:
        raise HierarchyError("item x region panel: no rows (does a source have a region column?)")
    df = panel.loc[:, ["item_id", "region", "week_start", "units"]].copy()
    category = None
    if "category" in panel.columns and panel["category"].notna().any():
        named = panel.loc[panel["category"].notna(), ["item_id", "category"]].astype(str)
        category = named.groupby("item_id")["category"].min()
    df["week_start"] = pd.to_datetime(df["week_start"])
    known = df if end_week is None else df[df["week_start"] <= pd.Timestamp(end_week)]
    if items is None:
        items = known.groupby("item_id")["units"].sum().nlargest(top_items).index.tolist()
    items = [str(i) for i in items]
    regions = known[known["item_id"].isin(items)].groupby("region")["units"].sum().nlargest(top_regions).index
    regions = [str(r) for r in regions]
    df = df[df["item_id"].isin(items)].copy()
    df["region"] = df["region"].where(df["region"].isin(regions), OTHER)
    weeks = pd.date_range(df["week_start"].min(), df["week_start"].max(), freq="7D")
    all_regions = regions + ([OTHER] if (df["region"] == OTHER).any() else [])
    bottom = pd.MultiIndex.from_product([items, all_regions], names=["item_id", "region"])
    wide = (
        df.groupby(["item_id", "region", "week_start"])["units"].sum()
        .unstack("week_start").reindex(index=bottom, columns=weeks).fillna(0.0)
    )
    nb = len(bottom)
    item_category = {i: None if category is None else str(category.get(i, OTHER)) for i in items}
    rows: list[tuple[str, str, str | None, str | None, str | None]] = [(TOTAL, "total", None, None, None)]
    if category is not None:
        named = sorted({c for i, c in item_category.items() if i in category.index})
        unnamed = [OTHER] if OTHER not in named and len(named) < len(set(item_category.values())) else []
        rows += [(series_id(None, None, c), "category", None, None, c) for c in named + unnamed]
    rows += [(series_id(None, r), "region", None, r, None) for r in all_regions]
    rows += [(series_id(i, None), "item", i, None, item_category[i]) for i in items]
    rows += [(series_id(i, r), "item_region", i, r, item_category[i]) for i, r in bottom]
    keys = pd.DataFrame(rows, columns=["unique_id", "level", "item_id", "region", "category"])
    if category is None:
        keys = keys.drop(columns="category")
    b_item = np.array([i for i, _ in bottom])
    b_region = np.array([r for _, r in bottom])
    b_category = np.array([item_category[i] for i, _ in bottom])
    S = np.zeros((len(keys), nb))
    for k, (_, level, item, region, cat) in enumerate(rows):
        if level == "total":
            S[k] = 1.0
        elif level == "category":
            S[k] = b_category == cat
        elif level == "region":
            S[k] = b_region == region
        elif level == "item":
            S[k] = b_item == item
        else:
            S[k, k - (len(keys) - nb)] = 1.0
    values = S @ wide.to_numpy(dtype="float64")
    return Hierarchy(keys=keys, S=S, weeks=weeks.to_numpy(), values=values)


# ------------------------------------------------------------------------ base forecasts
def _ses(y: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-step SES fits of every series at every alpha: (level after the last week, errors)
    as arrays (n_alpha, n) and (n_alpha, n, T - 1)."""
    n, T = y.shape
    level = np.broadcast_to(y[:, 0], (len(alphas), n)).copy()
    errors = np.empty((len(alphas), n, T - 1))
    a = alphas[:, None]
    for t in range(1, T):
        errors[:, :, t - 1] = y[:, t] - level
        level = level + a * errors[:, :, t - 1]
    return level, errors


def base_forecasts(
    y: np.ndarray, *, h: int, quantiles: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SES per series: (mean (n, h), quantiles (n, h, Q), one-step residuals (n, T - 1))."""
    if y.shape[1] < 3:
        raise HierarchyError(f"the hierarchy needs at least 3 weeks of history, got {y.shape[1]}")
    level, errors = _ses(y, ALPHAS)
    best = np.argmin(np.sum(errors**2, axis=2), axis=0)  # per series
    cols = np.arange(y.shape[0])
    last = level[best, cols]
    resid = errors[best, cols]
    mean = np.repeat(np.maximum(last, 0.0)[:, None], h, axis=1)
    qs = np.asarray(sorted(quantiles), dtype="float64")
    spread = np.quantile(resid - resid.mean(axis=1, keepdims=True), qs, axis=1).T  # (n, Q)
    steps = np.sqrt(np.arange(1, h + 1))
    quant = np.maximum(mean[:, :, None] + spread[:, None, :] * steps[None, :, None], 0.0)
    return mean, np.sort(quant, axis=2), resid


# ------------------------------------------------------------------------ reconciliation
def shrunk_covariance(resid: np.ndarray) -> tuple[np.ndarray, float]:
    """Schafer-Strimmer shrinkage of the residual covariance towards its diagonal:
    (W, lambda). `resid` is (n_series, T)."""
    n, T = resid.shape
    x = resid - resid.mean(axis=1, keepdims=True)
    cov = x @ x.T / max(T - 1, 1)
    sd = np.sqrt(np.diag(cov))
    safe = np.where(sd > 0, sd, 1.0)
    z = x / safe[:, None]
    corr = z @ z.T / max(T - 1, 1)
    # variance of each correlation estimate from the products w_ijt = z_it z_jt:
    # sum_t (w_ijt - mean_t w_ij)^2 = sum_t z_it^2 z_jt^2 - T mean_t(w_ij)^2
    z2 = z**2
    w_mean = corr * (T - 1) / T
    var_corr = T / max((T - 1) ** 3, 1) * np.maximum(z2 @ z2.T - T * w_mean**2, 0.0)
    off = ~np.eye(n, dtype=bool)
    denom = np.sum(corr[off] ** 2)
    lam = float(np.clip(np.sum(var_corr[off]) / denom, 0.0, 1.0)) if denom > 0 else 1.0
    shrunk = (1 - lam) * corr
    np.fill_diagonal(shrunk, 1.0)
    W = shrunk * np.outer(sd, sd)
    # series that never moved have no variance: a floor keeps W invertible
    floor = max(1e-9, 1e-6 * float(np.mean(np.diag(cov)))) if np.any(np.diag(cov) > 0) else 1.0
    W[np.diag_indices(n)] = np.maximum(np.diag(W), floor)
    return W, lam


def projection(S: np.ndarray, method: str, resid: np.ndarray | None = None) -> np.ndarray:
    """P (n_bottom, n_series): bottom = P @ base."""
    n, nb = S.shape
    if method == "bottom_up":
        P = np.zeros((nb, n))
        P[:, n - nb:] = np.eye(nb)
        return P
    if method != "mint_shrink":
        raise HierarchyError(f"reconciliation: unknown method {method!r}; one of {', '.join(METHODS)}")
    if resid is None:
        raise HierarchyError("mint_shrink needs the base forecasts' in-sample residuals")
    W, _ = shrunk_covariance(resid)
    Winv_S = np.linalg.solve(W, S)  # W^-1 S
    return np.linalg.solve(S.T @ Winv_S, Winv_S.T)


QUANTILE_METHODS = ("paths", "per_quantile")


def reconcile(
    S: np.ndarray, P: np.ndarray, mean: np.ndarray, quant: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Coherent (mean (n, h), quantiles (n, h, Q)) from base forecasts of every series; the
    quantiles per quantile level (see the module's docstring)."""
    bottom = np.maximum(np.einsum("bn,nh->bh", P, mean), 0.0)
    bq = np.maximum(np.einsum("bn,nhq->bhq", P, quant), 0.0)
    bq = np.sort(bq, axis=2)
    return S @ bottom, np.einsum("nb,bhq->nhq", S, bq)


def reconciled_paths(
    S: np.ndarray, P: np.ndarray, mean: np.ndarray, resid: np.ndarray, *, paths: int, seed: int = 0
) -> np.ndarray:
    """Coherent sample paths (paths, n, h): base mean + jointly bootstrapped residuals, each
    path reconciled (bottom = max(P @ path, 0), all = S @ bottom)."""
    rng = np.random.default_rng(seed)
    h = mean.shape[1]
    T = resid.shape[1]
    centred = resid - resid.mean(axis=1, keepdims=True)
    draws = rng.integers(0, T, size=(paths, h))
    noise = np.cumsum(np.moveaxis(centred[:, draws], 0, 1), axis=2)  # step k: a sum of k draws
    base = mean[None] + noise  # (paths, n, h)
    bottom = np.maximum(np.einsum("bn,pnh->pbh", P, base), 0.0)
    return np.einsum("nb,pbh->pnh", S, bottom)


def path_quantiles(paths: np.ndarray, quantiles: Sequence[float]) -> np.ndarray:
    """(n, h, Q) quantiles of sample paths (paths, n, h)."""
    return np.moveaxis(np.quantile(paths, sorted(quantiles), axis=0), 0, -1)


def coherence_gap(S: np.ndarray, values: np.ndarray) -> float:
    """Largest |series - sum of its bottom series| over every series and step (0 = coherent)."""
    nb = S.shape[1]
    bottom = values[-nb:]
    flat = bottom.reshape(nb, -1)
    return float(np.max(np.abs(S @ flat - values.reshape(len(values), -1))))


# ------------------------------------------------------------------------------ forecast
def forecast(
    h: Hierarchy, *, horizon: int, quantiles: Sequence[float], method: str,
    quantile_method: str = "per_quantile", paths: int = 1000, seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Reconciled (mean (n, horizon), quantiles (n, horizon, Q)) of every series of `h`."""
    if quantile_method not in QUANTILE_METHODS:
        raise HierarchyError(f"quantile_method: {quantile_method!r} is not one of {', '.join(QUANTILE_METHODS)}")
    mean, quant, resid = base_forecasts(h.values, h=horizon, quantiles=quantiles)
    P = projection(h.S, method, resid)
    rmean, rquant = reconcile(h.S, P, mean, quant)
    if quantile_method == "paths":
        rquant = path_quantiles(reconciled_paths(h.S, P, mean, resid, paths=paths, seed=seed), quantiles)
    return rmean, rquant


def forecast_frame(
    panel: pd.DataFrame, *, top_items: int, top_regions: int, horizon: int, quantiles: Sequence[float],
    method: str, quantile_method: str = "per_quantile", end_week=None, items: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Reconciled forecasts as a long frame: `unique_id, level, item_id, region, ds, mean`
    and one column per quantile (`q<level>`, e.g. q0.5), fitted on weeks up to `end_week`."""
    if end_week is not None:
        panel = panel[pd.to_datetime(panel["week_start"]) <= pd.Timestamp(end_week)]
    h = build(panel, top_items=top_items, top_regions=top_regions, items=items)
    mean, quant = forecast(h, horizon=horizon, quantiles=quantiles, method=method, quantile_method=quantile_method)
    qs = sorted(quantiles)
    n = len(h.keys)
    ds = pd.Timestamp(h.weeks[-1]) + pd.to_timedelta(7 * np.arange(1, horizon + 1), unit="D")
    out = h.keys.loc[np.repeat(np.arange(n), horizon)].reset_index(drop=True)
    out["ds"] = np.tile(ds.to_numpy(), n)
    out["mean"] = mean.reshape(-1)
    # the quantile columns joined at once (a release writes the service's whole grid of levels)
    levels = pd.DataFrame(quant.reshape(n * horizon, len(qs)), columns=[quantile_key(q) for q in qs])
    return pd.concat([out, levels], axis=1)


def quantile_key(q: float) -> str:
    return f"q{round(float(q), 6):g}"


# ------------------------------------------------------------------------------ members
BottomMember = Callable[[pd.DataFrame, np.ndarray, pd.Timestamp], np.ndarray]
"""(bottom keys `item_id, region`, their history (n_bottom, weeks before the origin), the origin:
the start of the first forecast week) -> a weekly forecast per bottom series (n_bottom,)."""


def level_member(*, weeks: int = 8) -> BottomMember:
    """Each series' mean of its last `weeks` weeks."""

    def member(keys: pd.DataFrame, hist: np.ndarray, origin: pd.Timestamp) -> np.ndarray:
        return hist[:, -weeks:].mean(axis=1)

    return member


def distance_matrix(distances: pd.DataFrame, regions: Sequence[str]) -> np.ndarray:
    """(len(regions), len(regions)) km from the `region_distances` mart (`region, other_region,
    distance_km`); NaN where a region has no coordinates or is not in the mart (`OTHER`)."""
    need = {"region", "other_region", "distance_km"}
    if missing := need - set(distances.columns):
        raise HierarchyError(f"region_distances: missing column(s) {sorted(missing)}")
    wide = distances.pivot_table(index="region", columns="other_region", values="distance_km", aggfunc="first")
    regions = [str(r) for r in regions]
    return wide.reindex(index=regions, columns=regions).to_numpy(dtype="float64")


def neighbour_member(distances: pd.DataFrame, *, scale_km: float = 1000.0, weeks: int = 8) -> BottomMember:
    """The item's demand in the other regions, weighted by exp(-km / `scale_km`), scaled to the
    region's size: for item i in region r, with L the means of the last `weeks` weeks,

        L(r) * sum over r' != r of w(r, r') L(i, r') / sum over r' != r of w(r, r') L(r')

    (L(r): the region's units of the hierarchy's items). Regions without coordinates (`OTHER`,
    "Unspecified") neither get nor give a neighbour estimate: their series keep their own mean,
    as do those whose neighbours sold nothing."""
    if scale_km <= 0:
        raise HierarchyError(f"neighbour_member: scale_km must be positive, got {scale_km}")

    def member(keys: pd.DataFrame, hist: np.ndarray, origin: pd.Timestamp) -> np.ndarray:
        own = hist[:, -weeks:].mean(axis=1)
        items = pd.Index(pd.unique(keys["item_id"].astype(str)))
        regions = pd.Index(pd.unique(keys["region"].astype(str)))
        ii = items.get_indexer(keys["item_id"].astype(str))
        rr = regions.get_indexer(keys["region"].astype(str))
        level = np.zeros((len(items), len(regions)))
        level[ii, rr] = own
        d = distance_matrix(distances, regions)
        w = np.exp(-np.nan_to_num(d, nan=np.inf) / scale_km)
        np.fill_diagonal(w, 0.0)  # other regions only
        region_level = level.sum(axis=0)  # (regions,)
        near_item = level @ w.T  # (items, regions): sum over r' of w(r, r') L(i, r')
        near_total = w @ region_level  # (regions,)
        with np.errstate(invalid="ignore", divide="ignore"):
            est = region_level[None, :] * near_item / near_total[None, :]
        out = est[ii, rr]
        return np.where(np.isfinite(out) & (near_total[rr] > 0), out, own)

    return member


def _with_member(mean: np.ndarray, quant: np.ndarray, forecast: np.ndarray, weight: float, nb: int):
    """Base forecasts whose bottom rows blend in a member's (quantiles shifted with the mean)."""
    mean, quant = mean.copy(), quant.copy()
    blended = (1.0 - weight) * mean[-nb:] + weight * np.maximum(forecast, 0.0)[:, None]
    quant[-nb:] = np.maximum(quant[-nb:] + (blended - mean[-nb:])[:, :, None], 0.0)
    mean[-nb:] = blended
    return mean, quant


# ------------------------------------------------------------------------------ backtest
def _pinball(y: np.ndarray, q: np.ndarray, levels: np.ndarray) -> np.ndarray:
    d = y[..., None] - q
    return np.maximum(levels * d, (levels - 1.0) * d).mean(axis=-1)


def backtest(
    panel: pd.DataFrame, *, top_items: int, top_regions: int, horizon: int, windows: int,
    quantiles: Sequence[float] = (0.1, 0.5, 0.9), methods: Sequence[str] = METHODS, paths: int = 1000,
    members: Mapping[str, BottomMember] | None = None, member_weight: float = 0.5,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Rolling-origin backtest of the hierarchy: the last `windows` origins, `horizon` weeks
    apart. Returns one row per level, member (`none`: SES alone; else the bottom blended with
    that member at `member_weight`) and method (`base`: the unreconciled forecasts) with MASE
    and the scaled pinball loss of both quantile methods (means over series and origins), and
    the coherence gap of every method's means, sample paths and per-quantile quantiles
    (largest over origins; keys `<member> <method>...` for members other than none)."""
    if not 0.0 <= member_weight <= 1.0:
        raise HierarchyError(f"member_weight must be within [0, 1], got {member_weight}")
    members = dict(members or {})
    if "none" in members:
        raise HierarchyError("members: 'none' names the forecasts without a member")
    full = build(panel, top_items=top_items, top_regions=top_regions)
    T = full.values.shape[1]
    qs = np.asarray(sorted(quantiles), dtype="float64")
    rows = []
    gaps: dict[str, float] = {}
    for w in range(windows, 0, -1):
        cut = T - w * horizon  # weeks [0, cut) are history
        if cut < 8:
            raise HierarchyError(f"{windows} windows of {horizon} weeks leave {cut} weeks of history")
        # items and regions chosen with the history only
        h = build(panel[pd.to_datetime(panel["week_start"]) <= pd.Timestamp(full.weeks[cut + horizon - 1])],
                  top_items=top_items, top_regions=top_regions, end_week=full.weeks[cut - 1])
        hist = h.values[:, :cut]
        actual = h.values[:, cut:cut + horizon]
        scale = np.mean(np.abs(np.diff(hist, axis=1)), axis=1)
        ses_mean, ses_quant, resid = base_forecasts(hist, h=horizon, quantiles=qs)
        nb = h.S.shape[1]
        bottom_keys = h.keys.iloc[-nb:][["item_id", "region"]].reset_index(drop=True)
        origin = pd.Timestamp(full.weeks[cut])
        variants = {"none": (ses_mean, ses_quant)}
        for name, member in members.items():
            forecast_ = np.asarray(member(bottom_keys, hist[-nb:], origin), dtype="float64")
            if forecast_.shape != (nb,):
                raise HierarchyError(f"member {name!r}: {forecast_.shape} forecasts for {nb} bottom series")
            variants[name] = _with_member(ses_mean, ses_quant, forecast_, member_weight, nb)
        projections = {m: projection(h.S, m, resid) for m in methods}  # from the SES residuals: one per method
        ok = scale > 0
        for variant, (mean, quant) in variants.items():
            tag = "" if variant == "none" else f"{variant} "
            results = {"base": (mean, quant, quant)}
            for m, P in projections.items():
                rmean, per_q = reconcile(h.S, P, mean, quant)
                sampled = reconciled_paths(h.S, P, mean, resid, paths=paths, seed=w)
                results[m] = (rmean, path_quantiles(sampled, qs), per_q)
                for key, vals in ((f"{tag}{m} paths", np.moveaxis(sampled, 0, 1)), (f"{tag}{m} per-quantile", per_q)):
                    gaps[key] = max(gaps.get(key, 0.0), coherence_gap(h.S, vals))
            for name, (f, fq_paths, fq_per) in results.items():
                gaps[f"{tag}{name}"] = max(gaps.get(f"{tag}{name}", 0.0), coherence_gap(h.S, f))
                mae = np.mean(np.abs(actual - f), axis=1)
                pin_paths = np.mean(_pinball(actual, fq_paths, qs), axis=1)
                pin_per = np.mean(_pinball(actual, fq_per, qs), axis=1)
                for level in LEVELS:
                    sel = (h.keys["level"].to_numpy() == level) & ok
                    if not sel.any():  # no category level without categories
                        continue
                    rows.append({"cutoff": pd.Timestamp(full.weeks[cut - 1]), "level": level, "member": variant,
                                 "method": name, "mase": float(np.mean(mae[sel] / scale[sel])),
                                 "pinball_paths": float(np.mean(pin_paths[sel] / scale[sel])),
                                 "pinball_per_quantile": float(np.mean(pin_per[sel] / scale[sel])),
                                 "series": int(sel.sum())})
    per = pd.DataFrame(rows)
    table = per.groupby(["level", "member", "method"], sort=False).agg(
        mase=("mase", "mean"), pinball_paths=("pinball_paths", "mean"),
        pinball_per_quantile=("pinball_per_quantile", "mean"), series=("series", "max"),
    ).reset_index()
    return table, gaps


__all__ = [
    "LEVELS", "METHODS", "OTHER", "QUANTILE_METHODS", "TOTAL", "BottomMember", "Hierarchy", "HierarchyError", "backtest",
    "base_forecasts", "build", "coherence_gap", "distance_matrix", "forecast", "forecast_frame", "level_member",
    "neighbour_member", "path_quantiles", "projection", "quantile_key", "reconcile", "reconciled_paths", "series_id",
    "shrunk_covariance",
]
