"""The model contract, run over every registered model with its tiny test settings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from darkhorse.core.schema import SchemaError, forecast_columns
from training.models import NotFittedError, available, create, model_class
from training.models.base import RowwiseForecaster

from .retail_frames import weekly_retail

H = 6
QS = [0.1, 0.5, 0.9]


def _model(name: str):
    return create(name, **model_class(name).test_params())


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return weekly_retail(40)


@pytest.mark.parametrize("name", available())
def test_contract(name, frame, tmp_path):
    before = frame.copy()
    model = _model(name)
    with pytest.raises(NotFittedError):
        model.predict(h=H)
    assert model.fit(frame, horizon=H) is model
    pd.testing.assert_frame_equal(frame, before)  # input untouched

    out = model.predict(h=H, quantiles=QS)
    cols = forecast_columns(model.alias, QS)
    assert list(out.columns) == ["unique_id", "ds", *cols]
    n_series = frame["unique_id"].nunique()
    assert len(out) == n_series * H
    last = frame.groupby("unique_id")["ds"].max()
    first_ds = out.groupby("unique_id")["ds"].min()
    assert (first_ds == last + pd.Timedelta(weeks=1)).all()
    # the base class sorts quantiles and clips at 0 before anyone sees them; what the model
    # itself produced must already be finite with non-crossing quantiles (sorting is a safety
    # net, not a repair of a model that orders its levels wrongly)
    raw = model._predict(H, QS)
    vals = raw[cols].to_numpy(dtype="float64")
    assert np.isfinite(vals).all()
    assert (np.diff(vals[:, 1:], axis=1) >= -1e-9).all(), "the model's own quantiles cross"
    q = out[cols[1:]].to_numpy()
    assert (q[:, -1] > q[:, 0]).mean() > 0.5, "intervals are degenerate for most rows"

    # save / load round trip predicts the same
    model.save(tmp_path / name)
    loaded = type(model).load(tmp_path / name)
    pd.testing.assert_frame_equal(loaded.predict(h=H, quantiles=QS), out)

    # a few series (a what-if answer) are their rows of the whole forecast, in the fitted order
    ids = sorted(frame["unique_id"].unique())
    asked = [ids[-1], ids[0]]
    some = model.predict(h=H, quantiles=QS, ids=asked)
    pd.testing.assert_frame_equal(some.reset_index(drop=True),
                                  out[out["unique_id"].isin(asked)].reset_index(drop=True), check_exact=True)

    # a shorter horizon is the head of the longer one, and other quantile levels work
    short = model.predict(h=2, quantiles=[0.25, 0.75])
    assert list(short.columns)[-2:] == [f"{model.alias}-q25", f"{model.alias}-q75"]
    assert len(short) == n_series * 2


def test_alias_names_columns(frame):
    out = create("naive", alias="last_week").fit(frame).predict(h=2)
    assert "last_week-q90" in out.columns and "naive" not in out.columns


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.drop(columns="y"), "missing column"),
        (lambda d: pd.concat([d, d.head(1)]), "duplicate"),
        (lambda d: d.assign(y=d["y"].where(d.index != 3, np.nan)), "not finite"),
        (lambda d: d.drop(index=[5]), "not consecutive"),
        (lambda d: d.assign(ds="yesterday"), "not dates"),
    ],
)
def test_bad_input_names_the_problem(frame, mutate, message):
    with pytest.raises(SchemaError, match=message):
        create("statquant").fit(mutate(frame.copy()))


def test_bad_params_name_the_field():
    with pytest.raises(ValueError, match="window"):
        create("moving_average", window=0)
    with pytest.raises(ValueError, match="unknown_knob"):
        create("xgboost", unknown_knob=1)
    with pytest.raises(KeyError, match="unknown model"):
        create("prophet_of_doom")


@pytest.mark.parametrize("name", [n for n in available() if model_class(n).fixed_horizon])
def test_fixed_horizon_models_take_the_horizon_as_data(name, frame):
    cls = model_class(name)
    with pytest.raises(ValueError, match="fixed horizon"):
        cls(**cls.test_params()).fit(frame)
    if name in ("lstm", "tft", "autots"):  # minutes in total: the contract test above covers them
        return
    m = cls(**cls.test_params()).fit(frame, horizon=3)
    assert m.horizon_ == 3
    with pytest.raises(ValueError, match="horizons up to 3"):
        m.predict(h=4)


def test_horizon_free_models_accept_any_horizon(frame):
    m = create("naive").fit(frame)
    assert m.horizon_ is None and len(m.predict(h=30)) == frame["unique_id"].nunique() * 30


def test_seasonal_naive_repeats_last_season_and_falls_back():
    ds = pd.date_range("2020-01-06", periods=60, freq="7D")
    long = pd.DataFrame({"unique_id": "a", "ds": ds, "y": np.arange(60, dtype=float)})
    short = pd.DataFrame({"unique_id": "b", "ds": ds[-10:], "y": np.full(10, 7.0)})
    m = create("seasonal_naive").fit(pd.concat([long, short]))
    out = m.predict(h=3).set_index("unique_id")
    assert list(out.loc["a", "seasonal_naive"]) == [8.0, 9.0, 10.0]  # y one season (52 weeks) back
    assert list(out.loc["b", "seasonal_naive"]) == [7.0, 7.0, 7.0]  # shorter than a season: naive
    assert m.n_fallback_ == 1


def test_statquant_quantiles_are_empirical():
    rng = np.random.default_rng(1)
    ds = pd.date_range("2020-01-06", periods=200, freq="7D")
    y = rng.poisson(20, 200).astype(float)
    m = create("statquant", window=8, min_residuals=20).fit(pd.DataFrame({"unique_id": "a", "ds": ds, "y": y}))
    out = m.predict(h=1, quantiles=[0.1, 0.9])
    lo, hi = out["statquant-q10"].iloc[0], out["statquant-q90"].iloc[0]
    # Poisson(20): the 10-90% range is about 14.3 .. 25.7 (plus the level's own noise)
    assert 11 < lo < 18 and 22 < hi < 29


def _ragged_panel() -> pd.DataFrame:
    """Series of 120 weeks down to 2: the short ones have too few residuals of their own (their
    spread is pooled over the others) or too few weeks for a method (a fallback forecasts them)."""
    rng = np.random.default_rng(3)
    end = pd.Timestamp("2024-06-03")
    parts = []
    for i, n in enumerate((120, 104, 90, 75, 60, 30, 10, 5, 2)):
        ds = pd.date_range(end=end, periods=n, freq="7D")
        level = rng.uniform(3, 80)
        y = rng.poisson(level * (1 + 0.4 * np.sin(2 * np.pi * np.arange(n) / 52)))
        parts.append(pd.DataFrame({"unique_id": f"r{i}", "ds": ds, "y": y.astype(float)}))
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("name", [n for n in available() if issubclass(model_class(n), RowwiseForecaster)])
def test_a_few_series_of_a_rowwise_model_keep_the_statistics_pooled_over_every_series(name):
    model = _model(name).fit(_ragged_panel(), horizon=H)
    whole = model.predict(h=H, quantiles=QS)
    # a series with a pooled spread or a fallback, asked with one other: the same rows as in the
    # whole forecast (pooling over the asked series only would give the short one another spread)
    for asked in (["r8", "r0"], ["r7"], ["r6", "r5"]):
        some = model.predict(h=H, quantiles=QS, ids=asked)
        pd.testing.assert_frame_equal(some.reset_index(drop=True),
                                      whole[whole["unique_id"].isin(asked)].reset_index(drop=True), check_exact=True)


def test_seasonal_naive_with_a_moving_average_fallback_keeps_its_pooled_spread_for_a_few_series():
    model = create("seasonal_naive", fallback="moving_average").fit(_ragged_panel(), horizon=H)
    whole = model.predict(h=H, quantiles=QS)
    for asked in (["r8", "r0"], ["r6", "r5"]):  # a short series without residuals of its own; two with
        some = model.predict(h=H, quantiles=QS, ids=asked)
        pd.testing.assert_frame_equal(some.reset_index(drop=True),
                                      whole[whole["unique_id"].isin(asked)].reset_index(drop=True), check_exact=True)


def test_a_forecast_is_checked_against_the_rows_asked_for_and_returned_in_their_order():
    from darkhorse.core.schema import future_index, validate_forecast

    last = pd.Series(pd.to_datetime(["2024-01-01", "2024-01-08"]), index=pd.Index(["a", "b"], name="unique_id"))
    expected = future_index(last, 2)
    out = expected.assign(m=[1.0, 2.0, 3.0, 4.0], **{"m-q10": [0.5, 1.5, 2.5, 3.5], "m-q90": [2.0, 1.0, 4.0, 5.0]})
    same = validate_forecast(out, model="m", quantiles=[0.1, 0.9], expected=expected)
    assert same["m-q10"].tolist() == [0.5, 1.0, 2.5, 3.5] and same["m-q90"].tolist() == [2.0, 1.5, 4.0, 5.0]  # sorted
    shuffled = validate_forecast(out.iloc[[3, 1, 0, 2]], model="m", quantiles=[0.1, 0.9], expected=expected)
    pd.testing.assert_frame_equal(shuffled, same)  # the rows asked for, in their order
    with pytest.raises(SchemaError, match="returned 3 rows, expected 4"):
        validate_forecast(out.iloc[:3], model="m", quantiles=[0.1, 0.9], expected=expected)
    with pytest.raises(SchemaError, match="did not forecast every"):
        validate_forecast(out.assign(ds=out["ds"] + pd.Timedelta(weeks=1)), model="m", quantiles=[0.1, 0.9],
                          expected=expected)
    with pytest.raises(SchemaError, match="missing or infinite"):
        validate_forecast(out.assign(m=[1.0, np.nan, 3.0, 4.0]), model="m", quantiles=[0.1, 0.9], expected=expected)


def test_members_forecasts_side_by_side_without_a_join_equal_the_join():
    import functools

    from training.blend.model import _joined

    frame = weekly_retail(12)
    fcs = [_model(n).fit(frame, horizon=H).predict(h=H, quantiles=QS) for n in ("naive", "seasonal_naive", "theta")]
    joined = functools.reduce(lambda a, b: a.merge(b, on=["unique_id", "ds"], how="outer"), fcs)
    pd.testing.assert_frame_equal(_joined(fcs), joined, check_exact=True)
    # rows in another order: joined on the keys
    other = [fcs[0], fcs[1].iloc[::-1].reset_index(drop=True), fcs[2]]
    pd.testing.assert_frame_equal(_joined(other), joined, check_exact=True)


def test_row_quantiles_equal_numpy_s_to_the_last_bit():
    from training.models.base import row_nanquantile

    rng = np.random.default_rng(5)
    a = rng.normal(size=(400, 30)) * rng.uniform(0.1, 100, size=(400, 1))
    a[rng.random(a.shape) < 0.4] = np.nan  # every count of finite values from a few to 30
    a[:3] = np.nan  # rows with none
    a[3:6, :4] = 7.0
    qs = [0.01, 0.1, 0.25, 0.5, 0.77, 0.9, 0.99]
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        want = np.nanquantile(a, qs, axis=1).T
    assert np.array_equal(row_nanquantile(a, qs), want, equal_nan=True)
