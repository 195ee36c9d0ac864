"""Synthetic Amazon Reviews 2023 records with realistic demand dynamics.

`generate_reviews` writes JSON Lines in the Amazon Reviews 2023 review schema
(``rating``, ``title``, ``text``, ``images``, ``asin``, ``parent_asin``,
``user_id``, ``timestamp``, ``helpful_vote``, ``verified_purchase``), plain or
gzip-compressed when the output path ends with ``.gz``.

The data has the structure a demand-spike detector needs:

* a catalogue of items (``parent_asin``, each with 1-3 child ``asin``) grouped
  into categories; popularity is heavy-tailed (lognormal);
* items launch at different times (about a third already exist when the
  window opens), ramp up over a few weeks, then decay slowly (power-law tail);
* yearly seasonality per category (holiday peak from late November through
  December, Prime-Day and summer bumps for some categories), a mild growth
  trend, a weekly day-of-week pattern and a diurnal hour-of-day pattern;
* a minority of items (about 6.5%) *surge*: after a small precursor their
  review rate multiplies several-fold over a few weeks, stays elevated on a
  plateau, then decays towards a level still above the baseline;
* ratings, helpful votes, verified purchases and images depend on the item
  (latent quality, verified share), the reviewer (rating bias), the review's
  age and the surge phase: surging items rate higher and collect more helpful
  votes, early reviews are less often verified;
* reviewers are either *engaged* (per-category pools with a heavy-tailed
  activity distribution; they mostly review their home category, sometimes a
  sibling or a random one) or *occasional* (about one review each).  Niche
  items are reviewed by engaged reviewers, the bulk of a popular item's
  reviews come from occasional ones (which keeps repeated reviewer/item pairs
  rare), and the most active engaged reviewers ("tastemakers") show up early
  on surging items, so the co-review graph carries signal.

Generation is a two-step process.  A small *world* (per-item weekly
intensities stored as one cumulative distribution over the active
(item, week) cells, item attributes, user pools) is built from
``np.random.default_rng([seed, ...])``.  Rows are then drawn in fixed blocks of
``_BLOCK_ROWS`` rows, each block from its own generator seeded with
``[seed, tag, block_index]``, and formatted with vectorised Arrow string
kernels; a background thread compresses and writes chunk k while chunk k + 1
is drawn.  Memory therefore depends on ``n_items * weeks`` (about 8 bytes per
active cell) and ``chunk_rows`` (a few hundred bytes per row) but not on
``rows`` (apart from one byte per reviewer to count distinct reviewers), and
the output is byte-identical for the same arguments whatever ``chunk_rows``
is.  Rows are not ordered by time.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
import os
import sys
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["generate_reviews"]

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
# vocabulary

def _load_vocabulary(path: Path) -> dict:
    """The words of the reviews (synthetic/vocabulary.json); errors name the file and key."""
    doc = json.loads(path.read_text())
    try:
        return {
            "categories": tuple(
                (c["name"], tuple(c["nouns"]), float(c["holiday_amplitude"]), float(c["summer_amplitude"]))
                for c in doc["categories"]
            ),
            "middle_templates": tuple(doc["middle_templates"]),
            "titles": tuple(tuple(b) for b in doc["titles_by_rating"]),
            "openers": tuple(tuple(b) for b in doc["openers_by_sentiment"]),
            "closers": tuple(tuple(b) for b in doc["closers_by_sentiment"]),
        }
    except (KeyError, TypeError) as e:
        raise ValueError(f"{path}: missing or malformed vocabulary entry {e}") from None


_VOCABULARY = _load_vocabulary(Path(__file__).with_name("vocabulary.json"))
# (name, nouns, holiday amplitude, summer amplitude) per category
_CATEGORIES: tuple[tuple[str, tuple[str, ...], float, float], ...] = _VOCABULARY["categories"]
_MIDDLE_TEMPLATES: tuple[str, ...] = _VOCABULARY["middle_templates"]
# titles bucketed by star rating (1..5); openers and closers by sentiment: 0 = 1-2 stars,
# 1 = 3 stars, 2 = 4-5 stars
_TITLES: tuple[tuple[str, ...], ...] = _VOCABULARY["titles"]
_OPENERS: tuple[tuple[str, ...], ...] = _VOCABULARY["openers"]
_CLOSERS: tuple[tuple[str, ...], ...] = _VOCABULARY["closers"]

_IMAGE_PARTS = (
    '{"small_image_url": "https://example.invalid/img/',
    '._SL256_.jpg", "medium_image_url": "https://example.invalid/img/',
    '._SL800_.jpg", "large_image_url": "https://example.invalid/img/',
    '.jpg", "attachment_type": "IMAGE"}',
)
"""An image dict is these pieces with the image id between consecutive ones."""
_IMAGE_SEP_TABLE = pa.array(["", ", "])


def _check_vocabulary(strings: Sequence[str]) -> None:
    """Vocabulary is pasted into JSON verbatim, so it must need no escaping."""
    for s in strings:
        if '"' in s or "\\" in s or not s.isascii() or any(ord(ch) < 32 for ch in s):
            raise AssertionError(f"vocabulary entry needs JSON escaping: {s!r}")


def _bucketed_table(buckets: Sequence[Sequence[str]]) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Flatten string buckets into one Arrow array plus per-bucket offsets and sizes."""
    flat = [s for bucket in buckets for s in bucket]
    _check_vocabulary(flat)
    sizes = np.array([len(b) for b in buckets], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    return pa.array(flat, type=pa.string()), offsets, sizes


def _middle_buckets() -> list[list[str]]:
    """One bucket of neutral sentences per category; index 0 of the table is ''."""
    buckets: list[list[str]] = [[""]]
    for _, nouns, _, _ in _CATEGORIES:
        buckets.append([t.format(n=n) + " " for t in _MIDDLE_TEMPLATES for n in nouns])
    return buckets


_TITLE_TABLE, _TITLE_OFF, _TITLE_CNT = _bucketed_table(_TITLES)
_OPENER_TABLE, _OPENER_OFF, _OPENER_CNT = _bucketed_table(_OPENERS)
_CLOSER_TABLE, _CLOSER_OFF, _CLOSER_CNT = _bucketed_table(_CLOSERS)
_MIDDLE_TABLE, _MIDDLE_OFF, _MIDDLE_CNT = _bucketed_table(_middle_buckets())
_RATING_TABLE = pa.array(["1.0", "2.0", "3.0", "4.0", "5.0"])
_BOOL_TABLE = pa.array(["false", "true"])

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


def _build_world(*, rows: int, seed: int, n_items: int, weeks: int, start: dt.date) -> _World:
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
    )


# ---------------------------------------------------------------------------
# drawing rows


@dataclass
class _Block:
    """Columns of one block of rows (integer codes, not yet strings)."""

    item: np.ndarray
    asin: np.ndarray
    user: np.ndarray
    timestamp: np.ndarray
    rating: np.ndarray
    title: np.ndarray
    opener: np.ndarray
    middle: np.ndarray
    closer: np.ndarray
    helpful: np.ndarray
    verified: np.ndarray
    n_images: np.ndarray
    image_ids: np.ndarray


def _pick_in_bucket(
    rng: np.random.Generator, bucket: np.ndarray, offsets: np.ndarray, sizes: np.ndarray
) -> np.ndarray:
    """Uniform index inside the given bucket of a flattened string table."""
    u = rng.random(bucket.size)
    return offsets[bucket] + np.minimum((u * sizes[bucket]).astype(np.int64), sizes[bucket] - 1)


def _power_law_index(u: np.ndarray, size: np.ndarray, exponent: float, offset: float) -> np.ndarray:
    """Map uniforms to indices in ``[0, size)`` with density ``(x + offset/size)^-exponent``.

    Index 0 is the most likely; ``offset`` (in indices) flattens the head so the single
    most active index does not take an unbounded share.
    """
    fsize = size.astype(np.float64)
    b = 1.0 - exponent
    x0 = offset / fsize
    lo = x0**b
    x = (lo + u * ((1.0 + x0) ** b - lo)) ** (1.0 / b) - x0
    return np.minimum((x * fsize).astype(np.int64), size - 1)


def _user_bias(world: _World, user: np.ndarray) -> np.ndarray:
    """Reviewer rating bias, a deterministic function of the reviewer."""
    h = _mix64(user.astype(np.uint64) ^ world.user_keys[2])
    u = ((h >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)
    return 0.15 * np.log(u / (1.0 - u))


def _draw_block(world: _World, rng: np.random.Generator, n: int) -> _Block:
    """Draw ``n`` rows from the world with one generator."""
    # which item, which week
    u = rng.random(n) * world.cdf[-1]
    flat = np.minimum(np.searchsorted(world.cdf, u, side="right"), world.cdf.size - 1)
    item = np.searchsorted(world.item_offsets, flat, side="right") - 1
    week = world.first_week[item] + (flat - world.item_offsets[item])

    # when inside the week
    day = rng.choice(7, size=n, p=world.day_p)
    hour = rng.choice(24, size=n, p=world.hour_p)
    within = rng.integers(0, _MS_PER_HOUR, size=n)
    timestamp = (
        world.start_ms + week * _MS_PER_WEEK + day * _MS_PER_DAY + hour * _MS_PER_HOUR + within
    )
    t = week + (day + (hour + 0.5) / 24.0) / 7.0
    age = t - world.launch[item]
    phase = world.surges.phase(item, t)

    # which variation
    uc = rng.random(n)[:, None]
    child = (uc > world.child_cum[item]).sum(axis=1)
    asin = world.child_offset[item] + child

    # who: for a niche item (and the first reviews of any item in expectation) a
    # reviewer from the category pools: home pool mostly, sometimes a sibling or any
    # category; for the bulk of a popular item's reviews anyone
    cat = world.item_cat[item]
    r = rng.random(n)
    other = np.minimum(
        np.searchsorted(world.pool_cdf, rng.random(n), side="right"), world.pool_cdf.size - 1
    )
    pool = np.where(
        r < _P_HOME_CATEGORY,
        cat,
        np.where(r < _P_HOME_CATEGORY + _P_SIBLING_CATEGORY, world.sibling[cat], other),
    )
    local = _power_law_index(
        rng.random(n), world.pool_size[pool], _USER_ACTIVITY_EXPONENT, _USER_ACTIVITY_OFFSET
    )
    # tastemakers: the most active reviewers find surging items early
    t_onset = t - world.surges.onset[item]
    early = world.surging[item] & (t_onset > -6.0) & (t_onset < 2.0)
    tastemaker = early & (rng.random(n) < 0.25)
    top = np.maximum(1, world.pool_size[pool] // 50)
    local = np.where(tastemaker, (rng.random(n) * top).astype(np.int64), local)
    from_pool = tastemaker | (rng.random(n) < world.pool_prob[item])
    casual = world.n_engaged + np.minimum(
        (rng.random(n) * world.n_casual).astype(np.int64), world.n_casual - 1
    )
    user = np.where(from_pool, world.pool_offset[pool] + local, casual)

    # rating: ordinal logit around the item's quality and the reviewer's bias
    z = world.quality[item] + _user_bias(world, user) + 0.3 * phase
    logits = np.log(_BASE_RATING_SHARE)[None, :] + 0.6 * z[:, None] * np.arange(-2, 3)[None, :]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    cum = np.cumsum(p, axis=1)
    ur = rng.random(n) * cum[:, -1]
    rating = 1 + (ur[:, None] > cum[:, :4]).sum(axis=1)
    sentiment = np.where(rating <= 2, 0, np.where(rating == 3, 1, 2))

    # words
    title = _pick_in_bucket(rng, rating - 1, _TITLE_OFF, _TITLE_CNT)
    opener = _pick_in_bucket(rng, sentiment, _OPENER_OFF, _OPENER_CNT)
    closer = _pick_in_bucket(rng, sentiment, _CLOSER_OFF, _CLOSER_CNT)
    middle = _pick_in_bucket(rng, 1 + world.item_vocab_cat[item], _MIDDLE_OFF, _MIDDLE_CNT)
    middle = np.where(rng.random(n) < 0.3, 0, middle)

    # helpful votes: overdispersed, more for surging, extreme and older reviews
    rating_factor = np.array([0.0, 1.7, 1.3, 1.0, 0.8, 0.9])[rating]
    weeks_left = world.weeks - t
    age_factor = np.sqrt(np.minimum(1.0, weeks_left / 26.0 + 0.1))
    mean_votes = 0.45 * world.helpful_scale[item] * (1.0 + 1.5 * phase) * rating_factor * age_factor
    helpful = rng.poisson(mean_votes * rng.gamma(0.4, 1.0 / 0.4, n))

    # verified: item share, lower for the earliest reviews of an item
    p_verified = world.verified_p[item] * (1.0 - 0.35 * np.exp(-np.maximum(age, 0.0) / 3.0))
    verified = rng.random(n) < p_verified

    # images: rare, more often with positive reviews
    p_image = np.minimum(0.5, world.image_p[item] * np.where(rating >= 4, 1.3, 0.7))
    has_image = rng.random(n) < p_image
    n_images = np.where(has_image, 1 + (rng.random(n) < 0.35), 0)
    image_ids = rng.integers(0, 36**10, size=int(n_images.sum()), dtype=np.int64)

    return _Block(
        item=item,
        asin=asin,
        user=user,
        timestamp=timestamp,
        rating=rating,
        title=title,
        opener=opener,
        middle=middle,
        closer=closer,
        helpful=helpful,
        verified=verified,
        n_images=n_images,
        image_ids=image_ids,
    )


def _concat_blocks(blocks: Sequence[_Block]) -> _Block:
    """Stack the columns of several blocks."""
    if len(blocks) == 1:
        return blocks[0]
    names = [f.name for f in fields(_Block)]
    return _Block(**{name: np.concatenate([getattr(b, name) for b in blocks]) for name in names})


# ---------------------------------------------------------------------------
# formatting


def _user_id_strings(world: _World, user: np.ndarray) -> pa.Array:
    """28-character reviewer ids ("A" + 27 base-32 symbols), unique per reviewer."""
    k = world.user_keys
    h1 = _mix64(user.astype(np.uint64) + k[0])  # bijective in the reviewer index
    h2 = _mix64(h1 ^ k[1])
    codes = np.empty((user.size, 28), dtype=np.uint8)
    codes[:, 0] = ord("A")
    codes[:, 1] = _B32[(h1 >> np.uint64(60)).astype(np.intp)]
    for j in range(12):  # together with the column above: all 64 bits of h1
        codes[:, 2 + j] = _B32[((h1 >> np.uint64(5 * j)) & np.uint64(31)).astype(np.intp)]
    for j in range(12):
        codes[:, 14 + j] = _B32[((h2 >> np.uint64(5 * j)) & np.uint64(31)).astype(np.intp)]
    h3 = _mix64(h2 + k[2])
    for j in range(2):
        codes[:, 26 + j] = _B32[((h3 >> np.uint64(5 * j)) & np.uint64(31)).astype(np.intp)]
    return _fixed_width_strings(codes)


def _image_lists(block: _Block) -> pa.Array:
    """Each row's ``images`` value: ``[]`` or a JSON list of one or two image dicts."""
    rows_with = np.flatnonzero(block.n_images)
    counts = block.n_images[rows_with]
    first = np.cumsum(counts) - counts
    names = _fixed_width_strings(_base36_codes(block.image_ids, 10))
    entries = pc.binary_join_element_wise(
        *[piece for part in _IMAGE_PARTS[:-1] for piece in (part, names)], _IMAGE_PARTS[-1], ""
    )
    padded = pa.concat_arrays([entries, pa.array([""], type=pa.string())])
    second = np.where(counts == 2, first + 1, len(entries))
    lists = pc.binary_join_element_wise(
        "[", entries.take(first), _IMAGE_SEP_TABLE.take(counts - 1), padded.take(second), "]", ""
    )
    table = pa.concat_arrays([pa.array(["[]"], type=pa.string()), lists])
    index = np.zeros(block.n_images.size, dtype=np.int64)
    index[rows_with] = np.arange(1, rows_with.size + 1)
    return table.take(index)


def _format_lines(world: _World, block: _Block) -> pa.Array:
    """Render a block as JSON lines (each string ends with a newline)."""
    return pc.binary_join_element_wise(
        '{"rating": ',
        _RATING_TABLE.take(block.rating - 1),
        ', "title": "',
        _TITLE_TABLE.take(block.title),
        '", "text": "',
        _OPENER_TABLE.take(block.opener),
        " ",
        _MIDDLE_TABLE.take(block.middle),
        _CLOSER_TABLE.take(block.closer),
        '", "images": ',
        _image_lists(block),
        ', "asin": "',
        world.asin_table.take(block.asin),
        '", "parent_asin": "',
        world.parent_table.take(block.item),
        '", "user_id": "',
        _user_id_strings(world, block.user),
        '", "timestamp": ',
        pc.cast(pa.array(block.timestamp), pa.string()),
        ', "helpful_vote": ',
        pc.cast(pa.array(block.helpful), pa.string()),
        ', "verified_purchase": ',
        _BOOL_TABLE.take(block.verified.astype(np.int64)),
        "}\n",
        "",
    )


def _payload(lines: pa.Array) -> memoryview:
    """The concatenated bytes of a string array (its data buffer between first/last offset)."""
    offsets = np.frombuffer(
        lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=4 * lines.offset
    )
    return memoryview(lines.buffers()[2])[int(offsets[0]) : int(offsets[-1])]


# ---------------------------------------------------------------------------
# public entry point


def _check_int(name: str, value: object, minimum: int) -> int:
    """``value`` as an int, or ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def _check_start(start: object) -> dt.date:
    """Parse the window start (an ISO date string or a date), or raise ValueError."""
    if isinstance(start, dt.date) and not isinstance(start, dt.datetime):
        return start
    if isinstance(start, str):
        try:
            return dt.date.fromisoformat(start)
        except ValueError:
            pass
    raise ValueError(f"start must be an ISO date string (YYYY-MM-DD), got {start!r}")


def _check_out(out: object) -> Path:
    """The output path, or ValueError when ``out`` is not a usable file path."""
    if not isinstance(out, str | os.PathLike) or isinstance(out, bytes):
        raise ValueError(f"out must be a file path, got {out!r}")
    path = Path(out)
    if str(out) == "" or path.is_dir():
        raise ValueError(f"out must be a file path, not a directory or empty, got {str(out)!r}")
    return path


class _Sink:
    """Writes rendered chunks to a temporary file from a background thread.

    Compression and file I/O release the GIL, so writing chunk k overlaps with
    drawing chunk k + 1.  At most one chunk is in flight.  ``commit`` renames the
    finished file into place; ``abort`` removes it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".partial")
        self._raw: BinaryIO = open(self.tmp, "wb")  # noqa: SIM115 - closed in _close
        self._stream: BinaryIO = self._raw
        if path.name.endswith(".gz"):
            # mtime=0 and no embedded name keep the bytes a function of the arguments only
            self._stream = gzip.GzipFile(  # type: ignore[assignment]
                filename="", mode="wb", fileobj=self._raw, compresslevel=_GZIP_LEVEL, mtime=0
            )
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synth-writer")
        self._pending: Future[int] | None = None

    def write(self, lines: pa.Array) -> None:
        """Queue a chunk of rendered lines (waits for the previous chunk first)."""
        self._wait()
        self._pending = self._pool.submit(self._stream.write, _payload(lines))

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def _close(self) -> None:
        try:
            self._wait()
        finally:
            self._pool.shutdown(wait=True)
            try:
                if self._stream is not self._raw:
                    self._stream.close()
            finally:
                self._raw.close()

    def commit(self) -> None:
        """Flush everything and move the file to its final name."""
        self._close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Stop writing and delete the partial file."""
        try:
            self._close()
        finally:
            self.tmp.unlink(missing_ok=True)


def generate_reviews(
    out: str | Path,
    *,
    rows: int,
    seed: int = 0,
    n_items: int | None = None,
    start: str = "2019-01-07",
    weeks: int = 156,
    chunk_rows: int = 200_000,
    progress: bool = False,
) -> dict:
    """Write `rows` review records to `out`; return a summary dict
    {"rows": int, "items": int, "users": int, "surging_items": int, "path": str,
     "start": ISO date, "end": ISO date}.

    Args:
        out: output path; gzip-compressed when it ends with ``.gz``.  Parent
            directories are created.  The file is written next to its final
            name and renamed into place when complete.
        rows: number of review lines to write (>= 1).
        seed: non-negative seed; the same arguments give byte-identical files.
        n_items: number of parent items in the catalogue; defaults to
            ``max(50, rows // 200)`` capped at 200,000.  Items whose intensity
            never produces a review do not appear in the file.
        start: first day of the window (ISO date, UTC midnight).
        weeks: window length in weeks; timestamps lie in
            ``[start, start + 7 * weeks days)``.
        chunk_rows: rows built in memory and written at once.  It is rounded up
            to a whole number of 8,192-row blocks and capped at about one
            million; it does not change the output.
        progress: show a progress bar on stderr.

    Returns:
        ``rows`` written, ``items`` (distinct ``parent_asin`` written),
        ``users`` (distinct ``user_id`` written), ``surging_items`` (items
        written that were given a surge), ``path``, ``start`` and ``end``
        (the exclusive end date of the window, ISO format).

    Raises:
        ValueError: an argument is out of range or malformed; the message names it.
    """
    rows = _check_int("rows", rows, 1)
    seed = _check_int("seed", seed, 0)
    weeks = _check_int("weeks", weeks, 1)
    chunk_rows = _check_int("chunk_rows", chunk_rows, 1)
    n_items = _default_n_items(rows) if n_items is None else _check_int("n_items", n_items, 1)
    if n_items * weeks > _MAX_CELLS:
        raise ValueError(
            f"n_items * weeks must be <= {_MAX_CELLS:,} (memory), got {n_items} * {weeks}"
        )
    start_date = _check_start(start)
    try:
        end_date = start_date + dt.timedelta(weeks=weeks)
    except OverflowError:
        raise ValueError(f"weeks={weeks} runs past the year 9999 from start={start}") from None
    path = _check_out(out)

    world = _build_world(rows=rows, seed=seed, n_items=n_items, weeks=weeks, start=start_date)
    n_blocks = -(-rows // _BLOCK_ROWS)
    blocks_per_chunk = max(1, min(-(-chunk_rows // _BLOCK_ROWS), _MAX_CHUNK_ROWS // _BLOCK_ROWS))
    items_seen = np.zeros(n_items, dtype=bool)
    users_seen = np.zeros(world.n_engaged + world.n_casual, dtype=bool)

    path.parent.mkdir(parents=True, exist_ok=True)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=rows,
            unit="rows",
            unit_scale=True,
            file=sys.stderr,
            desc=path.name,
            dynamic_ncols=True,
        )
    try:
        sink = _Sink(path)
        try:
            for first in range(0, n_blocks, blocks_per_chunk):
                parts = []
                for k in range(first, min(n_blocks, first + blocks_per_chunk)):
                    n = min(_BLOCK_ROWS, rows - k * _BLOCK_ROWS)
                    parts.append(
                        _draw_block(world, np.random.default_rng([seed, _TAG_BLOCK, k]), n)
                    )
                block = _concat_blocks(parts)
                del parts
                items_seen[block.item] = True
                users_seen[block.user] = True
                sink.write(_format_lines(world, block))
                if bar is not None:
                    bar.update(block.item.size)
            sink.commit()
        except BaseException:
            sink.abort()
            raise
    finally:
        if bar is not None:
            bar.close()

    return {
        "rows": rows,
        "items": int(items_seen.sum()),
        "users": int(users_seen.sum()),
        "surging_items": int((items_seen & world.surging).sum()),
        "path": str(path),
        "start": start_date.isoformat(),
        "end": end_date.isoformat(),
    }
