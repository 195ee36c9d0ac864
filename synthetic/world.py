"""The world of the synthetic reviews: catalogue, weekly intensities, surges, reviewer pools
(drawn once per seed), with the constants and numeric helpers it is made of."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from synthetic.words import _CATEGORIES

# ---------------------------------------------------------------------------
# constants

_BLOCK_ROWS = 8192
"""Rows drawn from one RNG stream; the unit that makes output chunk-independent."""

_MAX_CHUNK_ROWS = 1 << 20
"""Upper bound on rows formatted at once (keeps Arrow's 32-bit offsets safe)."""

_N_ITEMS_CAP = 200_000
_MAX_CELLS = 100_000_000
"""Upper bound on n_items * weeks (the intensity table holds up to 8 bytes per cell)."""
_ENGAGED_PER_ROW = 1 / 8
"""Engaged reviewers (category pools, heavy-tailed activity) per row written."""
_CASUAL_PER_ROW = 1 / 2
"""Occasional reviewers (uniform activity, mostly a single review) per row written."""
_MAX_ENGAGED = 2_000_000
_MAX_CASUAL = 8_000_000
_GZIP_LEVEL = 1

_MS_PER_HOUR = 3_600_000
_MS_PER_DAY = 24 * _MS_PER_HOUR
_MS_PER_WEEK = 7 * _MS_PER_DAY

_TAG_WORLD = 0x5EED_0001
_TAG_BLOCK = 0x5EED_0002
_TAG_SPREAD = 0x5EED_0003
"""The planted graph and text effects (``spread=True``) draw from their own streams, so the
default output does not change."""
_TAG_SPREAD_BLOCK = 0x5EED_0004
_SPREAD_FOLLOWERS = 2
"""Items a surge spreads to: same category, co-reviewed by the leader's circle of reviewers."""
_SPREAD_LAG = (3.0, 8.0)
"""Weeks between a leader's onset and its followers' (uniform)."""
_CIRCLE_SIZE = 12
"""Engaged reviewers of a group (a leader and its followers) who review all of its items."""
_P_CIRCLE = 0.6
"""Share of a group item's pool reviews written by the group's circle. A follower reviews little
before its own surge, so this share decides whether the link to its leader is known when the
leader surges: at 0.3 a follower's edge to its leader (two shared reviewers) was known at only
53% of its labelled weeks between the leader's onset and its own (seed 0, 200,000 reviews, 600
items), and ranked outside its 20 heaviest edges at half of them; at 0.6, 79% and 75% within
them (median rank 3), the spread along co-reviewed items the docstring of `spread` describes."""
_BUZZ_WINDOW = (-5.0, 0.5)
"""Weeks around a surge's onset when reviews may carry an early signal in their text."""
_P_BUZZ = 0.5

_SURGE_SHARE = 0.065
_SURGE_MIN_HISTORY = 6.0
_SURGE_TARGET_QUANTILE = 0.8
"""A surge lifts an item at least to about this quantile of item review rates."""
_SURGE_MAX_MULT = 60.0
_PRE_LAUNCHED_SHARE = 0.35
_P_HOME_CATEGORY = 0.78
_P_SIBLING_CATEGORY = 0.10
_USER_ACTIVITY_EXPONENT = 0.72
"""Reviewer activity density within a pool is proportional to (x + x0)^-a."""
_USER_ACTIVITY_OFFSET = 8.0
"""x0 expressed in users: bounds how much the single most active reviewer takes."""
_POOL_REVIEWS_PER_ITEM = 50.0
"""Expected reviews per item drawn from the category pools; the rest of a popular
item's reviewers come from the whole population (mostly occasional reviewers), which
keeps repeated (reviewer, item) pairs rare."""

_BASE_RATING_SHARE = np.array([0.09, 0.06, 0.09, 0.16, 0.60])
_HOUR_WEIGHTS = np.array(
    [
        1.35,
        1.40,
        1.35,
        1.20,
        1.00,
        0.80,
        0.55,
        0.40,
        0.30,
        0.28,
        0.30,
        0.38,
        0.50,
        0.65,
        0.80,
        0.90,
        0.97,
        1.00,
        1.02,
        1.05,
        1.10,
        1.15,
        1.22,
        1.30,
    ]
)
"""Relative review volume by UTC hour (North-American evenings peak around 01:00 UTC)."""
_WEEKDAY_WEIGHTS = np.array([1.06, 1.04, 1.01, 0.98, 0.93, 0.94, 1.04])
"""Relative review volume Monday..Sunday."""

_B36 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
_B32 = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", dtype=np.uint8)


# ---------------------------------------------------------------------------
# small numeric helpers

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a bijection on uint64 with good avalanche."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def _smoothstep(x: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, smooth cubic in between."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _fixed_width_strings(codes: np.ndarray) -> pa.Array:
    """Wrap an ``(n, width)`` uint8 ASCII matrix as an Arrow string array without copying."""
    n, width = codes.shape
    data = pa.py_buffer(np.ascontiguousarray(codes))
    offsets = pa.py_buffer(np.arange(0, (n + 1) * width, width, dtype=np.int32))
    return pa.StringArray.from_buffers(n, offsets, data)


def _unique_asin_codes(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` distinct ASIN-style codes ("B0" + 8 base-36 symbols) as a ``(count, 10)`` matrix."""
    space = 36**8
    values = np.empty(0, dtype=np.int64)
    while values.size < count:
        draw = rng.integers(0, space, size=count - values.size + 16, dtype=np.int64)
        merged = np.concatenate([values, draw])
        _, first = np.unique(merged, return_index=True)
        values = merged[np.sort(first)]
    codes = np.empty((count, 10), dtype=np.uint8)
    codes[:, 0] = ord("B")
    codes[:, 1] = ord("0")
    codes[:, 2:] = _base36_codes(values[:count], 8)
    return codes


def _base36_codes(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded base-36 digits of non-negative integers as an ``(n, width)`` uint8 matrix."""
    codes = np.empty((values.size, width), dtype=np.uint8)
    rest = values.astype(np.int64)
    for j in range(width - 1, -1, -1):
        codes[:, j] = _B36[rest % 36]
        rest //= 36
    return codes


def _positions(counts: np.ndarray) -> np.ndarray:
    """Position inside its segment for every element of consecutive segments of ``counts``."""
    starts = np.cumsum(counts) - counts
    return np.arange(int(counts.sum())) - np.repeat(starts, counts)


def _circular_gauss(day: np.ndarray, centre: float, width: float) -> np.ndarray:
    """Gaussian bump on the day-of-year circle."""
    d = np.abs(day - centre)
    d = np.minimum(d, 365.25 - d)
    return np.exp(-0.5 * (d / width) ** 2)


# ---------------------------------------------------------------------------
# the world: catalogue, intensities, reviewer pools


@dataclass(frozen=True)
class _Surges:
    """Per-item surge parameters; non-surging items have ``mult == 1``."""

    onset: np.ndarray
    ramp: np.ndarray
    plateau: np.ndarray
    halflife: np.ndarray
    residual: np.ndarray
    mult: np.ndarray

    def phase(self, item: np.ndarray, t_week: np.ndarray) -> np.ndarray:
        """Surge phase in [0, 1] for items at (fractional) week ``t_week``.

        0 means baseline, 1 the full plateau; a small precursor (up to 0.07)
        appears in the four weeks before onset.
        """
        t = t_week - self.onset[item]
        ramp = self.ramp[item]
        rise = _smoothstep(t / ramp)
        after = np.maximum(t - ramp - self.plateau[item], 0.0)
        resid = self.residual[item]
        decay = resid + (1.0 - resid) * np.exp2(-after / self.halflife[item])
        pre = 0.07 * _smoothstep((t + 4.0) / 4.0)
        active = self.mult[item] > 1.0
        return np.where(active, np.maximum(pre, rise * decay), 0.0)


@dataclass(frozen=True)
class _World:
    """Everything rows are drawn from; its size depends on items and weeks only."""

    weeks: int
    start_ms: int
    day_p: np.ndarray
    hour_p: np.ndarray
    # joint (item, week) distribution over active cells, item-major
    cdf: np.ndarray
    item_offsets: np.ndarray
    first_week: np.ndarray
    # items
    launch: np.ndarray
    item_cat: np.ndarray
    item_vocab_cat: np.ndarray
    quality: np.ndarray
    verified_p: np.ndarray
    helpful_scale: np.ndarray
    image_p: np.ndarray
    child_cum: np.ndarray
    child_offset: np.ndarray
    surging: np.ndarray
    surges: _Surges
    asin_table: pa.Array
    parent_table: pa.Array
    # reviewers: engaged ones in per-category pools, then casual ones
    n_engaged: int
    n_casual: int
    pool_offset: np.ndarray
    pool_size: np.ndarray
    pool_cdf: np.ndarray
    sibling: np.ndarray
    pool_prob: np.ndarray
    user_keys: np.ndarray
    # planted effects (spread=True): the group (leader item) of every item, -1 outside one
    group: np.ndarray | None = None


def _default_n_items(rows: int) -> int:
    return int(min(_N_ITEMS_CAP, max(50, rows // 200)))


def _lifecycle(age: np.ndarray, rise: np.ndarray, tau: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Ramp-up then slow power-law decay; zero before launch (``age <= 0``)."""
    pos = np.maximum(age, 0.0)
    return np.where(age > 0.0, (1.0 - np.exp(-pos / rise)) * (1.0 + pos / tau) ** (-alpha), 0.0)


def _place_surges(
    rng: np.random.Generator, launch: np.ndarray, weeks: int
) -> tuple[np.ndarray, np.ndarray]:
    """Choose surging items and their onset weeks.

    Onsets are spread uniformly over the window (after a short warm-up, at least two
    weeks before its end); each goes to a distinct item launched at least
    ``_SURGE_MIN_HISTORY`` weeks earlier, so every surge has a baseline before it.
    Returns item indices (sorted) and their onsets.
    """
    lo, hi = min(8.0, weeks / 4.0), weeks - 1.0
    n_wanted = max(1, round(_SURGE_SHARE * launch.size))
    if hi <= lo:
        return np.empty(0, dtype=np.int64), np.empty(0)
    by_launch = np.argsort(launch, kind="stable")
    sorted_launch = launch[by_launch]
    onsets = rng.uniform(lo, hi, n_wanted)
    eligible = np.searchsorted(sorted_launch, onsets - _SURGE_MIN_HISTORY, side="right")
    keep = eligible > 0
    onsets, eligible = onsets[keep], eligible[keep]
    chosen = np.full(onsets.size, -1, dtype=np.int64)
    for _ in range(8):  # a few redraws resolve items picked twice
        todo = np.flatnonzero(chosen < 0)
        if todo.size == 0:
            break
        chosen[todo] = by_launch[(rng.random(todo.size) * eligible[todo]).astype(np.int64)]
        _, first = np.unique(chosen, return_index=True)
        duplicate = np.ones(chosen.size, dtype=bool)
        duplicate[first] = False
        chosen[duplicate] = -1
    ok = chosen >= 0
    order = np.argsort(chosen[ok], kind="stable")
    return chosen[ok][order], onsets[ok][order]


def _spread_surges(
    seed: int, surges: _Surges, surging: np.ndarray, item_cat: np.ndarray, launch: np.ndarray, weeks: int
) -> tuple[_Surges, np.ndarray, np.ndarray]:
    """Planted effect: every surge spreads to up to `_SPREAD_FOLLOWERS` items of its category
    (not surging, launched well before) a few weeks later. Returns the surges, the surging
    flags and each item's group (its leader's index; -1 outside a group)."""
    rng = np.random.default_rng([seed, _TAG_SPREAD])
    onset, mult, surging = surges.onset.copy(), surges.mult.copy(), surging.copy()
    group = np.full(item_cat.size, -1, dtype=np.int64)
    leaders = np.flatnonzero(surging)
    group[leaders] = leaders
    for lead in leaders[rng.permutation(leaders.size)]:
        lag = rng.uniform(*_SPREAD_LAG)
        start = surges.onset[lead] + lag
        if start >= weeks - 2.0:
            continue
        free = np.flatnonzero((item_cat == item_cat[lead]) & (group < 0) & (launch < start - _SURGE_MIN_HISTORY))
        if free.size == 0:
            continue
        chosen = rng.choice(free, size=min(_SPREAD_FOLLOWERS, free.size), replace=False)
        onset[chosen] = start + rng.uniform(0.0, 1.0, chosen.size)
        mult[chosen] = np.clip(mult[lead] * rng.uniform(0.6, 1.2, chosen.size), 2.0, _SURGE_MAX_MULT)
        surging[chosen] = True
        group[chosen] = lead
    spread = _Surges(onset=onset, ramp=surges.ramp, plateau=surges.plateau, halflife=surges.halflife,
                     residual=surges.residual, mult=mult)
    return spread, surging, group


def _build_world(
    *, rows: int, seed: int, n_items: int, weeks: int, start: dt.date, spread: bool = False
) -> _World:
    """Draw the catalogue, the per-item weekly intensities and the reviewer pools."""
    rng = np.random.default_rng([seed, _TAG_WORLD])
    start_ms = (start - dt.date(1970, 1, 1)).days * _MS_PER_DAY

    # calendar: seasonality per category, growth trend, weekday pattern
    week_idx = np.arange(weeks)
    mid = np.datetime64(start.isoformat(), "D") + 7 * week_idx + 3
    doy = (mid - mid.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.float64)
    holiday = (
        _circular_gauss(doy, 350.0, 15.0)
        + 0.5 * _circular_gauss(doy, 332.0, 5.0)
        + 0.25 * _circular_gauss(doy, 8.0, 7.0)
    )
    prime_day = _circular_gauss(doy, 196.0, 4.0)
    summer = _circular_gauss(doy, 175.0, 35.0)
    trend = np.exp(0.12 * week_idx / 52.0)

    n_cat = int(np.clip(round(math.sqrt(n_items) / 2.0), 3, len(_CATEGORIES)))
    vocab_cat = rng.permutation(len(_CATEGORIES))[:n_cat]
    hol_amp = np.array([_CATEGORIES[c][2] for c in vocab_cat]) * rng.uniform(0.8, 1.2, n_cat)
    sum_amp = np.array([_CATEGORIES[c][3] for c in vocab_cat]) * rng.uniform(0.8, 1.2, n_cat)
    season = (
        1.0
        + hol_amp[:, None] * holiday[None, :]
        + sum_amp[:, None] * summer[None, :]
        + 0.3 * prime_day[None, :]
    ) * trend[None, :]
    start_weekday = start.weekday()
    day_p = _WEEKDAY_WEIGHTS[(start_weekday + np.arange(7)) % 7]
    day_p = day_p / day_p.sum()
    hour_p = _HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()

    # catalogue
    cat_share = rng.dirichlet(np.full(n_cat, 2.0))
    item_cat = rng.choice(n_cat, size=n_items, p=cat_share).astype(np.int64)
    log_pop = rng.normal(0.0, 1.25, n_items)
    popularity = np.exp(log_pop)
    pre_launched = rng.random(n_items) < _PRE_LAUNCHED_SHARE
    launch = np.where(
        pre_launched,
        -rng.uniform(0.0, 104.0, n_items),
        rng.uniform(0.0, max(weeks - 1.0, 0.5), n_items),
    )
    rise = rng.uniform(0.5, 3.0, n_items)
    tau = rng.lognormal(math.log(26.0), 0.5, n_items)
    alpha = rng.uniform(0.6, 1.6, n_items)

    surge_items, surge_onsets = _place_surges(rng, launch, weeks)
    n_surge = surge_items.size
    surging = np.zeros(n_items, dtype=bool)
    surging[surge_items] = True
    onset = np.full(n_items, 1e9)
    onset[surge_items] = surge_onsets
    # a surge multiplies the rate several-fold, and lifts small items at least to
    # the level of a well-selling one (the "dark horses")
    mult = np.ones(n_items)
    relative = 3.0 + rng.lognormal(math.log(3.0), 0.45, n_surge)

    def base_rate(at: np.ndarray, i: np.ndarray) -> np.ndarray:
        return popularity[i] * _lifecycle(at - launch[i], rise[i], tau[i], alpha[i])

    typical = base_rate(np.full(n_items, weeks / 2.0), np.arange(n_items))
    alive = typical[typical > 0]
    reference = float(np.quantile(alive, _SURGE_TARGET_QUANTILE)) if alive.size else 1.0
    target = reference * rng.lognormal(0.0, 0.4, n_surge)
    at_onset = np.maximum(base_rate(surge_onsets, surge_items), 1e-12)
    mult[surge_items] = np.clip(np.maximum(relative, target / at_onset), 1.0, _SURGE_MAX_MULT)
    surges = _Surges(
        onset=onset,
        ramp=rng.uniform(1.0, 4.0, n_items),
        plateau=rng.uniform(6.0, 26.0, n_items),
        halflife=rng.uniform(4.0, 16.0, n_items),
        residual=rng.uniform(0.05, 0.3, n_items),
        mult=mult,
    )
    group = None
    if spread:
        surges, surging, group = _spread_surges(seed, surges, surging, item_cat, launch, weeks)
        mult = surges.mult

    # item-level review attributes
    quality = 0.15 * (log_pop / 1.25) + rng.normal(0.0, 0.4, n_items) + 0.3 * surging
    verified_p = np.clip(rng.beta(16.0, 2.0, n_items) + 0.03 * surging, 0.0, 0.995)
    helpful_scale = (
        rng.lognormal(0.0, 0.5, n_items)
        * (popularity / np.median(popularity)) ** 0.2
        * np.where(surging, 1.4, 1.0)
    )
    image_p = rng.beta(1.0, 19.0, n_items)

    # variations: 1-3 child asins per parent; a single child shares the parent's asin
    n_children = rng.choice(np.array([1, 2, 3]), size=n_items, p=[0.55, 0.30, 0.15])
    shares = rng.dirichlet(np.full(3, 1.5), size=n_items)
    shares[n_children == 1] = (1.0, 0.0, 0.0)
    two = n_children == 2
    shares[two, 2] = 0.0
    shares[two] /= shares[two].sum(axis=1, keepdims=True)
    child_cum = np.cumsum(shares, axis=1)[:, :2]
    child_cum[n_children == 1] = 1.0
    child_cum[two, 1] = 1.0
    extra = np.where(n_children > 1, n_children, 0)
    codes = _unique_asin_codes(rng, n_items + int(extra.sum()))
    parent_codes = codes[:n_items]
    child_codes = np.empty((int(n_children.sum()), 10), dtype=np.uint8)
    child_offset = np.concatenate([[0], np.cumsum(n_children)[:-1]]).astype(np.int64)
    single = n_children == 1
    child_codes[child_offset[single]] = parent_codes[single]
    multi_children = n_children[~single]
    multi_rows = np.repeat(child_offset[~single], multi_children) + _positions(multi_children)
    child_codes[multi_rows] = codes[n_items:]

    # joint (item, week) intensities over active cells, built in batches
    first_week = np.clip(np.floor(launch), 0, weeks - 1).astype(np.int64)
    cells = weeks - first_week
    item_offsets = np.concatenate([[0], np.cumsum(cells)]).astype(np.int64)
    cdf = np.empty(int(item_offsets[-1]), dtype=np.float64)
    running = 0.0
    cat_mass = np.zeros(n_cat)
    batch = max(1, 2_000_000 // weeks)
    for lo in range(0, n_items, batch):
        hi = min(n_items, lo + batch)
        items = np.arange(lo, hi)
        item = np.repeat(items, cells[lo:hi])
        week = first_week[item] + _positions(cells[lo:hi])
        t = week + 0.5
        intensity = (
            popularity[item]
            * _lifecycle(t - launch[item], rise[item], tau[item], alpha[item])
            * (1.0 + (mult[item] - 1.0) * surges.phase(item, t))
            * season[item_cat[item], week]
        )
        cat_mass += np.bincount(item_cat[item], weights=intensity, minlength=n_cat)
        part = np.cumsum(intensity)
        cdf[item_offsets[lo] : item_offsets[hi]] = part + running
        running += float(part[-1])

    # reviewer pools: one per category, sized by that category's review share
    item_mass = np.diff(np.concatenate([[0.0], cdf[item_offsets[1:] - 1]]))
    expected_reviews = rows * item_mass / running
    pool_prob = np.minimum(1.0, _POOL_REVIEWS_PER_ITEM / np.maximum(expected_reviews, 1e-9))
    n_engaged = int(min(_MAX_ENGAGED, max(10, rows * _ENGAGED_PER_ROW)))
    n_casual = int(min(_MAX_CASUAL, max(10, rows * _CASUAL_PER_ROW)))
    review_share = cat_mass / cat_mass.sum()
    pool_size = np.maximum(1, np.floor(review_share * n_engaged)).astype(np.int64)
    pool_offset = np.concatenate([[0], np.cumsum(pool_size)[:-1]]).astype(np.int64)
    pool_cdf = np.cumsum(review_share)
    sibling = rng.permutation(n_cat)
    sibling = np.where(sibling == np.arange(n_cat), (sibling + 1) % n_cat, sibling)
    user_keys = rng.integers(0, np.iinfo(np.uint64).max, size=3, dtype=np.uint64, endpoint=True)

    return _World(
        weeks=weeks,
        start_ms=start_ms,
        day_p=day_p,
        hour_p=hour_p,
        cdf=cdf,
        item_offsets=item_offsets,
        first_week=first_week,
        launch=launch,
        item_cat=item_cat,
        item_vocab_cat=vocab_cat[item_cat],
        quality=quality,
        verified_p=verified_p,
        helpful_scale=helpful_scale,
        image_p=image_p,
        child_cum=child_cum,
        child_offset=child_offset,
        surging=surging,
        surges=surges,
        asin_table=_fixed_width_strings(child_codes),
        parent_table=_fixed_width_strings(parent_codes),
        n_engaged=int(pool_size.sum()),
        n_casual=n_casual,
        pool_offset=pool_offset,
        pool_size=pool_size,
        pool_cdf=pool_cdf,
        sibling=sibling,
        pool_prob=pool_prob,
        user_keys=user_keys,
        group=group,
    )
