"""No backtest window sees past its origin: poison the future, the window's output is unchanged.

The panel is real: the weekly-sales example (40 SKUs) built by dbt into a temp data folder,
gated and published, and read back through Feast (`load_history`): the hot-seller labels are
dbt's (top 5% with eligibility, exact ceil count), the covariates Feast's point-in-time features.

For an evaluation origin `c` (the first of two, so a later evaluation window follows it), every
value after `c` (units and every covariate) and every label not yet known at `c` is replaced by
absurd values. At `c`, the forecasts of every member, the blend's calibrated intervals, the
blend weights and the hot-seller scores must be identical to the clean run; the window after it
(which may see those weeks) changes, proving the poison was there to be seen. The same holds
for the first (warm-up) origin.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from darkhorse.app.build import build
from darkhorse.core.config import load_config
from training.backtest import plan_cutoffs, run_backtest
from training.history import History, load_history

from .conftest import REPO, write_config

pytestmark = [pytest.mark.slow, pytest.mark.integration]

CSV = REPO / "examples" / "weekly_sales" / "weekly_sales.csv"
H = 6
N_SKUS = 40


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("leak")
    sales = pd.read_csv(CSV)
    keep = sorted(sales["sku"].unique())[:N_SKUS]
    sales[sales["sku"].isin(keep)].to_csv(tmp / "weekly_sales.csv", index=False)
    src = {"name": "weekly_sales", "kind": "sales", "path": str(tmp / "weekly_sales.csv"), "granularity": "weekly",
           "columns": {"item_id": "sku", "date": "week_ending", "quantity": "units_sold"}, "date_format": "%Y-%m-%d"}
    write_config(tmp, [src], {"horizon_weeks": H})
    doc = yaml.safe_load((tmp / "darkhorse.yaml").read_text())
    doc["backtest"] = {"n_windows": 2, "step_weeks": 4, "warmup_windows": 1, "min_train_weeks": 8, "blend_warmup_windows": 0}
    doc["forecast"] = {"models": [
        {"model": "naive"}, {"model": "statquant", "growth": False},
        {"model": "xgboost", "params": {"n_estimators": 15, "max_depth": 3, "max_train_rows": 4000, "device": "cpu"}},
    ]}
    doc["hot_sellers"] = {"classifier": {"n_estimators": 15, "max_depth": 3, "device": "cpu"}}
    (tmp / "darkhorse.yaml").write_text(yaml.safe_dump(doc))
    cfg = load_config(tmp / "darkhorse.yaml")
    build(cfg, features=True, progress=lambda *a, **k: None)
    clean_h = load_history(cfg)
    clean = run_backtest(cfg, history=clean_h, show_progress=False)
    yield cfg, clean_h, clean
    shutil.rmtree(tmp, ignore_errors=True)


def _poison(h: History, cutoff: pd.Timestamp) -> History:
    f = h.frame.copy()
    after = f["ds"] > cutoff
    f.loc[after, "y"] = 1e7
    for c in h.covariates:
        f.loc[after, c] = 1e6
    lab = h.labels.copy()
    closed = pd.Timestamp(cutoff + pd.Timedelta(weeks=1), tz="UTC")
    unknown = pd.to_datetime(lab["label_available_at"], utc=True) > closed
    lab.loc[unknown, "label"] = 1.0 - lab.loc[unknown, "label"]
    lab.loc[unknown, "growth_score"] = 1e9
    return History(frame=f, labels=lab, covariates=h.covariates, snapshot="p", data_snapshot="p",
                   first_week=h.first_week, last_week=h.last_week, known_future=h.known_future)


def _window(result, cutoff):
    fc = result.forecasts[result.forecasts["cutoff"] == cutoff].drop(columns="y").reset_index(drop=True)
    hs = result.hot_sellers[result.hot_sellers["cutoff"] == cutoff].drop(columns="label").reset_index(drop=True)
    bw = result.blend_weights[result.blend_weights["cutoff"] == cutoff].reset_index(drop=True)
    return fc, hs, bw


def test_the_panel_is_dbts(setup):
    cfg, clean_h, _ = setup
    # dbt's labels (0/1 with some hot sellers), Feast's covariates, the 40 SKUs
    lab = clean_h.labels
    assert set(lab["label"].unique()) <= {0.0, 1.0} and lab["label"].sum() > 0
    assert len(clean_h.covariates) > 0 and clean_h.frame["unique_id"].nunique() == N_SKUS
    roles = [r for _, r in plan_cutoffs(clean_h, cfg, H)]
    assert roles == ["warmup", "eval", "eval"]


@pytest.mark.parametrize("which", ["first_eval", "warmup"])
def test_poisoned_future_does_not_reach_the_window(setup, which):
    cfg, clean_h, clean = setup
    plan = plan_cutoffs(clean_h, cfg, H)
    cutoffs = [c for c, _ in plan]
    origin = cutoffs[1] if which == "first_eval" else cutoffs[0]
    assert dict(plan)[origin] == ("eval" if which == "first_eval" else "warmup")
    poisoned = run_backtest(cfg, history=_poison(clean_h, origin), show_progress=False)
    fc_clean, hs_clean, bw_clean = _window(clean, origin)
    fc_poison, hs_poison, bw_poison = _window(poisoned, origin)
    # every member, the blend and its calibrated quantiles, the growth blend (statquant left out)
    assert {"naive", "statquant", "xgboost", "blend", "blend-q10", "blend-q90", "growth_blend"} <= set(fc_clean.columns)
    pd.testing.assert_frame_equal(fc_clean, fc_poison)
    pd.testing.assert_frame_equal(bw_clean, bw_poison)
    pd.testing.assert_frame_equal(hs_clean, hs_poison)
    assert set(hs_clean["model"]) >= {"momentum", "forecast_growth", "classifier", "final"}
    # the window after it could see the poison, and does: forecasts, weights and intervals
    later = cutoffs[cutoffs.index(origin) + 1]
    fc_later_clean, _, bw_later_clean = _window(clean, later)
    fc_later_poison, _, bw_later_poison = _window(poisoned, later)
    assert fc_later_poison["naive"].max() >= 1e6 > fc_later_clean["naive"].max()
    width = lambda fc: (fc["blend-q90"] - fc["blend-q10"]).mean()  # noqa: E731
    assert width(fc_later_poison) > 10 * width(fc_later_clean)
    if which == "first_eval":  # the next evaluation window's weights learn from poisoned weeks
        assert not np.allclose(bw_later_clean["weight"].to_numpy(), bw_later_poison["weight"].to_numpy())


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
    # the blend against its best member: the paired difference on the same rows, with its error
    vs = m["blend_vs_best"]
    assert vs["best"] == min(members, key=lambda x: m["models"][x]["mase"])
    assert vs["diff"] == pytest.approx(blend - m["models"][vs["best"]]["mase"], abs=1e-9)
    assert vs["se"] > 0 and vs["n_series"] == m["n_series"]


def test_the_growth_score_reads_the_blend_of_the_growth_members(setup):
    """statquant is marked `growth: false`: the growth score reads the growth blend (naive and
    XGBoost only), which the forecasts keep beside the blend."""
    from training import hot_sellers as hs

    cfg, clean_h, clean = setup
    fc = clean.forecasts
    assert fc["growth_blend"].notna().all()
    assert not np.allclose(fc["growth_blend"], fc["blend"])
    for cutoff in sorted(clean.hot_sellers["cutoff"].unique()):
        window = fc[fc["cutoff"] == cutoff]
        want = hs.forecast_growth(clean_h.until(cutoff), window, "growth_blend",
                                  lookback=cfg.panel.lookback_weeks, floor=cfg.panel.growth_floor)
        got = clean.hot_sellers[(clean.hot_sellers["cutoff"] == cutoff) & (clean.hot_sellers["model"] == "forecast_growth")]
        got = got.set_index("unique_id")["score"].sort_index()
        np.testing.assert_allclose(got.to_numpy(), want.sort_index().to_numpy())
