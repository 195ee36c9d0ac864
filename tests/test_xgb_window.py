"""The global XGBoost learns from the origins of its last `train_weeks` + h weeks only: weeks
older than that window and every feature it reads (the lags, the 52-week means, last season's
weeks around the target and the season before it) reach neither its boosters nor its forecast,
and a longer window brings them in."""

from __future__ import annotations

import numpy as np

from training.models import create

from .test_xgb_calibration import _noisy

H = 4
XGB = {"n_estimators": 20, "max_depth": 3, "n_jobs": 1, "n_bags": 1, "max_train_rows": 3000}


def _forecast(df, **params) -> np.ndarray:
    return create("xgboost", **XGB, **params).fit(df, horizon=H).predict(h=H)["xgboost"].to_numpy()


def _changed(df, first: int, stop: int):
    """The same panel with every series' values in weeks first..stop - 1 (0-based) multiplied by 5."""
    out = df.copy()
    pos = out.groupby("unique_id").cumcount().to_numpy()
    inside = (pos >= first) & (pos < stop)
    out.loc[inside, "y"] = out.loc[inside, "y"] * 5
    return out


def test_weeks_before_the_training_window_reach_no_booster():
    df = _noisy(n=20, weeks=200)
    # origins from week 199 - 20 - 4 = 175 on; their features read 103 weeks back at most (the
    # season before last around the target week), so weeks 0-59 are outside everything read
    base = _forecast(df, train_weeks=20)
    np.testing.assert_array_equal(_forecast(_changed(df, 0, 60), train_weeks=20), base)
    # the same change inside what the window reads moves the forecast
    assert not np.allclose(_forecast(_changed(df, 150, 160), train_weeks=20), base)
    # and with a window reaching back to week 0 the old weeks are learned from
    long = _forecast(df, train_weeks=180)
    assert not np.allclose(_forecast(_changed(df, 0, 60), train_weeks=180), long)
