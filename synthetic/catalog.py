"""The items' catalogue of the synthetic reviews, in the shape of the Amazon Reviews 2023 item
metadata (``meta_<Category>.jsonl``): one JSON object a line per item that was reviewed.

What comes from the world and the reviews: ``main_category`` (the item's category),
``parent_asin``, ``"Date First Available"`` in ``details`` (the start of the item's launch week,
or up to two weeks before it: never after its first review; up to two years before the window
for items that already existed), ``average_rating`` (the mean of the ratings written for the
item, to one decimal) and ``rating_number`` (their number).

What is drawn: a few brands (``store``) per category; per item a brand, a noun of its category
(vocabulary.json) that also names its sub-category (the second entry of ``categories``), and a
``title`` of brand, adjective and noun, sometimes followed by a colour or pack size; 0-3
``features`` and 0-2 ``description`` paragraphs from templates that mention the noun or the
brand; a ``price`` (null for about one item in six).  ``images`` and ``videos`` are empty and
``bought_together`` is null, as they mostly are in the real files.

The draws come from their own generator, ``np.random.default_rng([seed, _TAG_CATALOG])``, and
are made for every item of the world whether or not it was reviewed: what is drawn for an item
depends on the seed and the world's arguments only, and writing a catalogue leaves the reviews
unchanged.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import BinaryIO

import numpy as np

from synthetic.words import _CATEGORIES
from synthetic.world import _GZIP_LEVEL, _World

_TAG_CATALOG = 0x5EED_0005
"""The catalogue's stream (the world, blocks and planted effects use ``0x5EED_0001``-``0004``)."""

_BRANDS_PER_CATEGORY = (3, 5)
"""Fewest and most brands of one category (inclusive)."""
_BRAND_SKEW = 1.8
"""A brand's index is ``floor(n_brands * u ** _BRAND_SKEW)``: the first brand sells the most items."""
_P_PRICE = 0.83
"""Share of items with a price; the others have ``"price": null``."""
_PRICE_RANGE = (8.0, 80.0)
"""Range of a category's typical price (log-uniform); items vary around it (lognormal, sd 0.5)."""
_N_FEATURES_P = (0.1, 0.2, 0.35, 0.35)
"""Probabilities of 0, 1, 2 and 3 features."""
_N_DESCRIPTION_P = (0.15, 0.45, 0.4)
"""Probabilities of 0, 1 and 2 description paragraphs."""
_P_QUALIFIER = 0.45
"""Share of titles that end with a colour or pack size."""
_MAX_EARLY_DAYS = 14
"""The first-available date lies up to this many days before the item's launch week."""
_LINES_PER_WRITE = 8192

_BRAND_HEADS = (
    "Lu",
    "Ve",
    "Ka",
    "No",
    "Zen",
    "Tri",
    "Ori",
    "Bel",
    "Mar",
    "Qui",
    "Sol",
    "Dra",
    "Fen",
    "Pa",
    "Ro",
    "Ta",
    "Cor",
    "Ember",
    "Hal",
    "Ny",
)
_BRAND_TAILS = (
    "ra",
    "vo",
    "lix",
    "ton",
    "ly",
    "vex",
    "ia",
    "on",
    "co",
    "mo",
    "ris",
    "nova",
    "wick",
    "tek",
)
_ADJECTIVES = (
    "Compact",
    "Premium",
    "Classic",
    "Deluxe",
    "Portable",
    "Everyday",
    "Ultra",
    "Essential",
    "Pro",
    "Eco",
    "Mini",
    "Signature",
)
_QUALIFIERS = (
    "Black",
    "White",
    "Navy Blue",
    "Grey",
    "Sage Green",
    "Red",
    "2-Pack",
    "3-Pack",
    "Set of 4",
    "Large",
    "Small",
)
_FEATURES = (
    "Durable build for daily use",
    "Compact and lightweight",
    "Easy to clean",
    "Gift-ready packaging",
    "1-year limited warranty from {store}",
    "Made from recycled materials",
    "A {noun} that fits any space",
    "Available in several colours",
    "Ships in frustration-free packaging",
    "Designed and tested by {store}",
)
_DESCRIPTIONS = (
    "The {store} {noun} is made to last and simple to use.",
    "This {adjective} {noun} is made for home, travel and gifting.",
    "Every {noun} is checked by hand before it ships.",
    "Our best-selling {noun}, now in new colours.",
    "Pairs well with the rest of the {store} range.",
    "If your {noun} is not right, we will replace it.",
)
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _title_case(noun: str) -> str:
    """``"pair of socks"`` as ``"Pair of Socks"`` (short linking words stay lower case)."""
    return " ".join(w if w in {"of", "and", "for"} else w[:1].upper() + w[1:] for w in noun.split())


def _date_text(day: dt.date) -> str:
    """A date as the metadata writes it, ``"March 4, 2019"`` (independent of the locale)."""
    return f"{_MONTHS[day.month - 1]} {day.day}, {day.year}"


def _brands(rng: np.random.Generator) -> list[list[str]]:
    """A few distinct brand names per vocabulary category (every category, in vocabulary order)."""
    lo, hi = _BRANDS_PER_CATEGORY
    counts = rng.integers(lo, hi + 1, size=len(_CATEGORIES))
    taken: set[str] = set()
    brands: list[list[str]] = []
    for count in counts:
        names: list[str] = []
        while len(names) < count:
            head = _BRAND_HEADS[int(rng.integers(len(_BRAND_HEADS)))]
            tail = _BRAND_TAILS[int(rng.integers(len(_BRAND_TAILS)))]
            name = head + tail
            if name not in taken:
                taken.add(name)
                names.append(name)
        brands.append(names)
    return brands


def _distinct_picks(rng: np.random.Generator, n: int, choices: int, most: int) -> np.ndarray:
    """``most`` distinct indices in ``[0, choices)`` for each of ``n`` rows, in random order."""
    return np.argsort(rng.random((n, choices)), axis=1)[:, :most]


def _catalog_lines(
    world: _World, *, seed: int, start: dt.date, reviews: np.ndarray, rating_sum: np.ndarray
) -> Iterator[str]:
    """One JSON line (with its newline) per item with ``reviews > 0``, in item order."""
    rng = np.random.default_rng([seed, _TAG_CATALOG])
    n = world.launch.size
    brands = _brands(rng)
    brand_u = rng.random(n)
    noun_u = rng.random(n)
    adjective = rng.integers(len(_ADJECTIVES), size=n)
    qualifier = np.where(rng.random(n) < _P_QUALIFIER, rng.integers(len(_QUALIFIERS), size=n), -1)
    n_features = rng.choice(len(_N_FEATURES_P), size=n, p=_N_FEATURES_P)
    features = _distinct_picks(rng, n, len(_FEATURES), len(_N_FEATURES_P) - 1)
    n_description = rng.choice(len(_N_DESCRIPTION_P), size=n, p=_N_DESCRIPTION_P)
    descriptions = _distinct_picks(rng, n, len(_DESCRIPTIONS), len(_N_DESCRIPTION_P) - 1)
    typical_price = np.exp(rng.uniform(*np.log(_PRICE_RANGE), size=len(_CATEGORIES)))
    price = typical_price[world.item_vocab_cat] * rng.lognormal(0.0, 0.5, n)
    priced = rng.random(n) < _P_PRICE
    early_days = rng.integers(0, _MAX_EARLY_DAYS + 1, size=n)

    parents = world.parent_table.to_pylist()
    earliest = (dt.date.min - start).days
    for i in np.flatnonzero(reviews > 0).tolist():
        cat = int(world.item_vocab_cat[i])
        name, nouns, _, _ = _CATEGORIES[cat]
        noun = nouns[min(int(noun_u[i] * len(nouns)), len(nouns) - 1)]
        names = brands[cat]
        store = names[min(int(len(names) * brand_u[i] ** _BRAND_SKEW), len(names) - 1)]
        adj = _ADJECTIVES[adjective[i]]
        title = f"{store} {adj} {_title_case(noun)}"
        if qualifier[i] >= 0:
            title += f", {_QUALIFIERS[qualifier[i]]}"
        words = {"store": store, "noun": noun, "adjective": adj.lower()}
        days = max(earliest, 7 * math.floor(world.launch[i]) - int(early_days[i]))
        record = {
            "main_category": name,
            "title": title,
            "average_rating": round(int(rating_sum[i]) / int(reviews[i]), 1),
            "rating_number": int(reviews[i]),
            "features": [_FEATURES[k].format(**words) for k in features[i, : n_features[i]]],
            "description": [
                _DESCRIPTIONS[k].format(**words) for k in descriptions[i, : n_description[i]]
            ],
            "price": round(math.floor(price[i]) + 0.99, 2) if priced[i] else None,
            "images": [],
            "videos": [],
            "store": store,
            "categories": [name, _title_case(noun)],
            "details": {
                "Date First Available": _date_text(start + dt.timedelta(days=days)),
                "Brand": store,
            },
            "parent_asin": parents[i],
            "bought_together": None,
        }
        yield json.dumps(record) + "\n"


def _write_catalog(
    path: Path,
    world: _World,
    *,
    seed: int,
    start: dt.date,
    reviews: np.ndarray,
    rating_sum: np.ndarray,
    compress: bool,
) -> int:
    """Write the catalogue of the items with ``reviews > 0`` to ``path``, gzip-compressed (with
    no name or time in the header) when ``compress``; return the number of lines.

    ``reviews`` and ``rating_sum`` hold, per item of the world, the number of reviews written and
    the sum of their star ratings.
    """
    lines = _catalog_lines(world, seed=seed, start=start, reviews=reviews, rating_sum=rating_sum)
    written = 0
    with open(path, "wb") as raw:
        stream: BinaryIO = raw
        if compress:
            stream = gzip.GzipFile(  # type: ignore[assignment]
                filename="", mode="wb", fileobj=raw, compresslevel=_GZIP_LEVEL, mtime=0
            )
        try:
            while batch := list(islice(lines, _LINES_PER_WRITE)):
                stream.write("".join(batch).encode("utf-8"))
                written += len(batch)
        finally:
            if stream is not raw:
                stream.close()
    return written
