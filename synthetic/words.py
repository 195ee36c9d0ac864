"""The words of the synthetic reviews: synthetic/vocabulary.json as Arrow string tables."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

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

# planted text signal (spread=True): reviews just before and at a surge's onset say so
_BUZZ_TITLES = pa.array([
    "Everyone is talking about this", "Saw it all over my feed", "Get it before it sells out",
    "The one everybody wants now", "Going viral for a reason",
])
_BUZZ_PHRASES = pa.array([
    " My friends keep asking where I got it.", " It is trending everywhere right now.",
    " Half my group chat ordered one this week.", " Stock keeps running out, grab it early.",
])
_check_vocabulary([*_BUZZ_TITLES.to_pylist(), *_BUZZ_PHRASES.to_pylist()])
