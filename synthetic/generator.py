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

With ``catalog``, the reviewed items' catalogue is written as well, in the shape of the
Amazon Reviews 2023 item metadata (``meta_<Category>.jsonl``; see ``catalog.py``), from its own
generator: the reviews are the same with or without it.

One module a stage: ``world.py`` (the world), ``draw.py`` (blocks of rows),
``words.py`` (the vocabulary of ``vocabulary.json``), ``lines.py`` (JSON Lines),
``catalog.py`` (the items' catalogue); this module checks the arguments and writes the files.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from darkhorse.core.errors import DarkHorseError
from synthetic.catalog import _write_catalog
from synthetic.draw import _concat_blocks, _draw_block
from synthetic.lines import _format_lines, _payload
from synthetic.world import (
    _BLOCK_ROWS,
    _GZIP_LEVEL,
    _MAX_CELLS,
    _MAX_CHUNK_ROWS,
    _TAG_BLOCK,
    _TAG_SPREAD_BLOCK,
    _build_world,
    _default_n_items,
)

__all__ = ["SynthError", "generate_reviews"]


class SynthError(DarkHorseError, ValueError):
    """An argument of `generate_reviews` is out of range or malformed; the message names it."""

# ---------------------------------------------------------------------------
# public entry point


def _check_int(name: str, value: object, minimum: int) -> int:
    """``value`` as an int, or ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise SynthError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise SynthError(f"{name} must be >= {minimum}, got {value!r}")
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
    raise SynthError(f"start must be an ISO date string (YYYY-MM-DD), got {start!r}")


def _check_out(out: object, name: str = "out") -> Path:
    """The output path, or ValueError (naming the argument ``name``) when ``out`` is not a usable
    file path."""
    if not isinstance(out, str | os.PathLike) or isinstance(out, bytes):
        raise SynthError(f"{name} must be a file path, got {out!r}")
    path = Path(out)
    if str(out) == "" or path.is_dir():
        raise SynthError(f"{name} must be a file path, not a directory or empty, got {str(out)!r}")
    return path


def _check_catalog(catalog: object, path: Path, spread: bool) -> Path:
    """The catalogue's path, or ValueError when it is unusable or one of the other outputs."""
    catalog_path = _check_out(catalog, "catalog")
    others = [path, _truth_path(path)] if spread else [path]
    if any(catalog_path.resolve() == other.resolve() for other in others):
        raise SynthError(f"catalog must be a file of its own, got {str(catalog)!r}")
    return catalog_path


class _Sink:
    """Writes rendered chunks to a temporary file from a background thread.

    Compression and file I/O release the GIL, so writing chunk k overlaps with
    drawing chunk k + 1.  At most one chunk is in flight.  ``commit`` renames the
    finished file into place; ``abort`` removes it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = _partial(path)
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
    spread: bool = False,
    catalog: str | Path | None = None,
) -> dict:
    """Write `rows` review records to `out`; return a summary dict
    {"rows": int, "items": int, "users": int, "surging_items": int, "path": str,
     "start": ISO date, "end": ISO date}, with "catalog" and "catalog_items" when `catalog` is given.

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
        spread: plant the effects a product graph and review text can show: every surge
            spreads a few weeks later to up to two items of its category, reviewed all along
            by the same circle of reviewers (so they are co-reviewed before the surge), and
            reviews around a surge's onset (from 5 weeks before) often carry a buzz phrase in
            their title and body. The ground truth is written beside the output as
            ``<name>.truth.parquet`` (per item: ``parent_asin, surging, onset_week, group``).
            Off by default: the default output is unchanged.
        catalog: also write the items' catalogue to this path (gzip-compressed when it ends with
            ``.gz``; parent directories are created): one Amazon Reviews 2023 item-metadata
            record per item written, in the world's item order (``main_category``, ``title``,
            ``average_rating``, ``rating_number``, ``features``, ``description``, ``price``,
            ``images``, ``videos``, ``store``, ``categories``, ``details``, ``parent_asin``,
            ``bought_together``; see ``synthetic/catalog.py``).  The same arguments give the
            same bytes, and the reviews are the same with or without a catalogue.

    Returns:
        ``rows`` written, ``items`` (distinct ``parent_asin`` written),
        ``users`` (distinct ``user_id`` written), ``surging_items`` (items
        written that were given a surge), ``path``, ``start`` and ``end``
        (the exclusive end date of the window, ISO format); with ``catalog``, also
        ``catalog`` (its path) and ``catalog_items`` (its lines, the same as ``items``).

    Raises:
        SynthError (a ValueError): an argument is out of range or malformed; the message names it.
    """
    rows = _check_int("rows", rows, 1)
    seed = _check_int("seed", seed, 0)
    weeks = _check_int("weeks", weeks, 1)
    chunk_rows = _check_int("chunk_rows", chunk_rows, 1)
    n_items = _default_n_items(rows) if n_items is None else _check_int("n_items", n_items, 1)
    if n_items * weeks > _MAX_CELLS:
        raise SynthError(
            f"n_items * weeks must be <= {_MAX_CELLS:,} (memory), got {n_items} * {weeks}"
        )
    start_date = _check_start(start)
    try:
        end_date = start_date + dt.timedelta(weeks=weeks)
    except OverflowError:
        raise SynthError(f"weeks={weeks} runs past the year 9999 from start={start}") from None
    path = _check_out(out)

    if not isinstance(spread, bool):
        raise SynthError(f"spread must be True or False, got {spread!r}")
    catalog_path = None if catalog is None else _check_catalog(catalog, path, spread)
    world = _build_world(rows=rows, seed=seed, n_items=n_items, weeks=weeks, start=start_date, spread=spread)
    n_blocks = -(-rows // _BLOCK_ROWS)
    blocks_per_chunk = max(1, min(-(-chunk_rows // _BLOCK_ROWS), _MAX_CHUNK_ROWS // _BLOCK_ROWS))
    items_seen = np.zeros(n_items, dtype=bool)
    users_seen = np.zeros(world.n_engaged + world.n_casual, dtype=bool)
    # per item: reviews written and the sum of their ratings (for the catalogue)
    reviews = np.zeros(n_items, dtype=np.int64)
    rating_sum = np.zeros(n_items, dtype=np.int64)

    path.parent.mkdir(parents=True, exist_ok=True)
    if catalog_path is not None:
        catalog_path.parent.mkdir(parents=True, exist_ok=True)
    catalog_items = 0
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
                    extra = np.random.default_rng([seed, _TAG_SPREAD_BLOCK, k]) if spread else None
                    parts.append(
                        _draw_block(world, np.random.default_rng([seed, _TAG_BLOCK, k]), n, extra)
                    )
                block = _concat_blocks(parts)
                del parts
                items_seen[block.item] = True
                users_seen[block.user] = True
                if catalog_path is not None:
                    reviews += np.bincount(block.item, minlength=n_items)
                    stars = np.bincount(block.item, weights=block.rating, minlength=n_items)
                    rating_sum += stars.astype(np.int64)
                sink.write(_format_lines(world, block))
                if bar is not None:
                    bar.update(block.item.size)
            if catalog_path is not None:
                catalog_items = _write_catalog(
                    _partial(catalog_path), world, seed=seed, start=start_date, reviews=reviews,
                    rating_sum=rating_sum, compress=catalog_path.name.endswith(".gz"),
                )
            sink.commit()
            if catalog_path is not None:
                os.replace(_partial(catalog_path), catalog_path)
        except BaseException:
            sink.abort()
            if catalog_path is not None:
                _partial(catalog_path).unlink(missing_ok=True)
            raise
    finally:
        if bar is not None:
            bar.close()

    summary = {
        "rows": rows,
        "items": int(items_seen.sum()),
        "users": int(users_seen.sum()),
        "surging_items": int((items_seen & world.surging).sum()),
        "path": str(path),
        "start": start_date.isoformat(),
        "end": end_date.isoformat(),
    }
    if spread:
        summary["truth"] = str(_write_truth(world, path, items_seen))
        summary["spread_items"] = int((items_seen & (world.group >= 0) & (world.group != np.arange(n_items))).sum())
    if catalog_path is not None:
        summary["catalog"] = str(catalog_path)
        summary["catalog_items"] = catalog_items
    return summary


def _partial(path: Path) -> Path:
    """Where output ``path`` is written before it is complete and renamed into place."""
    return path.with_name(path.name + ".partial")


def _truth_path(path: Path) -> Path:
    """Where the planted ground truth of output ``path`` is written (``spread=True``)."""
    return path.with_name(path.name.split(".")[0] + ".truth.parquet")


def _write_truth(world, path: Path, items_seen: np.ndarray) -> Path:
    """The planted ground truth beside the output: per item written, whether it surges, its
    onset week (from the window's start; null without a surge) and its group's leader."""
    import pyarrow.parquet as pq

    idx = np.flatnonzero(items_seen)
    group = world.group[idx]
    table = pa.table({
        "parent_asin": world.parent_table.take(pa.array(idx)),
        "surging": pa.array(world.surging[idx]),
        "onset_week": pa.array(np.where(world.surging[idx], world.surges.onset[idx], np.nan), from_pandas=True),
        "leader_asin": world.parent_table.take(pa.array(np.maximum(group, 0))).to_pylist(),
        "is_follower": pa.array((group >= 0) & (group != idx)),
    })
    table = table.set_column(3, "leader_asin", pa.array(
        [a if g >= 0 else None for a, g in zip(table.column("leader_asin").to_pylist(), group, strict=True)]))
    out = _truth_path(path)
    pq.write_table(table, out)
    return out
