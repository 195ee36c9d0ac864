"""Weekly sales of a chain's store x department panel with a strong, stable yearly season.

Each department has its own yearly profile on the ISO week of the year: a sum of calendar bumps
(Valentine's, Easter, summer, back to school, Halloween, the holiday weeks with their Black
Friday spike) each department takes or not, with its own amplitude, on a base of 1. A store
scales the department's level by its size and the season's amplitude by its own factor (0.8 to
1.2), with a slow trend of its own. Sales are that expectation times multiplicative noise
(lognormal, 4% to 15% per series) and, in 2% of weeks, a promotion (x1.3 to x2) that no
calendar predicts. Not every department sells in every store, and some open late.

The panel's hot sellers are mostly the season's: the departments whose bump comes in the next
weeks. What the same weeks did a year earlier predicts them well, as on real store x department
sales, which the other generated panels (review counts, Poisson noise) do not show.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from darkhorse.core.schema import DS, ID, Y

# calendar bumps: (first ISO week, last ISO week, share of departments that take it, amplitude range)
BUMPS = {
    "valentine": (6, 7, 0.10, (0.3, 1.5)),
    "easter": (13, 15, 0.15, (0.2, 1.0)),
    "summer": (22, 34, 0.25, (0.2, 0.8)),
    "back_to_school": (30, 35, 0.20, (0.3, 2.0)),
    "halloween": (41, 43, 0.10, (0.5, 2.5)),
    "holiday": (47, 51, 0.45, (0.3, 3.0)),
}
PROMO_SHARE = 0.02
SEPARATOR = "_"  # a series id: `<store>_<department>` (s03_d17)


def series_id(store: int, department: int) -> str:
    """The id of a store's department, both numbered from 0: `s03_d17`."""
    return f"s{store:02d}{SEPARATOR}d{department:02d}"


def series_parts(ids: pd.Series) -> pd.DataFrame:
    """`series_id`'s inverse: the store and department numbers (from 0) of each id, as ints."""
    return ids.str.extract(rf"^s(\d+){SEPARATOR}d(\d+)$").astype(int).set_axis(["store", "department"], axis=1)


def _profile(rng: np.random.Generator) -> np.ndarray:
    """A department's expected multiplier per ISO week 1..53 (index 0 unused)."""
    woy = np.arange(54, dtype="float64")
    out = np.ones(54)
    for name, (first, last, share, (lo, hi)) in BUMPS.items():
        if rng.random() >= share:
            continue
        amp = rng.uniform(lo, hi)
        mid, half = (first + last) / 2, (last - first) / 2 + 1
        out += amp * np.clip(1 - np.abs(woy - mid) / half, 0, None)  # a tent over the bump's weeks
        if name == "holiday":  # Black Friday: the holiday bump's first week spikes
            out[first] += rng.uniform(0.2, 1.0) * amp
    return out


def store_department_sales(
    n_stores: int = 20, n_departments: int = 40, weeks: int = 143, *, start: str = "2010-02-01", seed: int = 0,
    coverage: float = 0.85, promotions: bool = False,
) -> pd.DataFrame:
    """`unique_id, ds, y` (`unique_id` = `<store>_<department>`), dense from each series' first week;
    with `promotions`, also `promo`: 1.0 in the weeks a promotion lifted the sales, else 0.0 (a
    store's promotion calendar, known ahead; the sales are the same either way). A tenth of the
    series start late, between week 20 and 60 weeks before the end, where `weeks` is over 80;
    on a shorter span every series starts at the first week."""
    if pd.Timestamp(start).weekday() != 0:
        raise ValueError(f"start {start!r} is not a Monday")
    rng = np.random.default_rng(seed)
    ds = pd.date_range(start, periods=weeks, freq="7D")
    woy = ds.isocalendar().week.to_numpy().astype(int)
    t = np.arange(weeks)
    profiles = [_profile(rng) for _ in range(n_departments)]
    dept_level = np.exp(rng.normal(8.0, 1.0, n_departments))
    ids, dss, ys, promos = [], [], [], []
    for s in range(n_stores):
        size = np.exp(rng.normal(0.0, 0.4))
        season_scale = rng.uniform(0.8, 1.2)
        trend = rng.normal(0.0, 0.001)
        for d in range(n_departments):
            if rng.random() >= coverage:
                continue
            late = rng.random() >= 0.9
            first = int(rng.integers(20, weeks - 60)) if late and weeks > 80 else 0
            season = 1 + season_scale * (profiles[d][woy] - 1)
            mu = dept_level[d] * size * season * np.exp(trend * t)
            noise = np.exp(rng.normal(0.0, rng.uniform(0.04, 0.15), weeks))
            promo = np.where(rng.random(weeks) < PROMO_SHARE, rng.uniform(1.3, 2.0, weeks), 1.0)
            y = np.round(mu * noise * promo, 2)
            ids.append(np.full(weeks - first, series_id(s, d)))
            dss.append(ds[first:])
            ys.append(y[first:])
            promos.append((promo[first:] > 1.0).astype("float64"))
    out = pd.DataFrame({ID: np.concatenate(ids), DS: np.concatenate(dss), Y: np.concatenate(ys)})
    if promotions:
        out["promo"] = np.concatenate(promos)
    return out


# ISO weeks a US chain's export flags as holidays: the Super Bowl, Labor Day, Thanksgiving, Christmas
HOLIDAY_WEEKS = (6, 36, 47, 52)
# the export's columns: store, department, date, sales, holiday flag
STORE, DEPT, DATE, SALES, HOLIDAY = "Store", "Dept", "Date", "Weekly_Sales", "IsHoliday"


def store_export(frame: pd.DataFrame, *, missing: float = 0.01, negative: float = 0.003, seed: int = 7) -> pd.DataFrame:
    """The generated panel as a chain's weekly export: `Store, Dept` (numbered from 1), `Date`
    (the week's Friday, ISO text), `Weekly_Sales` and `IsHoliday` (`TRUE`/`FALSE`), with the flaws
    such files have: a share `negative` of the weeks net negative (returns above sales, a
    hundredth of the week's sales below zero) and a share `missing` of the rows absent."""
    parts = series_parts(frame[ID])
    out = pd.DataFrame({
        STORE: parts["store"] + 1,
        DEPT: parts["department"] + 1,
        DATE: (frame[DS] + pd.Timedelta(days=4)).dt.strftime("%Y-%m-%d"),
        SALES: frame[Y].round(2),
    })
    week = frame[DS].dt.isocalendar().week.to_numpy()
    out[HOLIDAY] = np.where(np.isin(week, HOLIDAY_WEEKS), "TRUE", "FALSE")
    rng = np.random.default_rng(seed)
    neg = rng.random(len(out)) < negative
    out.loc[neg, SALES] = -out.loc[neg, SALES].abs() * 0.01
    return out[~(rng.random(len(out)) < missing)].reset_index(drop=True)


def export_source(path: str) -> dict:
    """The config source that reads `store_export`'s file at `path` (README, "Bring your own data")."""
    return {"name": "stores", "kind": "sales", "path": path, "granularity": "weekly",
            "columns": {"item_id": [STORE, DEPT], "date": DATE, "quantity": SALES},
            "known_future": [{"column": HOLIDAY, "agg": "max"}]}
