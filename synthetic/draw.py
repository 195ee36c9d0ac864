"""Drawing review rows from the world, one fixed-size block (and RNG stream) at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from synthetic.words import (
    _CLOSER_CNT,
    _CLOSER_OFF,
    _MIDDLE_CNT,
    _MIDDLE_OFF,
    _OPENER_CNT,
    _OPENER_OFF,
    _TITLE_CNT,
    _TITLE_OFF,
)
from synthetic.world import (
    _BASE_RATING_SHARE,
    _BUZZ_WINDOW,
    _CIRCLE_SIZE,
    _MS_PER_DAY,
    _MS_PER_HOUR,
    _MS_PER_WEEK,
    _P_BUZZ,
    _P_CIRCLE,
    _P_HOME_CATEGORY,
    _P_SIBLING_CATEGORY,
    _USER_ACTIVITY_EXPONENT,
    _USER_ACTIVITY_OFFSET,
    _mix64,
    _World,
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
    # planted text signal (spread=True): -1, or the buzz phrase the review carries
    buzz: np.ndarray | None = None


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


def _draw_block(
    world: _World, rng: np.random.Generator, n: int, spread_rng: np.random.Generator | None = None
) -> _Block:
    """Draw ``n`` rows from the world with one generator (and, for a world with planted
    effects, their own generator ``spread_rng``, so the default rows stay the same)."""
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
    buzz = None
    if world.group is not None and spread_rng is not None:
        user, buzz = _planted(world, spread_rng, item, t, user, from_pool)

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
        buzz=buzz,
    )


def _planted(
    world: _World, rng: np.random.Generator, item: np.ndarray, t: np.ndarray, user: np.ndarray,
    from_pool: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The planted effects of a row: a group item's pool review is written by the group's
    circle of reviewers with probability `_P_CIRCLE` (so a leader and its followers are
    co-reviewed all their life), and a surging item's review near its onset carries a buzz
    phrase with probability `_P_BUZZ`. Returns the reviewers and the buzz index (-1: none)."""
    n = item.size
    assert world.group is not None
    group = world.group[item]
    circle = (group >= 0) & from_pool & (rng.random(n) < _P_CIRCLE)
    member = (rng.random(n) * _CIRCLE_SIZE).astype(np.int64)
    cat = world.item_cat[np.maximum(group, 0)]
    h = _mix64((np.maximum(group, 0) * _CIRCLE_SIZE + member).astype(np.uint64) ^ world.user_keys[0])
    local = (h % world.pool_size[cat].astype(np.uint64)).astype(np.int64)
    user = np.where(circle, world.pool_offset[cat] + local, user)
    t_onset = t - world.surges.onset[item]
    near = world.surging[item] & (t_onset > _BUZZ_WINDOW[0]) & (t_onset < _BUZZ_WINDOW[1])
    pick = rng.integers(0, 1 << 30, size=n)
    buzz = np.where(near & (rng.random(n) < _P_BUZZ), pick, -1)
    return user, buzz


def _concat_blocks(blocks: Sequence[_Block]) -> _Block:
    """Stack the columns of several blocks."""
    if len(blocks) == 1:
        return blocks[0]
    names = [f.name for f in fields(_Block)]
    return _Block(**{
        name: None if getattr(blocks[0], name) is None else np.concatenate([getattr(b, name) for b in blocks])
        for name in names
    })
