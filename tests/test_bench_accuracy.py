"""The accuracy suite: its label, its M4 scorer, its panels and one small end-to-end run."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from benchmarks.accuracy import m4
from benchmarks.accuracy import panels as P
from benchmarks.accuracy.labels import hot_seller_labels
from benchmarks.accuracy.suite import (
    BEST_IN_HINDSIGHT,
    final_vs_best,
    final_vs_scorers,
    growth_from_forecast,
    rank_summary,
)
from darkhorse.core.config import PanelConfig
from darkhorse.core.schema import DS, ID, Y
from training.backtest import BacktestResult
from training.models import create

REPO = Path(__file__).resolve().parents[1]
# the M4 files are not shipped: DARKHORSE_M4 names the folder that holds them
M4_DIR = Path(os.environ.get("DARKHORSE_M4", "")) if os.environ.get("DARKHORSE_M4") else None
needs_m4 = pytest.mark.skipif(
    M4_DIR is None or not (M4_DIR / "Weekly-train.csv").is_file(),
    reason="M4 Weekly files not found: set DARKHORSE_M4 to their folder",
)


def _weeks(n: int, start: str = "2024-01-01") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="7D")


# --------------------------------------------------------------------------- label
def test_label_by_hand():
    """lookback 2, horizon 2, top 50%: growth, eligibility, ties at the cut and unknown futures."""
    w = _weeks(5)
    frame = pd.DataFrame({
        ID: ["a"] * 5 + ["b"] * 5 + ["c"] * 5 + ["d"] * 5,
        DS: list(w) * 4,
        Y: [2, 2, 4, 4, 9, 2, 2, 2, 2, 2, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0],
    })
    panel = PanelConfig(lookback_weeks=2, horizon_weeks=2, hot_seller_quantile=0.5, min_past_activity=1, growth_floor=1.0)
    lab = hot_seller_labels(frame, panel).set_index([ID, DS])
    # the last 2 weeks of every item have no known future
    assert len(lab) == 4 * 3
    # week 1 (index 1): a past 4 -> 2/wk, future 8 -> 4/wk: growth 2; b: past 4, future 4: 1;
    # c: past 0 -> not eligible; d not eligible. 2 candidates, ceil(0.5 * 2) = 1 hot: a
    g = lab.xs(w[1], level=DS)
    assert g.loc["a", "growth_score"] == pytest.approx(2.0)
    assert g.loc["b", "growth_score"] == pytest.approx(1.0)
    assert list(g["label"].sort_index()) == [1.0, 0.0, 0.0, 0.0]
    # week 0: past = the first week only (2 -> 1/wk, floored at 1); a future 6 -> 3, b 4 -> 2
    g0 = lab.xs(w[0], level=DS)
    assert g0.loc["a", "growth_score"] == pytest.approx(3.0)
    assert g0.loc["c", "growth_score"] == pytest.approx(0.5)  # future 1/2 over the floor
    assert g0.loc["c", "label"] == 0.0  # not eligible (no past units)
    # week 2: a past 6 -> 3, future 13 -> 6.5: 2.1667; b 1; c past 1 -> floor 1, future 1 -> 0.5
    g2 = lab.xs(w[2], level=DS)
    assert g2.loc["a", "label"] == 1.0 and g2.loc["c", "label"] == 0.0
    assert (lab["label_available_at"] == (lab.index.get_level_values(DS) + pd.Timedelta(days=21)).tz_localize("UTC")).all()


def test_label_ties_at_the_cut_are_broken_like_dbt_s():
    w = _weeks(3)
    frame = pd.DataFrame({ID: ["a"] * 3 + ["b"] * 3 + ["c"] * 3, DS: list(w) * 3, Y: [1, 3, 3] * 2 + [1, 1, 1]})
    panel = PanelConfig(lookback_weeks=1, horizon_weeks=1, hot_seller_quantile=0.9, growth_floor=1.0)
    lab = hot_seller_labels(frame, panel)
    first = lab[lab[DS] == w[0]].set_index(ID)["label"]
    # a and b tie at growth 3 (and future and past units) for ceil(0.1 * 3) = 1 place: the
    # item id decides, as in fct_item_week_labels
    assert first.to_dict() == {"a": 1.0, "b": 0.0, "c": 0.0}
    # a tie on growth (3: x 6 over past 2, y 3 over the floor 1) goes to larger future units first
    frame = pd.DataFrame({ID: ["y"] * 3 + ["x"] * 3 + ["z"] * 3, DS: list(w) * 3, Y: [1, 3, 0, 2, 6, 0, 1, 1, 0]})
    lab = hot_seller_labels(frame, panel)
    assert lab[lab[DS] == w[0]].set_index(ID)["label"].to_dict() == {"x": 1.0, "y": 0.0, "z": 0.0}


# --------------------------------------------------------------------------- M4
@needs_m4
def test_m4_naive_reproduces_the_published_naive2():
    data = m4.read_m4_weekly(M4_DIR)
    assert len(data.train) == m4.N_SERIES
    s = m4.score(data, m4.naive_forecasts(data))
    assert round(s["smape"], 3) == 9.161
    assert round(s["mase"], 3) == 2.777
    assert s["owa"] == pytest.approx(1.0, abs=1e-3)


@needs_m4
def test_m4_panel_ends_together_and_the_naive_member_scores_as_naive2():
    """Dated so that all series end on one week; the project's naive model at the official
    origin (the last training week) scores exactly what the scorer's own naive does."""
    panel = P.m4_weekly(M4_DIR)
    data = panel.extra["m4"]
    f = panel.history.frame
    assert f.groupby(ID)[DS].max().nunique() == 1
    assert panel.history.last_week - data.split == pd.Timedelta(weeks=m4.HORIZON)
    train = panel.history.until(data.split)
    assert train.groupby(ID).size().to_dict() == {k: len(v) for k, v in data.train.items()}
    fc = create("naive").fit(train).predict(h=m4.HORIZON, quantiles=[0.1, 0.5, 0.9])
    fc["cutoff"] = data.split
    got = m4.score_backtest(data, fc, ["naive"])["naive"]
    ref = m4.score(data, m4.naive_forecasts(data))
    assert got == pytest.approx(ref, rel=1e-12)


def test_m4_measures_by_hand():
    train = np.array([1.0, 3.0, 2.0, 4.0])  # in-sample naive MAE = (2 + 1 + 2) / 3
    y, f = np.array([4.0, 6.0]), np.array([2.0, 6.0])
    assert m4.smape(y, f) == pytest.approx((200 * 2 / 6 + 0) / 2)
    assert m4.mase(train, y, f) == pytest.approx(1.0 / (5 / 3))


# --------------------------------------------------------------------------- panels, suite
def test_m4_seasons_are_written_as_panel_files_cut_before_the_end(tmp_path):
    # the organisers' wide layout: id, then values; shorter rows end with blanks
    folder = tmp_path / "m4"
    folder.mkdir()
    (folder / "Weekly-train.csv").write_text('"V1","V2","V3","V4","V5"\n"W1",1,2,3,4\n"W2",5,6,,\n')
    test = ",".join(f'"V{i}"' for i in range(1, 14))
    (folder / "Weekly-test.csv").write_text(f"{test}\n\"W1\",{','.join(['9'] * 13)}\n\"W2\",{','.join(['8'] * 13)}\n")
    paths = m4.write_seasons(folder, [0, 14], tmp_path / "out")
    assert [p.name for p in paths] == ["m4_minus_0.parquet", "m4_minus_14.parquet"]
    whole, earlier = (pd.read_parquet(p) for p in paths)
    assert whole.equals(m4.long_frame(m4.read_m4_weekly(folder)))
    # 14 weeks off: the 13 test weeks and the last training week; W2 keeps its first value
    assert earlier.groupby(ID)[Y].apply(list).to_dict() == {"W1": [1.0, 2.0, 3.0], "W2": [5.0]}
    assert earlier[DS].max() == m4.END_WEEK - pd.Timedelta(weeks=14)
    with pytest.raises(m4.M4Error, match="0 or more"):
        m4.cut(whole, -1)


def test_synthetic_panel_is_dense_and_spans_the_window(tmp_path):
    p = P.synthetic_reviews(tmp_path, rows=20_000, n_items=40, weeks=130)
    f = p.history.frame
    assert p.history.first_week == pd.Timestamp("2019-01-07")
    assert p.history.last_week == pd.Timestamp("2019-01-07") + pd.Timedelta(weeks=129)
    per = f.groupby(ID)[DS].agg(["min", "max", "size"])
    assert (per["max"] == p.history.last_week).all()
    assert ((per["max"] - per["min"]) / pd.Timedelta(weeks=1) + 1 == per["size"]).all()
    assert f[Y].sum() == 20_000
    assert 0 < p.history.labels["label"].mean() < 0.2


def test_sparse_panel_is_intermittent_and_keeps_every_review(tmp_path):
    p = P.synthetic_sparse(tmp_path)
    f = p.history.frame
    assert p.name == "synthetic_sparse" and f[Y].sum() == P.SPARSE["rows"]
    zero = (f[Y] == 0).mean()
    assert zero > 0.8  # intermittent: most item-weeks without a review
    assert f"{zero:.0%} zero weeks" in p.description
    assert p.history.last_week - p.history.first_week == pd.Timedelta(weeks=P.SYNTHETIC["weeks"] - 1)


def test_long_sparse_panel_spans_sixteen_years_of_mostly_zero_weeks(tmp_path):
    p = P.synthetic_long_sparse(tmp_path)
    f = p.history.frame
    assert p.name == "synthetic_long_sparse" and f[Y].sum() == P.LONG_SPARSE["rows"]
    assert p.history.first_week == pd.Timestamp(P.LONG_SPARSE["start"])
    assert p.history.last_week - p.history.first_week == pd.Timedelta(weeks=P.LONG_SPARSE["weeks"] - 1)
    zero = (f[Y] == 0).mean()
    assert zero > 0.9 and f"{zero:.0%} zero weeks" in p.description
    # opt-in: the default run leaves it out, `--panels` reaches it
    assert "synthetic_long_sparse" not in P.PANELS and "synthetic_long_sparse" in P.OPT_IN_PANELS


def test_store_department_panel_repeats_its_season_every_year_and_labels_five_percent():
    """The generated store x department panel: dense from each series' first week, every series a
    store and a department, and a season stable enough that growth read from the same weeks a year
    earlier ranks its hot sellers well (AP above 0.4 where the base rate is 0.05)."""
    from synthetic.store_sales import store_department_sales
    from training.hot_sellers.features import seasonal_features
    from training.metrics import average_precision

    with pytest.raises(ValueError, match="Monday"):
        store_department_sales(start="2010-02-02")
    short = store_department_sales(n_stores=4, n_departments=10, weeks=52, seed=0)  # too short for late starts
    assert (short.groupby(ID)[DS].min() == short[DS].min()).all() and short.groupby(ID).size().eq(52).all()
    p = P.synthetic_store_departments(n_stores=6, n_departments=12)
    f = p.history.frame.sort_values([ID, DS])
    assert p.name == "synthetic_store_departments" and "synthetic_store_departments" in P.OPT_IN_PANELS
    assert f[ID].str.fullmatch(r"s\d{2}_d\d{2}").all() and (f[Y] > 0).all()
    weeks = f.groupby(ID)[DS].agg(["min", "max", "count"])
    assert ((weeks["max"] - weeks["min"]) / pd.Timedelta(weeks=1) + 1 == weeks["count"]).all()
    assert (weeks["max"] == f[DS].max()).all()
    # the season ranks the hot sellers: growth read from the same weeks a year earlier
    season = seasonal_features(f.reset_index(drop=True), lookback=p.panel.lookback_weeks,
                               horizon=p.panel.horizon_weeks, floor=p.panel.growth_floor)
    rows = pd.concat([f.reset_index(drop=True), season], axis=1).merge(p.history.labels, on=[ID, DS])
    rows = rows.dropna(subset=["ly_growth"])
    ap = [average_precision(g["seasonal_growth"].to_numpy(), g["label"].to_numpy(dtype="float64"))
          for _, g in rows.groupby(DS) if g["label"].sum() > 0]
    assert len(ap) > 50 and np.mean(ap) > 0.4
    assert 0.04 < p.history.labels["label"].mean() < 0.06


def test_m4_earlier_panel_cuts_the_last_half_year_and_keeps_every_series(tmp_path):
    """Two M4-shaped series written as the organisers' files: the earlier panel is the full
    panel's frame up to 26 weeks before its end, every series in it, no official split."""
    rng = np.random.default_rng(0)
    train = {"W1": rng.uniform(50, 60, 100), "W2": rng.uniform(5, 9, 70)}
    test = {k: rng.uniform(1, 2, m4.HORIZON) for k in train}
    for name, d in (("train", train), ("test", test)):
        width = max(len(v) for v in d.values())
        wide = pd.DataFrame({k: np.pad(v, (0, width - len(v)), constant_values=np.nan) for k, v in d.items()}).T
        wide.columns = [f"V{i + 2}" for i in range(width)]
        wide.to_csv(tmp_path / f"Weekly-{name}.csv", index_label="V1")
    full, early = P.m4_weekly(tmp_path), P.m4_weekly_earlier(tmp_path)
    assert full.history.last_week - early.history.last_week == pd.Timedelta(weeks=P.M4_EARLIER_WEEKS)
    f, e = full.history.frame, early.history.frame
    assert len(f) - len(e) == 2 * P.M4_EARLIER_WEEKS and set(e[ID]) == {"W1", "W2"}
    pd.testing.assert_frame_equal(e, f[f[DS] <= early.history.last_week].reset_index(drop=True))
    # the test weeks are gone: the last kept values are training values
    assert e[e[ID] == "W1"][Y].iloc[-1] == train["W1"][-(P.M4_EARLIER_WEEKS - m4.HORIZON) - 1]
    assert "m4" not in early.extra  # no official measures away from the official split
    assert "m4_weekly_earlier" not in P.PANELS and "m4_weekly_earlier" in P.OPT_IN_PANELS


def test_regions_panel_keeps_the_pairs_outside_the_home_market_that_sold_often_enough(tmp_path):
    """A hand-made `item_region_weeks` mart: the home market's rows and a pair with too few
    weeks of sales are left out; the others become `item @ country` series, values kept."""
    weeks = pd.date_range("2024-01-01", periods=8, freq="7D").date
    k = P.REGION_MIN_SALE_WEEKS
    rows = []
    for item, region, sold in (("A", "France", k), ("A", P.HOME_REGION, 8), ("B", "EIRE", k - 1), ("B", "France", 8)):
        units = [3.0] * sold + [0.0] * (8 - sold)
        rows += [{"item_id": item, "region": region, "week_start": w, "units": u, "revenue": 1.0} for w, u in zip(weeks, units, strict=True)]
    pd.DataFrame(rows).to_parquet(tmp_path / "item_region_weeks.parquet")
    p = P.regions_from_mart(tmp_path / "item_region_weeks.parquet", PanelConfig(horizon_weeks=2, lookback_weeks=2))
    f = p.history.frame
    assert p.name == "online_retail_regions" and sorted(f[ID].unique()) == ["A @ France", "B @ France"]
    assert f.groupby(ID)[Y].sum().to_dict() == {"A @ France": 3.0 * k, "B @ France": 24.0}
    assert f"{(f[Y] == 0).mean():.0%} zero weeks" in p.description
    assert len(p.history.labels) and "online_retail_regions" in P.OPT_IN_PANELS


def test_scale_panel_has_the_store_department_shape():
    from benchmarks.accuracy.scale import panel

    f = panel(200, 143)
    per = f.groupby(ID)[DS].agg(["min", "max", "size"])
    assert len(per) == 200 and per["size"].max() == 143
    assert (per["max"] == f[DS].max()).all()  # every series runs to the last week
    assert 0.1 < (per["size"] < 143).mean() < 0.3  # about 20% start late
    assert (f[Y] >= 0).all() and (f[Y] == 0).mean() > 0.05


def test_weekly_sales_panel_keeps_every_unit():
    p = P.weekly_sales()
    raw = pd.read_csv(P.WEEKLY_SALES_CONFIG.parent / "weekly_sales.csv")
    assert p.history.frame[Y].sum() == raw["units_sold"].sum()
    assert p.history.frame[ID].nunique() == raw["sku"].nunique()
    assert (p.history.frame[DS].dt.weekday == 0).all()
    # read from a CSV, not from the config's marts: its hot-seller features never see those
    # marts' customer lines (its item ids overlap Online Retail's)
    assert p.marts is None


def test_growth_from_forecast_reads_the_column():
    w = _weeks(6)
    hist = pd.DataFrame({ID: ["a"] * 6 + ["b"] * 6, DS: list(w) * 2, Y: [0, 0, 2, 6, 0, 0, 0, 0, 0, 0, 0, 0]})
    cutoff = w[3]
    fc = pd.DataFrame({ID: ["a", "a", "b", "b"], DS: [w[4], w[5]] * 2, "cutoff": cutoff, "window": "eval",
                       Y: 0.0, "blend": [8.0, 4.0, 3.0, 1.0]})
    res = BacktestResult(forecasts=fc, series_metrics=pd.DataFrame(), metrics={}, hot_sellers=pd.DataFrame(),
                         blend_weights=pd.DataFrame(), feature_importance=pd.DataFrame(), cutoffs=[(cutoff, "eval")], models=["blend"])
    s = growth_from_forecast(res.forecasts, hist, "blend", lookback=2, floor=1.0).set_index(ID)["score"]
    assert s["a"] == pytest.approx(6.0 / 4.0)  # mean forecast 6 over past mean (2 + 6) / 2
    assert s["b"] == pytest.approx(2.0)  # past 0 -> floor 1


def test_final_vs_best_pairs_the_origins_against_the_best_other_scorer():
    # 3 origins x 4 items, one positive each; "a" ranks it first at every origin, "b" at two,
    # the final ranking at two (AP 1, 1, 1/3 against a's 1, 1, 1)
    rows = []
    for k, cutoff in enumerate(pd.to_datetime(["2024-01-01", "2024-01-29", "2024-02-26"])):
        label = [1.0, 0.0, 0.0, 0.0]
        scores = {"a": [4, 3, 2, 1], "b": [4, 3, 2, 1] if k else [1, 4, 3, 2],
                  "final": [4, 3, 2, 1] if k < 2 else [2, 4, 3, 1]}
        for model, s in scores.items():
            rows += [{ID: f"i{j}", "cutoff": cutoff, "model": model, "score": float(s[j]), "label": label[j]}
                     for j in range(4)]
    out = final_vs_best(pd.DataFrame(rows))
    assert out["best"] == "a" and out["n_origins"] == 3
    assert out["per_origin"] == pytest.approx([0.0, 0.0, -2 / 3], abs=1e-6)
    assert out["diff"] == pytest.approx(-2 / 9)
    assert out["se"] == pytest.approx(np.std([0, 0, -2 / 3], ddof=1) / np.sqrt(3))
    assert final_vs_best(pd.DataFrame(rows)[lambda d: d["model"] != "final"]) is None


def test_rank_summary_averages_ranks():
    panels = [
        {"models": {"x": {"mase": 1.0, "scaled_pinball": 2.0}, "y": {"mase": 2.0, "scaled_pinball": 1.0}},
         "hot_sellers": {"s": {"average_precision": 0.3}, "t": {"average_precision": 0.1}}},
        {"models": {"x": {"mase": 3.0, "scaled_pinball": 2.0}, "y": {"mase": 2.0, "scaled_pinball": None}},
         "hot_sellers": {"s": {"average_precision": 0.3}, "t": {"average_precision": 0.5}}},
    ]
    r = rank_summary(panels)
    assert r["mase"]["x"]["mean_rank"] == 1.5 and r["mase"]["y"]["mean_rank"] == 1.5
    assert r["scaled_pinball"]["y"] == {"mean_rank": 1.0, "panels": 1}
    assert r["hot_seller_ap"]["s"]["mean_rank"] == 1.5
    assert r["short_panels"] == {}  # neither panel says it ran on less than the plan


def test_final_vs_scorers_pools_the_panels_and_names_the_pick_in_hindsight():
    def panel(name, **ap):
        return {"panel": name, "models": {}, "hot_sellers": {k: {"average_precision": v} for k, v in ap.items()}}

    # two inputs about equally good that take turns being ahead; the final ranking follows the classifier
    panels = [panel("a", final=0.70, classifier=0.70, forecast_growth=0.74, seasonal_naive_growth=0.40, peer_lightgbm_growth=0.90),
              panel("b", final=0.50, classifier=0.50, forecast_growth=0.44, seasonal_naive_growth=0.30),
              panel("c", final=0.62, classifier=0.60, forecast_growth=0.60, seasonal_naive_growth=0.20)]
    vs = final_vs_scorers(panels)
    fg = vs["forecast_growth"]
    assert fg["per_panel"] == pytest.approx({"a": -0.04, "b": 0.06, "c": 0.02})
    assert fg["diff"] == pytest.approx(0.04 / 3)
    assert fg["se"] == pytest.approx(np.std([-0.04, 0.06, 0.02], ddof=1) / np.sqrt(3))
    assert (fg["at_least_as_good"], fg["panels"]) == (2, 3)
    assert vs["classifier"]["at_least_as_good"] == 3 and vs["classifier"]["diff"] == pytest.approx(0.02 / 3)
    # picked after the fact the best input beats the final ranking on a, though it beats each input pooled
    assert vs[BEST_IN_HINDSIGHT]["per_panel"] == pytest.approx({"a": -0.04, "b": 0.0, "c": 0.02})
    # a peer's growth is compared where it was scored, never picked as an input
    assert vs["peer_lightgbm_growth"]["panels"] == 1 and vs["peer_lightgbm_growth"]["se"] is None
    assert vs["peer_lightgbm_growth"]["diff"] == pytest.approx(-0.20)
    assert final_vs_scorers([panel("a", classifier=0.5)]) == {}
    assert rank_summary(panels)["final_vs_scorers"] == vs


def test_stored_runs_need_report_only(tmp_path):
    from benchmarks.bench_accuracy import main

    with pytest.raises(SystemExit, match="needs --report-only"):
        main(["--stored", str(tmp_path), "--out", str(tmp_path / "out")])


@pytest.mark.slow
def test_suite_end_to_end_on_a_small_sample(tmp_path):
    from benchmarks.bench_accuracy import main

    rc = main(["--panels", "weekly_sales", "--quick", "--max-series", "40", "--models", "naive,seasonal_naive,xgboost",
               "--out", str(tmp_path), "--no-progress"])
    assert rc == 0
    out = json.loads((tmp_path / "accuracy.json").read_text())
    (p,) = out["panels"]
    assert p["panel"] == "weekly_sales" and p["n_series"] == 40
    assert set(p["models"]) == {"naive", "seasonal_naive", "xgboost", "blend"}
    assert all(v["mase"] is not None and v["mase"] > 0 for v in p["models"].values())
    assert {"momentum", "seasonal_naive_growth", "blend_growth", "final"} <= set(p["hot_sellers"])
    # forecast growth already reads the blend here (no xgboost): the suite's blend growth agrees
    if "forecast_growth" in p["hot_sellers"]:
        assert p["hot_sellers"]["forecast_growth"]["average_precision"] == pytest.approx(p["hot_sellers"]["blend_growth"]["average_precision"])
    assert out["rank_summary"]["mase"]["blend"]["panels"] == 1
    # the blend's choice at each evaluation origin, its quantiles' source among them
    evals = [w["cutoff"] for w in p["windows"] if w["role"] == "eval"]
    assert [c["cutoff"] for c in p["blend_choice"]] == evals
    assert all(c["intervals"] in ("conformal", "members", "levels") for c in p["blend_choice"])
    text = " ".join((tmp_path / "accuracy.txt").read_text().split())  # the caption may wrap
    assert "quantiles per eval origin: " + ", ".join(c["intervals"] for c in p["blend_choice"]) in text
    assert all(0.7 <= c["point_factor"] <= 1.3 for c in p["blend_choice"])
    assert "point factor per eval origin: " + ", ".join(f"{c['point_factor']:g}" for c in p["blend_choice"]) in text
    html = (tmp_path / "accuracy.html").read_text()
    assert "weekly_sales" in html and "seasonal_naive_growth" in html
    assert (tmp_path / "panels" / "weekly_sales" / "forecasts.parquet").is_file()
    # the peers (default: every one) at the same evaluation origins, on the same rows
    assert set(p["peers"]) == {"lightgbm", "lightgbm_diff", "autoets"}
    peer_fc = pd.read_parquet(tmp_path / "panels" / "weekly_sales" / "peer_forecasts.parquet")
    fc = pd.read_parquet(tmp_path / "panels" / "weekly_sales" / "forecasts.parquet")
    scored = fc[(fc["window"] == "eval") & fc[Y].notna()]
    assert len(peer_fc) == len(scored) and set(peer_fc["cutoff"].astype(str)) == set(scored["cutoff"].astype(str))
    for name, v in p["peers"].items():
        assert v["mase"] > 0 and v["missing_rows"] == 0 and v["blend_vs"]["n_series"] >= 30
        assert f"peer: {name}" in text and f"blend - peer: {name}: MASE" in text
        assert f"peer_{name}_growth" in p["hot_sellers"] and f"peer: {name}" in out["rank_summary"]["mase"]
    # the final ranking is compared with its own inputs, not with the peers' growth
    assert p["final_vs_best"] is None or not p["final_vs_best"]["best"].startswith("peer_")
    assert out["rank_summary"]["final_vs_scorers"]["momentum"]["panels"] == 1
    assert "the final hot-seller ranking against each scorer, pooled over the panels" in text
    # the tables again from the stored run, read from another folder, nothing refitted
    again = tmp_path / "again"
    assert main(["--report-only", "--stored", str(tmp_path / "nothing"), "--stored", str(tmp_path),
                 "--panels", "weekly_sales", "--out", str(again)]) == 0
    stored = json.loads((again / "accuracy.json").read_text())
    assert stored["panels"] == out["panels"] and stored["rank_summary"] == out["rank_summary"]
    assert stored["meta"]["stored"] == [str(tmp_path / "nothing"), str(tmp_path)]
    # the hot sellers scored again from the stored scores: the run's figures, until a score changes
    from benchmarks.accuracy.rescore import main as rescore
    from training.metrics import average_precision

    with pytest.raises(SystemExit, match="--out must differ"):
        rescore(["--run", str(tmp_path), "--out", str(tmp_path)])
    assert rescore(["--run", str(tmp_path), "--out", str(tmp_path / "rescored"), "--max-series", "40"]) == 0
    again = json.loads((tmp_path / "rescored" / "panels" / "weekly_sales" / "result.json").read_text())
    assert again["hot_sellers"] == p["hot_sellers"] and again["models"] == p["models"]
    assert again["final_vs_best"] == p["final_vs_best"] and again["rescored"]["from"].endswith("weekly_sales")
    hot = pd.read_parquet(tmp_path / "panels" / "weekly_sales" / "hot_sellers.parquet")
    final = hot["model"] == "final"
    hot.loc[final, "score"] = -hot.loc[final, "score"]  # the final ranking turned upside down
    turned = tmp_path / "turned"
    shutil.copytree(tmp_path / "panels", turned / "panels")
    hot.to_parquet(turned / "panels" / "weekly_sales" / "hot_sellers.parquet", index=False)
    assert rescore(["--run", str(turned), "--out", str(turned / "rescored"), "--max-series", "40"]) == 0
    got = json.loads((turned / "rescored" / "panels" / "weekly_sales" / "result.json").read_text())["hot_sellers"]["final"]
    evals = {pd.Timestamp(c) for c in evals}
    rows = hot[final & hot["cutoff"].isin(evals) & hot["label"].notna()]
    want = np.mean([average_precision(g["score"].to_numpy(), g["label"].to_numpy()) for _, g in rows.groupby("cutoff")])
    assert got["average_precision"] == pytest.approx(want) and got["average_precision"] < p["hot_sellers"]["final"]["average_precision"]


@pytest.mark.slow
def test_a_member_run_without_hot_sellers_keeps_the_forecasts_and_the_suite_s_growth_scorers(tmp_path):
    from benchmarks.bench_accuracy import main

    rc = main(["--panels", "weekly_sales", "--quick", "--max-series", "30", "--models", "naive,seasonal_naive",
               "--out", str(tmp_path), "--no-progress", "--no-hot-sellers", "--peers", "none"])
    assert rc == 0
    (p,) = json.loads((tmp_path / "accuracy.json").read_text())["panels"]
    assert set(p["models"]) == {"naive", "seasonal_naive", "blend"} and p["peers"] == {}
    assert set(p["hot_sellers"]) == {"seasonal_naive_growth", "blend_growth"} and p["final_vs_best"] is None
    assert "hot_sellers" not in p["timings_s"] or not p["timings_s"]["hot_sellers"]
    assert len(pd.read_parquet(tmp_path / "panels" / "weekly_sales" / "hot_sellers.parquet")) == 0
    assert len(pd.read_parquet(tmp_path / "panels" / "weekly_sales" / "forecasts.parquet")) > 0


def test_replay_reproduces_the_run_s_blend_and_leaves_a_member_out(tmp_path, monkeypatch):
    """The replay of a run's saved member forecasts gives the run's blend; without a member it
    gives the blend the run reports in its `contributions` for that member."""
    from benchmarks.accuracy import replay as R
    from benchmarks.bench_accuracy import main, shrink

    rc = main(["--panels", "weekly_sales", "--quick", "--max-series", "30", "--models", "naive,seasonal_naive,theta",
               "--out", str(tmp_path), "--no-progress"])
    assert rc == 0
    run = json.loads((tmp_path / "panels" / "weekly_sales" / "result.json").read_text())
    # the replay reads the whole panel: keep the run's sample (the suite's seed-0 sample)
    sample = shrink(P.weekly_sales(), 30)
    monkeypatch.setattr(R, "load_panel", lambda name, m4, cache, files=None: sample)
    assert R.main(["--run", str(tmp_path), "--panels", "weekly_sales", "--json", str(tmp_path / "all.json")]) == 0
    assert R.main(["--run", str(tmp_path), "--panels", "weekly_sales", "--members", "naive,seasonal_naive",
                   "--json", str(tmp_path / "without.json")]) == 0
    got = json.loads((tmp_path / "all.json").read_text())["weekly_sales"]["members"]
    assert set(got) == {"naive", "seasonal_naive", "theta", "blend"}  # the growth blend is no member
    assert got["blend"]["mase"] == pytest.approx(run["models"]["blend"]["mase"], rel=1e-9)
    assert got["blend"]["coverage_80"] == pytest.approx(run["models"]["blend"]["coverage_80"], rel=1e-9)
    assert got["theta"]["mase"] == pytest.approx(run["models"]["theta"]["mase"], rel=1e-9)
    vs = json.loads((tmp_path / "all.json").read_text())["weekly_sales"]["blend_vs_best"]
    assert vs["best"] == run["blend_vs_best"]["best"]
    assert (vs["diff"], vs["se"]) == pytest.approx((run["blend_vs_best"]["diff"], run["blend_vs_best"]["se"]), rel=1e-9, abs=1e-12)
    without = json.loads((tmp_path / "without.json").read_text())["weekly_sales"]["members"]["blend"]["mase"]
    assert without == pytest.approx(run["contributions"]["theta"]["mase_without"], rel=1e-9)
    # a config that keeps theta out of the blend (`blend: false`) replays the blend without it by default
    doc = yaml.safe_load((P.REPO / "darkhorse.yaml").read_text())
    for m in doc["forecast"]["models"]:
        m.update({"blend": False} if m["model"] == "theta" else {})
    (tmp_path / "kept_out.yaml").write_text(yaml.safe_dump(doc))
    assert R.main(["--run", str(tmp_path), "--panels", "weekly_sales", "--config", str(tmp_path / "kept_out.yaml"),
                   "--json", str(tmp_path / "kept_out.json")]) == 0
    kept = json.loads((tmp_path / "kept_out.json").read_text())["weekly_sales"]["members"]
    assert set(kept) == {"naive", "seasonal_naive", "blend"}
    assert kept["blend"]["mase"] == pytest.approx(without, rel=1e-9)


@pytest.mark.slow
def test_hot_replay_reproduces_the_run_s_final_ranking(tmp_path):
    """Replayed from the stored scores, the final ranking is the run's at every evaluation
    origin, including those where it was learned on labelled origins."""
    from benchmarks.accuracy.hot_replay import replay_panel
    from benchmarks.accuracy.suite import jsonable
    from darkhorse.core.config import ModelSpec, load_config
    from training.backtest import run_backtest
    from training.hot_sellers.combine import STACK_MARGIN_SE
    from training.metrics import average_precision

    p = P.weekly_sales()
    history = P.restrict(p.history, P.sample_ids(p.history, 40))
    cfg = load_config(P.REPO / "darkhorse.yaml")
    cfg = cfg.model_copy(update={
        "backtest": cfg.backtest.model_copy(update={"n_windows": 3, "warmup_windows": 1, "blend_warmup_windows": 3,
                                                    "score_blend_warmup": True, "min_train_weeks": 8}),
        "panel": p.panel,  # the horizon of the panel's labels
        # 40 items: 2 hot sellers per origin, each origin counts
        "hot_sellers": cfg.hot_sellers.model_copy(update={"classifier": {"n_estimators": 10, "max_depth": 2, "device": "cpu"},
                                                          "min_origin_positives": 1}),
    })
    specs = [ModelSpec(model="naive"), ModelSpec(model="moving_average", params={"window": 4})]
    res = run_backtest(cfg, history=history, specs=specs, show_progress=False)
    folder = tmp_path / "panels" / "weekly_sales"
    folder.mkdir(parents=True)
    res.hot_sellers.to_parquet(folder / "hot_sellers.parquet", index=False)
    (folder / "result.json").write_text(json.dumps(jsonable({"horizon": p.panel.horizon_weeks, "windows": res.metrics["windows"],
                                                             "first_week": str(history.first_week.date())})))
    out = replay_panel(folder, min_origins=cfg.hot_sellers.min_labelled_origins,
                       weight_step=cfg.hot_sellers.stack_weight_step, stack_margin_se=STACK_MARGIN_SE,
                       min_positives=cfg.hot_sellers.min_origin_positives, tie_margin_se=cfg.hot_sellers.tie_margin_se,
                       season=cfg.hot_sellers.season_length)
    evals = [c for c, r in res.cutoffs if r == "eval"]
    assert sorted(out) == [str(c.date()) for c in evals]
    run_choice = res.metrics["model_info"]["hot_sellers"]
    for c in evals:
        g = res.hot_sellers[(res.hot_sellers["cutoff"] == c) & (res.hot_sellers["model"] == "final")].dropna(subset=["label"])
        assert out[str(c.date())]["ap"] == pytest.approx(average_precision(g["score"].to_numpy(), g["label"].to_numpy()))
        assert out[str(c.date())]["method"] == run_choice[str(c.date())]["method"]
    assert any(v["method"] != "fallback" for v in out.values())


@pytest.mark.slow
def test_hot_refit_reproduces_the_run_s_classifier_and_another_setting_changes_it(tmp_path):
    """Refitted on the run's stored forecasts with the run's own settings, the classifier's scores
    are the run's at every scored origin and its AP the run's; another setting retrains it."""
    import dataclasses

    from benchmarks.accuracy.hot_refit import refit_panel
    from benchmarks.accuracy.suite import jsonable, panel_config
    from darkhorse.core.config import ModelSpec, load_config
    from training.backtest import run_backtest
    from training.metrics import average_precision

    p = P.weekly_sales()
    p = dataclasses.replace(p, history=P.restrict(p.history, P.sample_ids(p.history, 40)))
    cfg = load_config(P.REPO / "darkhorse.yaml")
    cfg = cfg.model_copy(update={
        "backtest": cfg.backtest.model_copy(update={"n_windows": 2, "warmup_windows": 3, "blend_warmup_windows": 1,
                                                    "min_train_weeks": 8}),
        "hot_sellers": cfg.hot_sellers.model_copy(update={"classifier": {"n_estimators": 10, "max_depth": 2, "device": "cpu"}}),
    })
    specs = [ModelSpec(model="naive"), ModelSpec(model="moving_average", params={"window": 4})]
    res = run_backtest(panel_config(p, cfg), history=p.history, specs=specs, show_progress=False, report=False)
    folder = tmp_path / "panels" / "weekly_sales"
    folder.mkdir(parents=True)
    res.forecasts.to_parquet(folder / "forecasts.parquet", index=False)
    res.hot_sellers.to_parquet(folder / "hot_sellers.parquet", index=False)
    (folder / "result.json").write_text(json.dumps(jsonable({"windows": res.metrics["windows"]})))

    same = refit_panel(folder, p, cfg, {})
    assert same["max_diff_vs_run"] == 0.0
    evals = [c for c, r in res.cutoffs if r == "eval"]
    hot = res.hot_sellers.dropna(subset=["label"])
    for model in ("classifier", "final", "forecast_growth"):
        want = [average_precision(g["score"].to_numpy(), g["label"].to_numpy())
                for c in evals for g in [hot[(hot["cutoff"] == c) & (hot["model"] == model)]]]
        assert same["ap"][model] == pytest.approx(np.mean(want))
    assert same["final_vs_best"] == pytest.approx(same["ap"]["final"] - same["ap"][same["best_input"]])
    other = refit_panel(folder, p, cfg, {"n_estimators": 40, "max_depth": 3})
    assert other["max_diff_vs_run"] > 0
    assert other["ap"]["forecast_growth"] == pytest.approx(same["ap"]["forecast_growth"])


def test_hot_refit_settings_start_with_the_run_s_and_refuse_an_unknown_key():
    from benchmarks.accuracy.hot_refit import _settings

    assert _settings(["max_depth=3,6", "n_lags=13"]) == [{}, {"max_depth": 3}, {"max_depth": 6}, {"n_lags": 13}]
    with pytest.raises(SystemExit, match="depth"):
        _settings(["depth=3"])
    with pytest.raises(ValueError):
        _settings(["max_depth=0"])


@pytest.mark.slow
def test_scale_store_department_backtest_times_the_hot_sellers_and_the_rest(tmp_path, capsys):
    """`--store-departments` runs the whole default backtest (hot sellers included) and says
    where its wall time went: every timer plus `other` adds up to the wall. 96 weeks (`--weeks`)
    keep the test short: `xgboost_long` sits out, every other default member runs."""
    from benchmarks.accuracy.scale import main

    out = main(["--store-departments", "3x8", "--weeks", "96", "--json", str(tmp_path / "scale.json"),
                "--peers", "autoets"])
    assert out["weeks"] == 96 and out["hot_sellers"]["seconds"] > 0 and out["windows"] >= 5
    # a peer fitted at the evaluation origins only, outside the backtest's timers
    assert out["peers"]["autoets"]["mase"] > 0 and 0 < out["peers"]["autoets"]["blend_vs"]["n_series"] <= 24
    assert json.loads((tmp_path / "scale.json").read_text())["peers"]["autoets"]["seconds"] > 0
    aps = out["hot_sellers"]["average_precision"]
    assert {"final", "classifier", "forecast_growth"} <= set(aps)
    timed = sum(v["seconds"] for v in out["models"].values())  # the members' and the blend's
    assert out["other_s"] >= 0 and abs(timed + out["hot_sellers"]["seconds"] + out["other_s"] - out["wall_s"]) < 1.0
    printed = capsys.readouterr().out
    assert "hot sellers" in printed and "peer autoets" in printed
    with pytest.raises(SystemExit, match="STORESxDEPARTMENTS"):
        main(["--store-departments", "45-70"])
