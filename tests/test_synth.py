"""Tests for the synthetic Amazon Reviews 2023 generator."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import tracemalloc
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synthetic.generator import generate_reviews

KEYS = {
    "rating",
    "title",
    "text",
    "images",
    "asin",
    "parent_asin",
    "user_id",
    "timestamp",
    "helpful_vote",
    "verified_purchase",
}
ASIN_RE = re.compile(r"^B0[0-9A-Z]{8}$")
USER_RE = re.compile(r"^[0-9A-Z]{28}$")
MS_PER_WEEK = 7 * 86_400_000


def _read(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _epoch_ms(day: str) -> int:
    return (dt.date.fromisoformat(day) - dt.date(1970, 1, 1)).days * 86_400_000


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A few thousand rows with default dynamics."""
    path = tmp_path_factory.mktemp("synth") / "small.jsonl"
    summary = generate_reviews(path, rows=5_000, seed=7)
    return path, summary


@pytest.fixture(scope="module")
def dense(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Many rows per item over two years, so per-item weekly series are readable."""
    path = tmp_path_factory.mktemp("synth") / "dense.jsonl"
    summary = generate_reviews(path, rows=100_000, seed=3, n_items=40, weeks=104)
    return _read(path), summary


def _weekly_counts(records: list[dict[str, Any]], start: str, weeks: int) -> dict[str, np.ndarray]:
    origin = _epoch_ms(start)
    counts: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(weeks, dtype=np.int64))
    for r in records:
        counts[r["parent_asin"]][(r["timestamp"] - origin) // MS_PER_WEEK] += 1
    return dict(counts)


# ---------------------------------------------------------------------------
# schema


def test_schema_and_types(small: tuple[Path, dict[str, Any]]) -> None:
    path, _ = small
    records = _read(path)
    assert len(records) == 5_000
    with_images = 0
    for r in records:
        assert set(r) == KEYS
        assert type(r["rating"]) is float and r["rating"] in {1.0, 2.0, 3.0, 4.0, 5.0}
        assert isinstance(r["title"], str) and r["title"]
        assert isinstance(r["text"], str) and r["text"]
        assert isinstance(r["images"], list) and len(r["images"]) <= 2
        for image in r["images"]:
            assert isinstance(image, dict)
            assert image["small_image_url"].startswith("https://example.invalid/img/")
            assert image["small_image_url"].endswith(".jpg")
        with_images += bool(r["images"])
        assert ASIN_RE.match(r["asin"]) and ASIN_RE.match(r["parent_asin"])
        assert USER_RE.match(r["user_id"])
        assert type(r["timestamp"]) is int
        assert type(r["helpful_vote"]) is int and r["helpful_vote"] >= 0
        assert type(r["verified_purchase"]) is bool
    assert 0 < with_images < 0.2 * len(records)


def test_lines_are_compact(small: tuple[Path, dict[str, Any]]) -> None:
    path, _ = small
    sizes = [len(line) for line in path.read_bytes().splitlines()]
    assert 150 <= np.mean(sizes) <= 350
    assert max(sizes) < 1_000


def test_variations_belong_to_one_parent(small: tuple[Path, dict[str, Any]]) -> None:
    path, _ = small
    parents_of: dict[str, set[str]] = defaultdict(set)
    children_of: dict[str, set[str]] = defaultdict(set)
    for r in _read(path):
        parents_of[r["asin"]].add(r["parent_asin"])
        children_of[r["parent_asin"]].add(r["asin"])
    assert all(len(p) == 1 for p in parents_of.values())
    assert all(1 <= len(c) <= 3 for c in children_of.values())
    assert any(len(c) > 1 for c in children_of.values())


def test_summary_matches_file(small: tuple[Path, dict[str, Any]]) -> None:
    path, summary = small
    records = _read(path)
    assert summary["rows"] == len(records)
    assert summary["items"] == len({r["parent_asin"] for r in records})
    assert summary["users"] == len({r["user_id"] for r in records})
    assert 0 <= summary["surging_items"] <= summary["items"]
    assert summary["path"] == str(path)
    assert summary["start"] == "2019-01-07"
    assert summary["end"] == (dt.date(2019, 1, 7) + dt.timedelta(weeks=156)).isoformat()
    assert not path.with_name(path.name + ".partial").exists()


def test_marginals_look_like_reviews(small: tuple[Path, dict[str, Any]]) -> None:
    path, _ = small
    records = _read(path)
    ratings = np.array([r["rating"] for r in records])
    helpful = np.array([r["helpful_vote"] for r in records])
    verified = np.array([r["verified_purchase"] for r in records])
    assert 3.8 <= ratings.mean() <= 4.6
    assert (ratings == 5.0).mean() > 0.4 and (ratings == 1.0).mean() > 0.02
    assert (helpful == 0).mean() > 0.5 and helpful.max() > 5
    assert 0.8 <= verified.mean() <= 0.95


# ---------------------------------------------------------------------------
# determinism, sizes, compression


@pytest.mark.parametrize("rows", [1, 8_191, 8_193, 20_000])
def test_row_count_exact(tmp_path: Path, rows: int) -> None:
    path = tmp_path / "r.jsonl"
    summary = generate_reviews(path, rows=rows, seed=1, n_items=30, chunk_rows=5_000)
    data = path.read_bytes()
    assert data.endswith(b"\n")
    assert data.count(b"\n") == rows == summary["rows"]


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    generate_reviews(a, rows=20_000, seed=11, n_items=60)
    generate_reviews(b, rows=20_000, seed=11, n_items=60)
    generate_reviews(c, rows=20_000, seed=12, n_items=60)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_chunk_size_does_not_change_output(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    generate_reviews(a, rows=30_000, seed=5, n_items=60, chunk_rows=1)
    generate_reviews(b, rows=30_000, seed=5, n_items=60, chunk_rows=1_000_000)
    assert a.read_bytes() == b.read_bytes()


def test_gzip_output(tmp_path: Path) -> None:
    plain, packed, again = tmp_path / "r.jsonl", tmp_path / "r.jsonl.gz", tmp_path / "s.jsonl.gz"
    generate_reviews(plain, rows=10_000, seed=2, n_items=40)
    summary = generate_reviews(packed, rows=10_000, seed=2, n_items=40)
    generate_reviews(again, rows=10_000, seed=2, n_items=40)
    assert packed.read_bytes()[:2] == b"\x1f\x8b"
    assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()
    assert packed.read_bytes() == again.read_bytes()  # no name or time in the header
    assert len(_read(packed)) == summary["rows"] == 10_000


def test_parent_directories_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "r.jsonl"
    generate_reviews(path, rows=10, seed=0)
    assert path.read_bytes().count(b"\n") == 10


# ---------------------------------------------------------------------------
# time window


@pytest.mark.parametrize(
    ("start", "weeks"), [("2019-01-07", 156), ("2021-03-03", 3), ("2020-02-29", 1)]
)
def test_timestamps_within_window(tmp_path: Path, start: str, weeks: int) -> None:
    path = tmp_path / "t.jsonl"
    summary = generate_reviews(path, rows=20_000, seed=4, start=start, weeks=weeks)
    stamps = np.array([r["timestamp"] for r in _read(path)])
    lo = _epoch_ms(start)
    hi = lo + weeks * MS_PER_WEEK
    assert stamps.min() >= lo and stamps.max() < hi
    assert stamps.min() > 10**12  # milliseconds, not seconds
    assert (stamps % 1000 != 0).mean() > 0.9
    assert summary["end"] == (dt.date.fromisoformat(start) + dt.timedelta(weeks=weeks)).isoformat()
    # the whole window is used
    assert np.unique((stamps - lo) // MS_PER_WEEK).size == weeks


# ---------------------------------------------------------------------------
# dynamics


def test_a_surge_exists(dense: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    records, summary = dense
    assert summary["surging_items"] >= 1
    counts = _weekly_counts(records, "2019-01-07", 104)
    before, after = 8, 4

    def surges(series: np.ndarray) -> bool:
        first = int(np.flatnonzero(series)[0])
        for t in range(first + 8 + before, series.size - after + 1):  # skip the launch ramp
            prior = series[t - before : t].mean()
            later = series[t : t + after]
            if later.sum() >= 60 and later.mean() >= 4.0 * max(prior, 3.0):
                return True
        return False

    surging = [asin for asin, series in counts.items() if surges(series)]
    assert surging, "no item's weekly rate rose several-fold"
    assert len(surging) <= max(3, len(counts) // 5), "surges should be a minority"


def test_items_launch_at_different_times(
    dense: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    records, _ = dense
    counts = _weekly_counts(records, "2019-01-07", 104)
    first_week = [int(np.flatnonzero(series)[0]) for series in counts.values()]
    assert min(first_week) == 0
    assert sum(w > 8 for w in first_week) >= 5


def test_popularity_is_heavy_tailed(dense: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    records, _ = dense
    per_item = np.sort(np.array(list(Counter(r["parent_asin"] for r in records).values())))[::-1]
    assert per_item[0] > 5 * np.median(per_item)


def test_holiday_season_peaks(dense: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    records, _ = dense
    months = np.array(
        [dt.datetime.fromtimestamp(r["timestamp"] / 1000, tz=dt.UTC).month for r in records]
    )
    per_month = np.bincount(months, minlength=13)[1:] / 2.0  # two years of data
    holiday = per_month[[10, 11]].mean()  # November, December
    rest = per_month[1:9].mean()  # February .. September
    assert holiday > 1.3 * rest


def test_users_review_several_items(tmp_path: Path) -> None:
    path = tmp_path / "u.jsonl"
    summary = generate_reviews(path, rows=50_000, seed=3)
    records = _read(path)
    items_of: dict[str, set[str]] = defaultdict(set)
    for r in records:
        items_of[r["user_id"]].add(r["parent_asin"])
    breadth = np.array([len(items) for items in items_of.values()])
    assert len(items_of) == summary["users"]
    assert len(items_of) < len(records) / 1.5  # a pool much smaller than the rows
    assert (breadth >= 2).mean() > 0.4  # a co-review graph exists
    assert (breadth == 1).mean() > 0.2  # ... next to many one-off reviewers
    assert breadth.max() >= 15  # heavy-tailed activity
    repeats = Counter((r["user_id"], r["parent_asin"]) for r in records)
    assert sum(c - 1 for c in repeats.values()) < 0.05 * len(records)


def test_surging_items_rate_higher(tmp_path: Path) -> None:
    # white-box: the generator's own catalogue says which items were given a surge
    from synthetic import generator as synth

    rows, seed, n_items, weeks = 50_000, 9, 300, 104
    path = tmp_path / "q.jsonl"
    summary = generate_reviews(path, rows=rows, seed=seed, n_items=n_items, weeks=weeks)
    world = synth._build_world(
        rows=rows, seed=seed, n_items=n_items, weeks=weeks, start=dt.date(2019, 1, 7)
    )
    surging = set(np.array(world.parent_table.to_pylist())[world.surging])
    records = _read(path)
    hot = [r for r in records if r["parent_asin"] in surging]
    cold = [r for r in records if r["parent_asin"] not in surging]
    assert summary["surging_items"] == len({r["parent_asin"] for r in hot}) > 0
    assert 0.04 * n_items <= len(surging) <= 0.1 * n_items
    assert np.mean([r["rating"] for r in hot]) > np.mean([r["rating"] for r in cold]) + 0.1
    assert np.mean([r["helpful_vote"] for r in hot]) > 1.2 * np.mean(
        [r["helpful_vote"] for r in cold]
    )


# ---------------------------------------------------------------------------
# resources and arguments


def test_memory_does_not_scale_with_rows(tmp_path: Path) -> None:
    def peak(rows: int) -> int:
        tracemalloc.start()
        try:
            generate_reviews(
                tmp_path / f"m{rows}.jsonl", rows=rows, seed=0, n_items=200, chunk_rows=8_192
            )
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small_peak, large_peak = peak(40_000), peak(320_000)
    output_bytes = (tmp_path / "m320000.jsonl").stat().st_size
    assert large_peak < output_bytes / 8
    assert large_peak < 1.5 * small_peak + 4_000_000


def test_progress_bar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generate_reviews(tmp_path / "p.jsonl", rows=1_000, seed=0, progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "1.00k/1.00k" in captured.err or "100%" in captured.err


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"rows": 0}, "rows"),
        ({"rows": -5}, "rows"),
        ({"rows": 2.5}, "rows"),
        ({"rows": True}, "rows"),
        ({"rows": 10, "seed": -1}, "seed"),
        ({"rows": 10, "weeks": 0}, "weeks"),
        ({"rows": 10, "chunk_rows": 0}, "chunk_rows"),
        ({"rows": 10, "n_items": 0}, "n_items"),
        ({"rows": 10, "start": "2019-02-30"}, "start"),
        ({"rows": 10, "start": "yesterday"}, "start"),
        ({"rows": 10, "start": "9999-12-20", "weeks": 5}, "weeks"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, Any], name: str) -> None:
    path = tmp_path / "bad.jsonl"
    with pytest.raises(ValueError, match=name):
        generate_reviews(path, **kwargs)
    assert not path.exists()


def test_bad_output_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="out"):
        generate_reviews(tmp_path, rows=10)
    with pytest.raises(ValueError, match="out"):
        generate_reviews("", rows=10)


# ---------------------------------------------------------------------------
# the items' catalogue (Amazon Reviews 2023 item metadata)

META_KEYS = {
    "main_category",
    "title",
    "average_rating",
    "rating_number",
    "features",
    "description",
    "price",
    "images",
    "videos",
    "store",
    "categories",
    "details",
    "parent_asin",
    "bought_together",
}
CATALOG_ARGS: dict[str, Any] = {"rows": 6_000, "seed": 21, "n_items": 80, "weeks": 52}


@pytest.fixture(scope="module")
def catalogued(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Reviews with their catalogue: (reviews, catalogue records, summary)."""
    folder = tmp_path_factory.mktemp("synth")
    summary = generate_reviews(
        folder / "reviews.jsonl", catalog=folder / "meta" / "items.jsonl.gz", **CATALOG_ARGS
    )
    return _read(folder / "reviews.jsonl"), _read(folder / "meta" / "items.jsonl.gz"), summary


def test_catalog_lists_each_reviewed_item_once(
    catalogued: tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]],
) -> None:
    reviews, items, summary = catalogued
    asins = [item["parent_asin"] for item in items]
    assert len(asins) == len(set(asins)) == summary["items"] == summary["catalog_items"]
    assert set(asins) == {r["parent_asin"] for r in reviews}
    assert summary["catalog"].endswith("items.jsonl.gz")


def test_catalog_schema_and_types(
    catalogued: tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]],
) -> None:
    _, items, _ = catalogued
    for item in items:
        assert set(item) == META_KEYS
        assert isinstance(item["main_category"], str) and item["main_category"]
        assert isinstance(item["title"], str) and item["store"] in item["title"]
        assert type(item["average_rating"]) is float and 1.0 <= item["average_rating"] <= 5.0
        assert type(item["rating_number"]) is int and item["rating_number"] >= 1
        assert len(item["features"]) <= 3 and len(item["description"]) <= 2
        assert all(isinstance(s, str) and s for s in item["features"] + item["description"])
        assert item["price"] is None or (type(item["price"]) is float and item["price"] > 0)
        assert item["images"] == [] and item["videos"] == [] and item["bought_together"] is None
        assert isinstance(item["store"], str) and item["store"]
        assert len(item["categories"]) == 2 and item["categories"][0] == item["main_category"]
        assert isinstance(item["details"], dict) and "Date First Available" in item["details"]
        assert ASIN_RE.match(item["parent_asin"])
    # the optional parts vary across items
    assert any(item["price"] is None for item in items)
    assert any(item["features"] for item in items) and any(not item["features"] for item in items)
    assert any(item["description"] for item in items)


def test_catalog_agrees_with_reviews(
    catalogued: tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]],
) -> None:
    reviews, items, _ = catalogued
    ratings: dict[str, list[float]] = defaultdict(list)
    first: dict[str, int] = {}
    for r in reviews:
        ratings[r["parent_asin"]].append(r["rating"])
        first[r["parent_asin"]] = min(first.get(r["parent_asin"], r["timestamp"]), r["timestamp"])
    for item in items:
        mine = ratings[item["parent_asin"]]
        assert item["rating_number"] == len(mine)
        assert item["average_rating"] == round(sum(mine) / len(mine), 1)
        available = dt.datetime.strptime(item["details"]["Date First Available"], "%B %d, %Y")
        reviewed = dt.datetime.fromtimestamp(first[item["parent_asin"]] / 1000, tz=dt.UTC)
        assert available.date() <= reviewed.date()


def test_catalog_categories_match_the_world(
    catalogued: tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]],
) -> None:
    # white-box: the world says which category each item belongs to, and the item order
    from synthetic import generator as synth
    from synthetic.words import _CATEGORIES

    _, items, _ = catalogued
    world = synth._build_world(**CATALOG_ARGS, start=dt.date(2019, 1, 7))
    parents = world.parent_table.to_pylist()
    category = {p: _CATEGORIES[c][0] for p, c in zip(parents, world.item_vocab_cat, strict=True)}
    assert all(item["main_category"] == category[item["parent_asin"]] for item in items)
    position = {p: i for i, p in enumerate(parents)}
    order = [position[item["parent_asin"]] for item in items]
    assert order == sorted(order)  # the world's item order
    # a few brands per category, each selling in one category only
    brands: dict[str, set[str]] = defaultdict(set)
    for item in items:
        brands[item["main_category"]].add(item["store"])
    assert len(brands) >= 3 and all(1 <= len(b) <= 5 for b in brands.values())
    assert sum(len(b) for b in brands.values()) == len(set().union(*brands.values()))


@pytest.mark.parametrize("spread", [False, True])
def test_catalog_is_deterministic_and_leaves_reviews_unchanged(
    tmp_path: Path, spread: bool
) -> None:
    args = {**CATALOG_ARGS, "rows": 3_000, "spread": spread}
    generate_reviews(tmp_path / "plain.jsonl", **args)
    generate_reviews(tmp_path / "a.jsonl", catalog=tmp_path / "a.meta.jsonl", **args)
    generate_reviews(tmp_path / "b.jsonl", catalog=tmp_path / "b.meta.jsonl", **args)
    generate_reviews(tmp_path / "c.jsonl", catalog=tmp_path / "c.meta.jsonl.gz", **args)
    generate_reviews(
        tmp_path / "d.jsonl", catalog=tmp_path / "d.meta.jsonl", **{**args, "seed": 22}
    )
    reviews = (tmp_path / "plain.jsonl").read_bytes()
    assert (tmp_path / "a.jsonl").read_bytes() == reviews
    assert (tmp_path / "c.jsonl").read_bytes() == reviews
    catalogue = (tmp_path / "a.meta.jsonl").read_bytes()
    assert (tmp_path / "b.meta.jsonl").read_bytes() == catalogue
    assert gzip.decompress((tmp_path / "c.meta.jsonl.gz").read_bytes()) == catalogue
    assert (tmp_path / "d.meta.jsonl").read_bytes() != catalogue
    assert not list(tmp_path.glob("*.partial"))


def test_catalog_bad_path(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    with pytest.raises(ValueError, match="catalog"):
        generate_reviews(out, rows=10, catalog=tmp_path)
    with pytest.raises(ValueError, match="catalog"):
        generate_reviews(out, rows=10, catalog=out)
    with pytest.raises(ValueError, match="catalog"):
        generate_reviews(out, rows=10, spread=True, catalog=tmp_path / "r.truth.parquet")
    assert not out.exists()


def test_cli_writes_the_catalogue(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from darkhorse.app.cli import app

    out, meta = tmp_path / "r.jsonl", tmp_path / "meta_Synthetic.jsonl"
    result = CliRunner().invoke(
        app, ["data", "synth", "--out", str(out), "--rows", "500", "--catalog", str(meta)]
    )
    assert result.exit_code == 0, result.output
    assert "catalogue of" in result.output
    assert {r["parent_asin"] for r in _read(out)} == {item["parent_asin"] for item in _read(meta)}
