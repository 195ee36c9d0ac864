"""The global XGBoost averages `n_bags` boosters (each its own seed and row sample) in log space:
one bag is the single booster of before, and the average varies less from seed to seed."""

from __future__ import annotations

import numpy as np

from training.models import create

from .test_xgb_calibration import H, _noisy, _split

XGB = {"n_estimators": 40, "max_depth": 4, "n_jobs": 1, "max_train_rows": 3000}


def test_the_first_booster_of_a_bag_is_the_single_booster():
    train, _, _ = _split(_noisy(30))
    one = create("xgboost", n_bags=1, **XGB).fit(train, horizon=H)
    three = create("xgboost", n_bags=3, **XGB).fit(train, horizon=H)
    assert len(one.model_.boosters) == 1 and len(three.model_.boosters) == 3
    raw = [bytes(b.get_booster().save_raw()) for b in three.model_.boosters]
    assert raw[0] == bytes(one.model_.boosters[0].get_booster().save_raw())
    assert len(set(raw)) == 3  # each booster its own seed and sample
    # the forecast is the level times expm1 of the boosters' mean log prediction
    X, level = three.pred_design_[0]
    logs = np.mean([b.predict(X[three.feature_names_]) for b in three.model_.boosters], axis=0)
    fc = three.predict(h=H).sort_values(["unique_id", "ds"])
    first = fc.groupby("unique_id").head(1).set_index("unique_id")["xgboost"].reindex(three.pred_ids_)
    np.testing.assert_allclose(first.to_numpy(), level * np.expm1(logs), rtol=1e-5)
    assert three.feature_importance_.sum() > 0


def test_bagging_halves_the_seed_to_seed_spread():
    train, _, _ = _split(_noisy(30))
    spread = {}
    for n_bags in (1, 4):
        fc = [create("xgboost", n_bags=n_bags, seed=s, **XGB).fit(train, horizon=H).predict(h=H)["xgboost"].to_numpy()
              for s in (0, 1)]
        spread[n_bags] = np.mean(np.abs(fc[0] - fc[1])) / np.mean(np.abs(fc[0]))
    assert spread[1] > 0.01  # one booster's forecast moves with its seed
    assert spread[4] < 0.7 * spread[1], spread


def test_the_thread_count_changes_no_tree():
    """`n_jobs` (default 0: every core) is a speed setting only: one and two threads build the
    same boosters, byte for byte, for the squared-error and the absolute-error (median) member."""
    train, _, _ = _split(_noisy(30))
    for extra in ({}, {"objective": "absoluteerror"}):
        params = {**XGB, "n_bags": 2, **extra}
        one = create("xgboost", **{**params, "n_jobs": 1}).fit(train, horizon=H)
        two = create("xgboost", **{**params, "n_jobs": 2}).fit(train, horizon=H)
        raw = [[bytes(b.get_booster().save_raw()) for b in m.model_.boosters] for m in (one, two)]
        assert raw[0] == raw[1], extra
        np.testing.assert_array_equal(one.predict(h=H)["xgboost"].to_numpy(), two.predict(h=H)["xgboost"].to_numpy())
