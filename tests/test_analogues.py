"""The analogues member: the futures of the most similar past windows of any series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.models import create

H = 6


def _frame(values: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = []
    for sid, y in values.items():
        ds = pd.date_range(end="2024-06-03", periods=len(y), freq="W-MON")
        rows.append(pd.DataFrame({"unique_id": sid, "ds": ds, "y": y}))
    return pd.concat(rows, ignore_index=True)


def test_a_repeating_motif_is_continued_from_other_series_past():
    """Series that repeat the same 10-week motif, each at its own phase: every series' last
    window has exact matches in the library, so the forecast is the motif's continuation."""
    motif = np.array([5, 9, 20, 14, 7, 3, 2, 6, 11, 8], dtype=float)
    n, weeks = 12, 80
    full = {f"s{i:02d}": np.tile(motif, 20)[i:i + weeks + H] for i in range(n)}
    train = _frame({k: v[:weeks] for k, v in full.items()})
    fc = create("analogues", window=10, k=5, level_weight=0.0).fit(train, horizon=H).predict(h=H)
    for sid, y in full.items():
        got = fc.loc[fc["unique_id"] == sid, "analogues"].to_numpy()
        np.testing.assert_allclose(got, y[weeks:], rtol=1e-9)


def test_quantiles_are_the_neighbours_spread_around_the_median():
    rng = np.random.default_rng(0)
    values = {f"s{i:02d}": rng.poisson(20 + 5 * np.sin(np.arange(70) / 3 + i), 70).astype(float) for i in range(40)}
    fc = create("analogues", window=8, k=30).fit(_frame(values), horizon=H).predict(h=H, quantiles=[0.1, 0.5, 0.9])
    lo, mid, hi = fc["analogues-q10"].to_numpy(), fc["analogues-q50"].to_numpy(), fc["analogues-q90"].to_numpy()
    np.testing.assert_allclose(fc["analogues"].to_numpy(), mid)  # the point is the median
    assert (lo <= mid).all() and (mid <= hi).all() and (hi - lo > 0).mean() > 0.95
    # on the level of the counts: a 90% band of a Poisson(20)-like series is a few units to a few tens wide
    assert 3 < np.median(hi - lo) < 40


def test_a_window_of_few_units_finds_windows_of_few_units():
    """The level enters the distance. The last 8 weeks of `q` (2 units a week) have exactly the
    relative shape of the large series' flat 8 weeks at 1,000, which are always followed by 3,000;
    ignoring the level, `q` is forecast to triple. With it, `q` is followed by what followed
    windows of a few units: the small series' noise around 2."""
    rng = np.random.default_rng(1)
    small = {f"small{i}": rng.poisson(2, 60).astype(float) for i in range(20)}
    block = np.concatenate([np.full(8, 1000.0), np.full(6, 3000.0)])
    large = {f"large{i}": np.tile(block, 5)[:60] for i in range(20)}
    q = {"q": np.concatenate([rng.poisson(2, 52).astype(float), np.full(8, 2.0)])}
    frame = _frame({**small, **large, **q})

    def q_forecast(**params):
        fc = create("analogues", window=8, k=10, **params).fit(frame, horizon=H).predict(h=H)
        return fc.loc[fc["unique_id"] == "q", "analogues"].to_numpy()

    np.testing.assert_allclose(q_forecast(level_weight=0.0), 3 * 3 - 1, rtol=0.01)  # expm1(log 3 + log1p 2)
    assert q_forecast().max() < 5


def test_before_any_window_has_a_known_future_the_recent_level_is_forecast():
    y = np.array([4.0, 6.0, 5.0, 7.0, 6.0])
    model = create("analogues", window=4).fit(_frame({"a": y, "b": y * 2}), horizon=H)
    fc = model.predict(h=H, quantiles=[0.1, 0.5, 0.9])
    np.testing.assert_allclose(fc.loc[fc["unique_id"] == "a", "analogues"], np.full(H, y[-4:].mean()))
    assert "fallback" in model.fit_info_
    assert (fc["analogues-q10"] < fc["analogues-q90"]).all()


@pytest.mark.parametrize("bad", [{"window": 1}, {"k": 0}, {"level_weight": -1.0}])
def test_bad_settings_name_the_setting(bad):
    from training.models.base import ModelError

    with pytest.raises(ModelError, match=next(iter(bad))):
        create("analogues", **bad)
