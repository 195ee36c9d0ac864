"""darkhorse.serving.collector: a serving process's garbage collector, settled once it has loaded."""

from __future__ import annotations

import gc

import pytest

from darkhorse.serving import collector


@pytest.fixture
def restored_gc():
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def _collections_while_building(n_items: int) -> int:
    """Collections (any generation) while one 1,000-item-like answer is built and held."""
    seen = []

    def count(phase, info):
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(count)
    try:
        answer = [{"item": str(i), "quantity": float(i), "levels": [0.1 * i, 0.5 * i, 0.9 * i]} for i in range(n_items)]
        assert len(answer) == n_items
    finally:
        gc.callbacks.remove(count)
    return len(seen)


def test_settle_freezes_what_is_loaded_and_raises_the_thresholds(restored_gc):
    loaded = [{"model": i} for i in range(1000)]  # stands for what the service loaded
    collector.settle()
    assert gc.get_threshold() == (collector.YOUNG_THRESHOLD, *collector.OLDER_THRESHOLDS)
    assert gc.get_freeze_count() >= len(loaded)
    assert not any(o is loaded for o in gc.get_objects())  # frozen: no generation holds it


def test_an_answer_s_objects_are_not_swept_while_it_is_built(restored_gc):
    # ~8,000 tracked objects, as a 1,000-item allocation builds (dicts, lists of levels)
    gc.set_threshold(700, 10, 10)  # CPython's default
    assert _collections_while_building(4000) > 0
    collector.settle()
    assert _collections_while_building(4000) == 0
