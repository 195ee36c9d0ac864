"""Formatting drawn rows as Amazon Reviews 2023 JSON Lines (vectorised Arrow string kernels)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from synthetic.draw import _Block
from synthetic.words import (
    _BOOL_TABLE,
    _BUZZ_PHRASES,
    _BUZZ_TITLES,
    _CLOSER_TABLE,
    _IMAGE_PARTS,
    _IMAGE_SEP_TABLE,
    _MIDDLE_TABLE,
    _OPENER_TABLE,
    _RATING_TABLE,
    _TITLE_TABLE,
)
from synthetic.world import _B32, _base36_codes, _fixed_width_strings, _mix64, _World

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


def _titles_and_buzz(block: _Block) -> tuple[pa.Array, list[pa.Array]]:
    """Each row's title and what is appended to its body (the planted buzz; nothing without)."""
    titles = _TITLE_TABLE.take(block.title)
    if block.buzz is None:
        return titles, []
    has = pa.array(block.buzz >= 0)
    k = np.maximum(block.buzz, 0)
    titles = pc.if_else(has, _BUZZ_TITLES.take(k % len(_BUZZ_TITLES)), titles)
    extra = pc.if_else(has, _BUZZ_PHRASES.take(k // len(_BUZZ_TITLES) % len(_BUZZ_PHRASES)), "")
    return titles, [extra]


def _format_lines(world: _World, block: _Block) -> pa.Array:
    """Render a block as JSON lines (each string ends with a newline)."""
    titles, extra = _titles_and_buzz(block)
    return pc.binary_join_element_wise(
        '{"rating": ',
        _RATING_TABLE.take(block.rating - 1),
        ', "title": "',
        titles,
        '", "text": "',
        _OPENER_TABLE.take(block.opener),
        " ",
        _MIDDLE_TABLE.take(block.middle),
        _CLOSER_TABLE.take(block.closer),
        *extra,
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
