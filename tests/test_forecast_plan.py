"""What-if plans at serving time: a forecast request may carry known-future values (a promotion,
a price) for some items and weeks; the release's members that read covariates forecast again
with them, everything else stays as released."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from darkhorse.core.schema import DS, ID, SchemaError, Y
from darkhorse.serving import api
from darkhorse.serving.allocation import grid_levels
from darkhorse.serving.engine import Engine, NoFreshness, RequestError
from darkhorse.serving.regions import RegionForecasts
from training import hierarchy
from training.blend.model import Blend
from training.models import create
from training.models.base import Forecaster

from .test_covariates import XGB, _panel, _split

H = 4
LEVELS = np.array([0.1, 0.5, 0.9])


def _inputs(train: pd.DataFrame, future: pd.DataFrame, with_covariates: bool):
    """The history and plan a fit reads: the promotion known ahead, or not at all."""
    return {"df": train, "future": future} if with_covariates else {"df": train.drop(columns="promo")}


def _release(with_covariates: bool = True, origins: int = 2, **blend_params) -> Engine:
    """An XGBoost fitted with the promotion plan and a naive member, blended on `origins` earlier
    origins four weeks apart (`blend_params`: the blend's settings), served from a forecast table
    as a release would be."""
    full = _panel(n_series=12)
    last = full[DS].max() - pd.Timedelta(weeks=10)
    members = {"xgboost": lambda: create("xgboost", **XGB), "naive": lambda: create("naive")}
    valid = []
    for cutoff in (last - pd.Timedelta(weeks=4 * k) for k in range(origins, 0, -1)):
        train, future, actual = _split(full, cutoff, H)
        fc = actual[[ID, DS, Y]].assign(cutoff=cutoff)
        for make in members.values():
            got = make().fit(**_inputs(train, future, with_covariates), horizon=H).predict(h=H, quantiles=list(LEVELS))
            fc = fc.merge(got, on=[ID, DS])
        valid.append(fc)
    train, future, _ = _split(full, last, H)
    fitted = {name: make().fit(**_inputs(train, future, with_covariates), horizon=H) for name, make in members.items()}
    blend = Blend.from_members(fitted, pd.concat(valid, ignore_index=True), **blend_params)
    forecast = blend.predict(h=H, quantiles=list(LEVELS))
    release = api.Release(release="t", forecaster="f:1", hot_seller_model="h:1", trained_through=last.date())
    engine = Engine.from_forecast(forecast, blend.alias, LEVELS, pd.DataFrame(), release, NoFreshness("test"),
                                  last.date())
    engine.model = blend
    return engine


@pytest.fixture(scope="module")
def engine() -> Engine:
    return _release()


def _ask(engine: Engine, plan: list[dict], items=("s00", "s01")) -> api.ForecastResponse:
    req = api.ForecastRequest(items=list(items), quantiles=[0.1, 0.5, 0.9], plan=plan)
    return engine.forecast(req)


def _points(resp: api.ForecastResponse) -> dict[str, list[float]]:
    return {f.item: [w.point for w in f.weeks] for f in resp.forecasts}


def test_a_planned_promotion_raises_that_week_only(engine):
    before = _ask(engine, [])
    base = engine.model.future_.query("unique_id == 's00'").sort_values(DS)
    week2 = base[DS].iloc[1].date()
    value = 1.0 - float(base["promo"].iloc[1])  # the other choice than the release's plan
    after = _ask(engine, [{"item": "s00", "week": week2 + timedelta(days=4), "values": {"promo": value}}])
    assert after.planned == 1 and before.planned == 0
    b, a = _points(before), _points(after)
    # the promotion triples the data's units: its week moves the way the plan says
    assert (a["s00"][1] > 1.3 * b["s00"][1]) if value == 1.0 else (a["s00"][1] < 0.8 * b["s00"][1])
    assert a["s00"][:1] + a["s00"][2:] == pytest.approx(b["s00"][:1] + b["s00"][2:], rel=1e-9)
    assert a["s01"] == pytest.approx(b["s01"], rel=1e-9)
    q = {f.item: f.weeks[1].quantiles for f in after.forecasts}["s00"]
    assert q["q10"] <= q["q50"] <= q["q90"]


def test_the_release_says_which_covariates_a_plan_may_set(engine):
    assert engine.health().known_future == ["promo"]
    assert _release(with_covariates=False).health().known_future == []


def test_the_release_own_plan_gives_the_release_forecast(engine):
    base = engine.model.future_.query("unique_id == 's01'").sort_values(DS)
    plan = [{"item": "s01", "week": d.date(), "values": {"promo": float(p)}} for d, p in zip(base[DS], base["promo"], strict=True)]
    assert _points(_ask(engine, plan)) == _points(_ask(engine, []))


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ({"item": "nope", "values": {"promo": 1.0}}, "plan[0].item", "1 unknown item"),
        ({"item": "s00", "week": date(2001, 1, 1), "values": {"promo": 1.0}}, "plan[0].week", "not in a forecast week"),
        ({"item": "s00", "values": {"price": 1.0}}, "plan[0].values", r"unknown covariate\(s\) \['price'\]; this release reads \['promo'\]"),
    ],
)
def test_a_plan_the_release_cannot_read_is_refused_naming_the_field(engine, row, field, message):
    row = {"week": pd.Timestamp(engine.weeks[0]).date(), **row}
    with pytest.raises(RequestError, match=message) as got:
        _ask(engine, [row])
    assert got.value.field == field


def test_a_release_without_covariates_refuses_a_plan():
    plain = _release(with_covariates=False)
    with pytest.raises(RequestError, match="reads no known-future covariates") as got:
        _ask(plain, [{"item": "s00", "week": pd.Timestamp(plain.weeks[0]).date(), "values": {"promo": 1.0}}])
    assert got.value.field == "plan"


def test_hot_sellers_under_a_plan_need_the_state_the_release_keeps_for_it(engine):
    week = pd.Timestamp(engine.weeks[0]).date()
    req = api.HotSellersRequest(k=5, plan=[{"item": "s00", "week": week, "values": {"promo": 1.0}}])
    with pytest.raises(RequestError, match="train and release again") as got:
        engine.hot_sellers(req)
    assert got.value.field == "plan"


def test_an_allocation_under_a_plan_follows_the_planned_demand(engine):
    base = engine.model.future_.query("unique_id == 's00'").sort_values(DS)
    value = 1.0 - float(base["promo"].iloc[1])
    row = {"item": "s00", "week": base[DS].iloc[1].date(), "values": {"promo": value}}
    ask = {"mode": "newsvendor", "capacity": 1e6, "weeks": 2,
           "items": [{"id": "s00", "underage_cost": 3.0}, {"id": "s01", "underage_cost": 3.0}]}
    before = engine.allocate(api.AllocateRequest(**ask))
    after = engine.allocate(api.AllocateRequest(**ask, plan=[row]))
    assert after.planned == 1 and before.planned == 0
    qb, qa = ({a.item: a.quantity for a in r.allocations} for r in (before, after))
    # two weeks' demand of s00 moves the way the plan moves its second week; s01's does not move
    assert (qa["s00"] > qb["s00"]) if value == 1.0 else (qa["s00"] < qb["s00"])
    assert qa["s01"] == pytest.approx(qb["s01"], rel=1e-9)
    # the release's own plan allocates as the release does
    own = {"item": "s00", "week": base[DS].iloc[1].date(), "values": {"promo": float(base["promo"].iloc[1])}}
    same = engine.allocate(api.AllocateRequest(**ask, plan=[own]))
    assert [a.quantity for a in same.allocations] == pytest.approx([a.quantity for a in before.allocations], rel=1e-9)


def _with_regions(engine: Engine, tmp_path) -> Engine:
    """The release with a reconciled item x region hierarchy of four of its items over its last 30
    weeks (s04 and later are outside it)."""
    rng = np.random.default_rng(4)
    last = pd.Timestamp(engine.as_of_week)
    rows = [(item, region, last - pd.Timedelta(weeks=t), float(rng.poisson(20 - 3 * i + 4 * r)))
            for i, item in enumerate(["s00", "s01", "s02", "s03"]) for r, region in enumerate(["N", "S", "E"])
            for t in range(30)]
    panel = pd.DataFrame(rows, columns=["item_id", "region", "week_start", "units"])
    path = tmp_path / "regions.parquet"
    hierarchy.forecast_frame(panel, top_items=4, top_regions=3, horizon=H, quantiles=grid_levels(50),
                             method="mint_shrink").to_parquet(path, index=False)
    return dataclasses.replace(engine, regions=RegionForecasts.read(path))


def test_a_plan_moves_the_items_regions_as_it_moves_the_item(engine, tmp_path):
    served = _with_regions(engine, tmp_path)
    base = engine.model.future_.query("unique_id == 's00'").sort_values(DS)
    value = 1.0 - float(base["promo"].iloc[0])
    row = {"item": "s00", "week": base[DS].iloc[0].date(), "values": {"promo": value}}
    ratio = _points(_ask(engine, [row]))["s00"][0] / _points(_ask(engine, []))["s00"][0]
    assert abs(ratio - 1) > 0.2  # the plan moves the item's first week
    pairs = {"mode": "fair_share", "capacity": 1e6, "weeks": 1, "level": "item_region",
             "items": [{"id": i, "region": r} for i in ("s00", "s01") for r in ("N", "S", "E")]}
    regions = {"mode": "fair_share", "capacity": 1e6, "weeks": 1, "level": "region",
               "items": [{"id": r} for r in ("N", "S", "E")]}
    got = {}
    for name, plan in (("released", []), ("planned", [row])):
        got[name] = {(a.item, a.region): a.expected_demand for level in (pairs, regions)
                     for a in served.allocate(api.AllocateRequest(**level, plan=plan)).allocations}
        assert served.allocate(api.AllocateRequest(**regions, plan=plan)).planned == len(plan)
    b, a = got["released"], got["planned"]
    for r in ("N", "S", "E"):
        # the item's series in every region move by its own forecast's ratio, the other item's stay
        assert a[("s00", r)] == pytest.approx(ratio * b[("s00", r)], rel=1e-9)
        assert a[("s01", r)] == pytest.approx(b[("s01", r)], rel=1e-12)
        # each region moves by its pair's change: the hierarchy still adds up
        assert a[(r, r)] - b[(r, r)] == pytest.approx(a[("s00", r)] - b[("s00", r)], rel=1e-9)
    # the same row landing in region S: all of the item's change in S (its mean moves by the same
    # units as above; the expected demand read from the quantiles by about as much), N and E stay
    got["south"] = {(a.item, a.region): a.expected_demand for level in (pairs, regions)
                    for a in served.allocate(api.AllocateRequest(**level, plan=[{**row, "region": "S"}])).allocations}
    s = got["south"]
    change = sum(a[("s00", r)] - b[("s00", r)] for r in ("N", "S", "E"))
    assert s[("s00", "S")] - b[("s00", "S")] == pytest.approx(change, rel=0.01)
    for r in ("N", "E"):
        assert s[("s00", r)] == pytest.approx(b[("s00", r)], rel=1e-12) and s[(r, r)] == pytest.approx(b[(r, r)], rel=1e-12)
    assert s[("S", "S")] - b[("S", "S")] == pytest.approx(s[("s00", "S")] - b[("s00", "S")], rel=1e-9)
    # a region the item has no series in: a 400 naming the row's region
    with pytest.raises(RequestError) as e:
        served.allocate(api.AllocateRequest(**regions, plan=[{**row, "region": "W"}]))
    assert e.value.field == "plan[0].region" and "E, N, S" in e.value.message
    # an item outside the hierarchy: a 400 naming the plan row
    outside = {"item": "s05", "week": base[DS].iloc[0].date(), "values": {"promo": value}}
    with pytest.raises(RequestError) as e:
        served.allocate(api.AllocateRequest(**regions, plan=[row, outside]))
    assert e.value.field == "plan[1].item" and "s05" in e.value.message


def test_the_request_schema_bounds_plan_values():
    with pytest.raises(ValueError, match="values"):
        api.ForecastRequest(items=["a"], plan=[{"item": "a", "week": "2011-01-03", "values": {}}])
    with pytest.raises(ValueError, match=r"finite|inf"):
        api.ForecastRequest(items=["a"], plan=[{"item": "a", "week": "2011-01-03", "values": {"promo": float("inf")}}])


def _other_plan(engine: Engine) -> pd.DataFrame:
    """The release's plan with every promotion flipped: a plan that moves every item."""
    return _other_plan_of(engine.model)


def _other_plan_of(blend: Blend) -> pd.DataFrame:
    plan = blend.future_.copy()
    plan["promo"] = 1.0 - plan["promo"]
    return plan


@pytest.mark.parametrize("planned", [False, True])
def test_predicting_a_few_series_gives_their_rows_of_the_whole_forecast(engine, planned):
    blend = engine.model
    future = _other_plan(engine) if planned else None
    whole = blend.predict(h=H, quantiles=list(LEVELS), future=future)
    asked = ["s07", "s02", "s07"]
    some = blend.predict(h=H, quantiles=list(LEVELS), future=future, ids=asked)
    assert sorted(some[ID].unique()) == ["s02", "s07"] and len(some) == 2 * H
    pd.testing.assert_frame_equal(some.reset_index(drop=True),
                                  whole[whole[ID].isin(asked)].reset_index(drop=True), check_exact=True)
    # the same for each member: XGBoost predicts the series' rows of its designs, the naive
    # member every series and keeps theirs
    for m in blend.members_.values():
        kw = {"future": future} if planned and m.future_ is not None else {}
        whole_m = m.predict(h=H, quantiles=list(LEVELS), **kw)
        some_m = m.predict(h=H, quantiles=list(LEVELS), ids=asked, **kw)
        pd.testing.assert_frame_equal(some_m.reset_index(drop=True),
                                      whole_m[whole_m[ID].isin(asked)].reset_index(drop=True), check_exact=True)


@pytest.mark.parametrize("intervals", ["conformal", "members"])
def test_the_blend_and_its_members_in_one_pass_equal_each_asked_alone(intervals):
    """What the hot-seller ranking reads under a plan: the blend's forecast and every member's at
    the ranking's levels, each member predicting once; the same numbers as the blend's `predict`
    and each member's, to the last bit (a conformal blend asks its members at other levels)."""
    blend = _release(origins=6, intervals=intervals).model
    assert blend.intervals_ == intervals and (getattr(blend, "conformal_", None) is not None) == (intervals == "conformal")
    other, asked, qs = _other_plan_of(blend), ["s07", "s02"], [0.25, 0.5, 0.75]
    for plan in (None, other):
        got = blend.predict_with_members(h=H, quantiles=qs, future=plan, ids=asked)
        want = blend.predict(h=H, quantiles=qs, future=plan, ids=asked)
        for m in blend.members_.values():
            kw = {"future": plan} if plan is not None and m.future_ is not None else {}
            want = want.merge(m.predict(h=H, quantiles=qs, ids=asked, **kw), on=[ID, DS])
        assert list(got.columns) == list(want.columns) and len(got) == 2 * H
        pd.testing.assert_frame_equal(got, want, check_exact=True)
    moved = blend.predict_with_members(h=H, quantiles=qs, future=other, ids=asked)
    still = blend.predict_with_members(h=H, quantiles=qs, ids=asked)
    assert not np.array_equal(moved["xgboost"], still["xgboost"])  # the plan reached the member that reads it
    np.testing.assert_array_equal(moved["naive"], still["naive"])
    with pytest.raises(SchemaError, match="1 series it was not fitted on"):
        blend.predict_with_members(h=H, quantiles=qs, ids=["s03", "nope"])


def test_a_plan_for_a_few_series_needs_rows_for_those_only(engine):
    blend = engine.model
    plan = _other_plan(engine)
    mine = plan[plan[ID] == "s03"]
    got = blend.predict(h=H, quantiles=list(LEVELS), future=mine, ids=["s03"])
    whole = blend.predict(h=H, quantiles=list(LEVELS), future=plan)
    assert got[blend.alias].to_numpy() == pytest.approx(whole.loc[whole[ID] == "s03", blend.alias].to_numpy(), rel=1e-12)
    with pytest.raises(SchemaError, match="no finite value"):  # a week of s03 missing from the plan
        blend.predict(h=H, quantiles=list(LEVELS), future=mine.iloc[1:], ids=["s03"])
    with pytest.raises(SchemaError, match=r"1 series it was not fitted on \(first: 'nope'\)"):
        blend.predict(h=H, quantiles=list(LEVELS), ids=["s03", "nope"])
    with pytest.raises(SchemaError, match="ids names no series"):
        blend.predict(h=H, quantiles=list(LEVELS), ids=[])


def test_the_kept_forecasts_of_members_no_plan_moves_are_not_saved(engine, tmp_path):
    blend = engine.model
    blend.predict(h=H, quantiles=list(LEVELS), future=_other_plan(engine), ids=["s00"])
    assert "_steady_kept" in blend.__dict__  # the naive member's forecast, kept for the next call
    loaded = Forecaster.load(blend.save(tmp_path / "blend"))
    assert "_steady_kept" not in loaded.__dict__
    pd.testing.assert_frame_equal(loaded.predict(h=H, quantiles=list(LEVELS), ids=["s00"]),
                                  blend.predict(h=H, quantiles=list(LEVELS), ids=["s00"]))


def test_a_large_catalogue_predicts_the_steady_members_again_rather_than_keeping_them(engine, monkeypatch):
    import training.blend.model as blend_module

    blend = engine.model
    want = blend.predict(h=H, quantiles=list(LEVELS), future=_other_plan(engine), ids=["s04"])
    blend.__dict__.pop("_steady_kept", None)
    monkeypatch.setattr(blend_module, "STEADY_KEPT_VALUES", 10)
    got = blend.predict(h=H, quantiles=list(LEVELS), future=_other_plan(engine), ids=["s04"])
    assert "_steady_kept" not in blend.__dict__
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_forecasts_kept_at_two_sets_of_levels_side_by_side_while_they_fit(engine, monkeypatch):
    """The service asks a planned forecast at its levels, then the hot-seller ranking at the
    trained ones: the steady members' forecasts at both are kept, not one in place of the other;
    a set that does not fit beside the kept ones is asked for the planned series only."""
    import training.blend.model as blend_module

    blend, plan, qs = engine.model, _other_plan(engine), [0.25, 0.5, 0.75]

    def both():
        return (blend.predict(h=H, quantiles=list(LEVELS), future=plan, ids=["s04"]),
                blend.predict_with_members(h=H, quantiles=qs, future=plan, ids=["s04"]))

    blend.__dict__.pop("_steady_kept", None)
    want = both()
    kept = blend.__dict__["_steady_kept"]
    assert sorted(k[1] for k in kept) == [tuple(LEVELS), tuple(qs)]
    first = {k: id(f) for k, f in kept.items()}
    again = both()
    assert {k: id(f) for k, f in blend.__dict__["_steady_kept"].items()} == first  # read, not predicted again
    # room for the first set only: the second is predicted for s04 at each call, the answers the same
    blend.__dict__.pop("_steady_kept", None)
    monkeypatch.setattr(blend_module, "STEADY_KEPT_VALUES", next(iter(kept.values())).size)
    tight = both()
    assert [k[1] for k in blend.__dict__["_steady_kept"]] == [tuple(LEVELS)]
    for got in (again, tight):
        for a, b in zip(got, want, strict=True):
            pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_a_plan_row_for_an_item_not_asked_changes_no_answer_and_is_still_checked(engine):
    base = engine.model.future_.query("unique_id == 's05'").sort_values(DS)
    row = {"item": "s05", "week": base[DS].iloc[0].date(), "values": {"promo": 1.0 - float(base["promo"].iloc[0])}}
    assert _points(_ask(engine, [row])) == _points(_ask(engine, []))
    with pytest.raises(RequestError) as got:
        _ask(engine, [row, {**row, "values": {"price": 1.0}}])
    assert got.value.field == "plan[1].values"
    # asked, the item moves; the answers keep the request's order (not the release's)
    asked = ("s05", "s01")
    before, after = _ask(engine, [], items=asked), _ask(engine, [row], items=asked)
    assert [f.item for f in after.forecasts] == list(asked)
    b, a = _points(before), _points(after)
    assert a["s05"][0] != pytest.approx(b["s05"][0], rel=1e-6) and a["s05"][1:] == pytest.approx(b["s05"][1:], rel=1e-9)
    assert a["s01"] == pytest.approx(b["s01"], rel=1e-9)
