"""Blend-only warm-up windows: origins before the warm-up ones whose member forecasts train the
blend weights (the hot-seller classifier does not read their forecasts, in the backtest nor at the
final fit; hot sellers are scored there only as `backtest.score_blend_warmup` says: by default
once a season of history precedes them, never on the 52-week panel of these tests)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from benchmarks import bench_customer_demand
from benchmarks.accuracy import panels as P
from darkhorse.core.config import load_config
from darkhorse.core.schema import CUTOFF, WEEK
from training.backtest import BLEND, plan_cutoffs, run_backtest, write_outputs

from .conftest import REPO

H = 6


@pytest.fixture(scope="module")
def panel():
    p = P.weekly_sales()
    return P.Panel(p.name, P.restrict(p.history, P.sample_ids(p.history, 30)), p.panel, p.description)


def _config(panel, **backtest):
    cfg = load_config(REPO / "darkhorse.yaml")
    bt = cfg.backtest.model_copy(update={"n_windows": 2, "warmup_windows": 1, "min_train_weeks": 8,
                                         "blend_warmup_windows": 0, **backtest})
    pc = panel.panel.model_copy(update={"horizon_weeks": H})
    # 30 items: one or two hot sellers per origin, each origin counts
    hs = cfg.hot_sellers.model_copy(update={"classifier": {"n_estimators": 10, "max_depth": 2, "device": "cpu"},
                                            "min_origin_positives": 1})
    return cfg.model_copy(update={"backtest": bt, "panel": pc, "hot_sellers": hs})


def test_blend_warmup_origins_come_first_and_keep_the_other_roles(panel):
    without = plan_cutoffs(panel.history, _config(panel), H)
    with_two = plan_cutoffs(panel.history, _config(panel, blend_warmup_windows=2), H)
    assert [r for _, r in without] == ["warmup", "eval", "eval"]
    assert [r for _, r in with_two] == ["blend_warmup", "blend_warmup", "warmup", "eval", "eval"]
    assert with_two[2:] == without  # the same warm-up and evaluation origins
    gaps = {b - a for (a, _), (b, _) in itertools.pairwise(with_two)}
    assert gaps == {WEEK * 4}


def test_blend_only_origins_are_scored_once_a_season_of_history_precedes_them(panel):
    """`score_blend_warmup: season` (the default) scores hot sellers at a blend-only origin only
    when the panel's history up to it holds `season_length` weeks; warm-up and evaluation origins
    always; true and false: every blend-only origin, none."""
    from training.backtest import scores_hot_sellers

    first = panel.history.first_week
    cfg = _config(panel)
    assert cfg.backtest.score_blend_warmup == "season"
    season = cfg.hot_sellers.season_length
    short, full = first + WEEK * (season - 2), first + WEEK * (season - 1)
    assert not scores_hot_sellers(cfg, panel.history, short, "blend_warmup")
    assert scores_hot_sellers(cfg, panel.history, full, "blend_warmup")
    assert all(scores_hot_sellers(cfg, panel.history, short, r) for r in ("warmup", "eval"))
    assert scores_hot_sellers(_config(panel, score_blend_warmup=True), panel.history, short, "blend_warmup")
    assert not scores_hot_sellers(_config(panel, score_blend_warmup=False), panel.history, full, "blend_warmup")
    quarter = cfg.model_copy(update={"hot_sellers": cfg.hot_sellers.model_copy(update={"season_length": 13})})
    assert scores_hot_sellers(quarter, panel.history, first + WEEK * 12, "blend_warmup")


def test_too_short_a_history_drops_blend_warmup_origins_not_evaluation_ones(panel):
    cfg = _config(panel, blend_warmup_windows=40)
    kept = plan_cutoffs(panel.history, cfg, H)
    assert [r for _, r in kept][-3:] == ["warmup", "eval", "eval"]
    assert kept[0][0] >= panel.history.first_week + WEEK * 7


def test_a_panel_too_short_for_every_evaluation_window_runs_those_it_holds(panel):
    """`backtest.short_panel: fewer_windows` (the default): 52 weeks with a 6-week horizon and 8
    training weeks hold 10 of 20 evaluation windows 4 weeks apart; the latest ten run, the
    warm-up origins go, and `windows_reduced` says why."""
    from training.backtest import windows_reduced

    cfg = _config(panel, n_windows=20, step_weeks=4)
    assert cfg.backtest.short_panel == "fewer_windows"
    kept = plan_cutoffs(panel.history, cfg, H)
    assert [r for _, r in kept] == ["eval"] * 10
    assert kept[-1][0] == panel.history.last_week - WEEK * H
    assert kept[0][0] >= panel.history.first_week + WEEK * 7
    why = windows_reduced(panel.history, cfg, kept)
    assert why is not None and "spans 52 weeks: it holds 10 of the 20 evaluation windows" in why
    full = _config(panel)
    assert windows_reduced(panel.history, full, plan_cutoffs(panel.history, full, H)) is None


def test_too_short_a_history_for_the_evaluation_windows_says_what_to_change(panel):
    from training.backtest import BacktestError

    # 52 weeks: a 6-week horizon fits one window of 8 training weeks but not 20 windows 4 weeks apart
    with pytest.raises(BacktestError, match=r"the data has 52 weeks: too few for 20 evaluation windows .*"
                       r"\(lower backtest.n_windows or step_weeks, or set backtest.short_panel: fewer_windows\)"):
        plan_cutoffs(panel.history, _config(panel, n_windows=20, step_weeks=4, short_panel="refuse"), H)
    # a 50-week horizon leaves no window at all: fewer windows would not help
    with pytest.raises(BacktestError, match=r"one window needs 58 weeks: lower panel.horizon_weeks or "
                       r"backtest.min_train_weeks, or bring more weeks"):
        plan_cutoffs(panel.history, _config(panel), 50)


@pytest.mark.slow
def test_blend_warmup_origins_feed_the_blend_only(panel):
    from darkhorse.core.config import ModelSpec

    specs = [ModelSpec(model="naive"), ModelSpec(model="moving_average", params={"window": 4})]
    base = run_backtest(_config(panel), history=panel.history, specs=specs, show_progress=False)
    assert base.metrics["windows_reduced"] is None  # every configured window fits: nothing reduced
    more = run_backtest(_config(panel, blend_warmup_windows=2), history=panel.history, specs=specs, show_progress=False)
    extra = [c for c, r in more.cutoffs if r == "blend_warmup"]
    assert len(extra) == 2
    # no hot-seller scores at the blend-only origins; the same scorers at every other origin
    assert not more.hot_sellers[CUTOFF].isin(extra).any()
    assert set(more.hot_sellers[CUTOFF]) == set(base.hot_sellers[CUTOFF])
    # the members' forecasts at shared origins are the same; the blend learned from more rows
    shared = more.forecasts[~more.forecasts[CUTOFF].isin(extra)].reset_index(drop=True)
    pd.testing.assert_series_equal(shared["naive"], base.forecasts["naive"])
    first_eval = min(c for c, r in base.cutoffs if r == "eval")
    n = {name: r.blend_weights.loc[r.blend_weights[CUTOFF] == first_eval, "n_points"].sum()
         for name, r in (("base", base), ("more", more))}
    assert n["more"] > n["base"] > 0
    # metrics cover the evaluation origins only, in both runs
    assert more.metrics["windows"][:2] == [{"cutoff": str(c.date()), "role": "blend_warmup"} for c in extra]


def test_the_classifier_reads_no_blend_only_forecasts_in_the_backtest_nor_at_the_final_fit(panel, monkeypatch):
    """Both callers of the hot-seller classifier hand it the earlier origins' forecasts less the
    blend-only ones (`classifier_forecasts`), so the backtest measures the classifier that ships."""
    from darkhorse.core.config import ModelSpec
    from training import hot_sellers as hs
    from training.train import fit_final

    seen: list[tuple[pd.Timestamp, set]] = []
    real = hs.origin_scores  # the backtest's score_origin and the final fit both score through it

    def spy(train, forecast, labels, *, cutoff, earlier_forecasts=None, **kw):
        frames = earlier_forecasts if isinstance(earlier_forecasts, list) else [earlier_forecasts]
        seen.append((cutoff, {c for f in frames for c in f[CUTOFF].unique()}))
        return real(train, forecast, labels, cutoff=cutoff, earlier_forecasts=earlier_forecasts, **kw)

    monkeypatch.setattr(hs, "origin_scores", spy)
    specs = [ModelSpec(model="naive"), ModelSpec(model="moving_average", params={"window": 4})]
    cfg = _config(panel, blend_warmup_windows=2).model_copy(
        update={"forecast": load_config(REPO / "darkhorse.yaml").forecast.model_copy(update={"models": specs})})
    bt = run_backtest(cfg, history=panel.history, specs=specs, show_progress=False)
    blend_only = {c for c, r in bt.cutoffs if r == "blend_warmup"}
    scored = [c for c, r in bt.cutoffs if r != "blend_warmup"]
    assert len(blend_only) == 2 and [c for c, _ in seen] == scored
    # each scored origin read every earlier scored origin's forecasts and no blend-only one's
    for c, read in seen:
        assert read == {s for s in scored if s < c}
    seen.clear()
    fit_final(cfg, panel.history, bt.forecasts, show_progress=False, hot_sellers=bt.hot_sellers)
    assert len(seen) == 1 and seen[0][1] == set(scored) and not seen[0][1] & blend_only


def test_a_member_waits_for_a_panel_that_spans_its_min_history_weeks(panel, tmp_path):
    """A member with `min_history_weeks` over the panel's span sits out the backtest, the blend,
    the growth blend and the final fit alike, and the metrics and the report say why; at the
    panel's span it is fitted everywhere."""
    from darkhorse.core.config import ModelSpec
    from training.train import fit_final

    weeks = panel.history.n_weeks
    assert weeks == int((panel.history.last_week - panel.history.first_week) / WEEK) + 1
    for need, fitted in ((weeks + 1, False), (weeks, True)):
        specs = [ModelSpec(model="naive"), ModelSpec(model="moving_average", params={"window": 4}),
                 ModelSpec(model="moving_average", alias="ma_long", params={"window": 26}, min_history_weeks=need)]
        cfg = _config(panel).model_copy(
            update={"forecast": load_config(REPO / "darkhorse.yaml").forecast.model_copy(update={"models": specs})})
        bt = run_backtest(cfg, history=panel.history, show_progress=False)
        assert ("ma_long" in bt.models) is fitted
        assert ("ma_long" in bt.forecasts.columns) is fitted
        assert ("ma_long" in set(bt.blend_weights["model"])) is fitted
        assert ("ma_long" in bt.metrics["contributions"]) is fitted
        left = bt.metrics["members_left_out"]
        assert left == ({} if fitted else {"ma_long": f"the panel spans {weeks} weeks, under its min_history_weeks {need}"})
        # the customer-demand bench's table: the fitted members and the blend (a member left out
        # has no metrics: it raised KeyError there before)
        rows = bench_customer_demand.table(bt.metrics, specs)
        assert [r["model"] for r in rows] == ["naive", "moving_average", *(["ma_long"] if fitted else []), BLEND]
        assert all(r["MASE"] == bt.metrics["models"][r["model"]]["mase"] for r in rows)
        blend, *_ = fit_final(cfg, panel.history, bt.forecasts, show_progress=False, hot_sellers=bt.hot_sellers)
        assert set(blend.members_) == ({"naive", "moving_average", "ma_long"} if fitted else {"naive", "moving_average"})
        html = (write_outputs(bt, tmp_path / str(need)) / "report.html").read_text(encoding="utf-8")
        assert ("ma_long is not fitted on this panel: the panel spans" in html) is not fitted


def test_a_short_panel_s_backtest_says_it_ran_fewer_windows(panel, tmp_path):
    """Windows 20 weeks apart: 52 weeks hold two of three evaluation windows and no warm-up; the
    run scores both, and metrics.json and the report say why the third is missing. The first has
    no earlier origin: its blend is each row's median of the members."""
    from darkhorse.core.config import ModelSpec

    specs = [ModelSpec(model="naive"), ModelSpec(model="moving_average", params={"window": 4}),
             ModelSpec(model="moving_average", alias="ma13", params={"window": 13})]
    bt = run_backtest(_config(panel, n_windows=3, step_weeks=20), history=panel.history, specs=specs,
                      show_progress=False)
    assert [r for _, r in bt.cutoffs] == ["eval", "eval"]
    assert bt.forecasts[CUTOFF].nunique() == 2
    first_choice, second_choice = (c["choice"] for c in bt.metrics["blend_choice"])
    assert first_choice == "median" != second_choice
    first = bt.forecasts[bt.forecasts[CUTOFF] == bt.forecasts[CUTOFF].min()]
    np.testing.assert_allclose(first["blend"], first[["naive", "moving_average", "ma13"]].median(axis=1))
    assert "it holds 2 of the 3 evaluation windows" in bt.metrics["windows_reduced"]
    html = (write_outputs(bt, tmp_path) / "report.html").read_text(encoding="utf-8")
    assert "Fewer evaluation windows than configured: the panel spans 52 weeks" in html
    assert "At 1 of 2 evaluation origins no earlier origin was there to learn the blend weights from" in html


def test_a_panel_too_short_for_every_member_is_refused_by_name(panel):
    from darkhorse.core.config import ModelSpec
    from training.backtest import BacktestError

    specs = [ModelSpec(model="naive", min_history_weeks=500)]
    with pytest.raises(BacktestError, match=r"no member can be fitted on this panel: naive: the panel spans \d+ weeks"):
        run_backtest(_config(panel), history=panel.history, specs=specs, show_progress=False)
    # the one member the blend would weigh sits out: the member kept out of the blend cannot stand in
    specs = [ModelSpec(model="naive", min_history_weeks=500), ModelSpec(model="seasonal_naive", blend=False)]
    with pytest.raises(BacktestError, match=r"no member this panel fits feeds the blend: naive: the panel spans \d+ weeks"):
        run_backtest(_config(panel), history=panel.history, specs=specs, show_progress=False)


@pytest.mark.slow
def test_scoring_the_blend_warmup_origins_gives_the_final_ranking_more_labelled_origins(panel):
    from darkhorse.core.config import ModelSpec

    specs = [ModelSpec(model="naive"), ModelSpec(model="moving_average", params={"window": 4})]
    base = run_backtest(_config(panel, blend_warmup_windows=2), history=panel.history, specs=specs, show_progress=False)
    more = run_backtest(_config(panel, blend_warmup_windows=2, score_blend_warmup=True), history=panel.history,
                        specs=specs, show_progress=False)
    extra = [c for c, r in more.cutoffs if r == "blend_warmup"]
    assert set(more.hot_sellers[CUTOFF]) == set(base.hot_sellers[CUTOFF]) | set(extra)
    # the forecasts are the same; at the last origin the final ranking learned from more origins
    pd.testing.assert_frame_equal(more.forecasts, base.forecasts)
    last = str(max(c for c, _ in more.cutoffs).date())
    origins = {name: r.metrics["model_info"]["hot_sellers"][last]["origins"] for name, r in (("base", base), ("more", more))}
    assert set(origins["base"]) < set(origins["more"])
    assert {str(c.date()) for c in extra} & set(origins["more"])


def test_a_member_kept_out_of_the_blend_is_fitted_and_reported_but_never_blended(panel, tmp_path):
    """`blend: false`: the member is backtested, scored and fitted at the final fit (its forecasts
    feed the growth blend and the classifier), but the blend, its weights and the release's
    forecaster are exactly those of the panel without it; `contributions` says what adding it
    would have done, and the report marks it."""
    from darkhorse.core.config import ModelSpec
    from training.backtest import write_outputs
    from training.hot_sellers import GROWTH_BLEND
    from training.train import fit_final

    base = [ModelSpec(model="naive"), ModelSpec(model="moving_average", params={"window": 4})]
    out = ModelSpec(model="moving_average", alias="ma_long", params={"window": 26}, blend=False)
    runs = {}
    for name, specs in (("without", base), ("kept_out", [*base, out])):
        cfg = _config(panel).model_copy(
            update={"forecast": load_config(REPO / "darkhorse.yaml").forecast.model_copy(update={"models": specs})})
        runs[name] = (cfg, run_backtest(cfg, history=panel.history, show_progress=False))
    (_, plain), (cfg, bt) = runs["without"], runs["kept_out"]
    assert "ma_long" in bt.models and "ma_long" in bt.metrics["models"]
    assert "ma_long" not in set(bt.blend_weights["model"])
    blend_cols = [c for c in plain.forecasts.columns if c == "blend" or c.startswith("blend-")]
    pd.testing.assert_frame_equal(bt.forecasts[blend_cols], plain.forecasts[blend_cols])
    assert bt.metrics["models"]["blend"] == plain.metrics["models"]["blend"]
    # growth reads naive, moving_average and ma_long: no longer the blend's members
    assert GROWTH_BLEND in bt.forecasts.columns and GROWTH_BLEND not in plain.forecasts.columns
    c = bt.metrics["contributions"]["ma_long"]
    assert c["in_blend"] is False and "mase_without" not in c
    assert c["delta"] == pytest.approx(bt.metrics["models"]["blend"]["mase"] - c["mase_with"])
    assert bt.metrics["contributions"]["naive"]["in_blend"] is True
    blend, *_ = fit_final(cfg, panel.history, bt.forecasts, show_progress=False, hot_sellers=bt.hot_sellers)
    assert set(blend.members_) == {"naive", "moving_average"}
    html = (write_outputs(bt, tmp_path / "kept_out") / "report.html").read_text(encoding="utf-8")
    assert "with it (kept out)" in html
