"""No backtest window sees past its origin: poison the future, the window's output is unchanged.

The history and labels are real (UCI Online Retail weekly). For a cutoff `c`, every value after
`c` (units, covariates) and every label that was not yet known at `c` is replaced by absurd
values; forecasts and hot-seller scores at `c` must be identical to the clean run, while the
windows after `c` (which may see those weeks) change, proving the poison was there to be seen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from darkhorse.core.config import load_config
from training.backtest import plan_cutoffs, run_backtest
from training.history import History

from .conftest import write_config
from .retail_frames import RETAIL, weekly_retail

H = 6


def _history(frame: pd.DataFrame) -> History:
    f = frame.copy()
    f["customers"] = (f["y"] / 3).round()  # a covariate, derived from the same week
    g = f.groupby("unique_id")["y"]
    past = g.transform(lambda v: v.rolling(4, min_periods=1).mean())
    future = g.transform(lambda v: v[::-1].rolling(H, min_periods=H).mean()[::-1].shift(-1))
    growth = future / np.maximum(past, 1.0)
    labels = pd.DataFrame({"unique_id": f["unique_id"], "ds": f["ds"], "growth_score": growth})
    labels = labels[labels["growth_score"].notna()].copy()
    cut = labels.groupby("ds")["growth_score"].transform(lambda s: s.quantile(0.9))
    labels["label"] = (labels["growth_score"] > cut).astype(float)
    labels["label_available_at"] = (labels["ds"] + pd.Timedelta(weeks=H + 1)).dt.tz_localize("UTC")
    return History(frame=f, labels=labels.reset_index(drop=True), covariates=["customers"], snapshot="t",
                   data_snapshot="t", first_week=f["ds"].min(), last_week=f["ds"].max())


def _poison(h: History, cutoff: pd.Timestamp) -> History:
    f = h.frame.copy()
    after = f["ds"] > cutoff
    f.loc[after, "y"] = 1e7
    f.loc[after, "customers"] = 1e6
    lab = h.labels.copy()
    unknown = lab["label_available_at"] > pd.Timestamp(cutoff + pd.Timedelta(weeks=1), tz="UTC")
    lab.loc[unknown, "label"] = 1.0 - lab.loc[unknown, "label"]
    lab.loc[unknown, "growth_score"] = 1e9
    return History(frame=f, labels=lab, covariates=h.covariates, snapshot="p", data_snapshot="p",
                   first_week=h.first_week, last_week=h.last_week)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("leak")
    cfg = write_config(tmp, [{"name": "r", "kind": "order_lines", "path": str(RETAIL)}], {"horizon_weeks": H})
    doc = yaml.safe_load((tmp / "darkhorse.yaml").read_text())
    doc["backtest"] = {"n_windows": 2, "step_weeks": 4, "warmup_windows": 1}
    doc["forecast"] = {"models": [
        {"model": "naive"}, {"model": "statquant"},
        {"model": "xgboost", "params": {"n_estimators": 15, "max_depth": 3, "max_train_rows": 4000}},
    ]}
    doc["hot_sellers"] = {"classifier": {"n_estimators": 15, "max_depth": 3}}
    (tmp / "darkhorse.yaml").write_text(yaml.safe_dump(doc))
    cfg = load_config(tmp / "darkhorse.yaml")
    clean_h = _history(weekly_retail(60))
    clean = run_backtest(cfg, history=clean_h, show_progress=False)
    return cfg, clean_h, clean


def _window(result, cutoff):
    fc = result.forecasts[result.forecasts["cutoff"] == cutoff].drop(columns="y").reset_index(drop=True)
    hs = result.hot_sellers[result.hot_sellers["cutoff"] == cutoff].drop(columns="label").reset_index(drop=True)
    return fc, hs


def test_poisoned_future_does_not_reach_any_window(setup):
    cfg, clean_h, clean = setup
    cutoffs = [c for c, _ in plan_cutoffs(clean_h, cfg, H)]
    first = cutoffs[0]
    poisoned = run_backtest(cfg, history=_poison(clean_h, first), show_progress=False)
    fc_clean, hs_clean = _window(clean, first)
    fc_poison, hs_poison = _window(poisoned, first)
    pd.testing.assert_frame_equal(fc_clean, fc_poison)
    pd.testing.assert_frame_equal(hs_clean, hs_poison)
    assert set(hs_clean["model"]) >= {"momentum", "forecast_growth", "classifier", "final"}
    # the later windows could see the poison, and do
    later = cutoffs[-1]
    fc_later_clean, _ = _window(clean, later)
    fc_later_poison, _ = _window(poisoned, later)
    assert fc_later_poison["naive"].max() >= 1e6 > fc_later_clean["naive"].max()


def test_every_training_frame_ends_at_its_cutoff(setup, monkeypatch):
    """A recording model: whatever any window fits on ends at that window's cutoff."""
    from training.models.baselines import Naive

    cfg, clean_h, clean = setup
    seen = []
    original = Naive._fit

    def recording(self, df):
        seen.append(df["ds"].max())
        return original(self, df)

    monkeypatch.setattr(Naive, "_fit", recording)
    cutoffs = [c for c, _ in plan_cutoffs(clean_h, cfg, H)]
    run_backtest(cfg, history=clean_h, show_progress=False, with_hot_sellers=False)
    assert seen == cutoffs
    assert set(clean.forecasts["cutoff"]) == set(cutoffs)
    # every forecast row is after its cutoff and within the horizon
    fc = clean.forecasts
    delta = (fc["ds"] - fc["cutoff"]).dt.days
    assert delta.between(7, 7 * H).all()


def test_contributions_are_recomputed_from_stored_forecasts(setup):
    """Every member's worth to the blend sits next to its seconds; leaving a member out is the
    blend of the others (same weights search), so its MASE is a real blend's, not a copy."""
    _, _, clean = setup
    m = clean.metrics
    contrib = m["contributions"]
    members = [x for x in clean.models if x != "blend"]
    assert set(contrib) == set(members)
    blend = m["models"]["blend"]["mase"]
    for name, c in contrib.items():
        assert np.isfinite(c["mase_without"]) and c["delta"] == pytest.approx(c["mase_without"] - blend)
        assert c["seconds"] == pytest.approx(m["timings_s"][name], abs=0.01)
    # leaving a member out changes the blend for at least one member
    assert any(abs(c["delta"]) > 1e-9 for c in contrib.values())
