"""Every reported number on cases small enough to compute by hand (values in the comments).

Metrics (sMAPE, pinball, naive scale, MASE, scaled pinball, WAPE, coverage, the zero-scale
series, average precision, precision/recall at the top, Brier), the momentum score and the
hot-seller classifier's prior-shift correction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.hot_sellers.classifier import HotSellerClassifier
from training.hot_sellers.features import momentum
from training.metrics import (
    average_precision,
    naive_scale,
    paired_difference,
    pinball,
    ranking_metrics,
    series_metrics,
    smape,
    summarize,
    top_fraction,
)

C1, C2 = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-29")


def test_smape_by_hand():
    # |0-0| -> 0 (both zero), 200*5/15, 200*2/10, 200*4/4 (forecast 0 of 4: the maximum)
    got = smape(np.array([0.0, 10.0, 4.0, 4.0]), np.array([0.0, 5.0, 6.0, 0.0]))
    np.testing.assert_allclose(got, [0.0, 200 / 3, 40.0, 200.0])


def test_pinball_by_hand():
    # level 0.9: under-forecast by 2 costs 0.9*2, over-forecast by 2 costs 0.1*2
    np.testing.assert_allclose(pinball(np.array([10.0, 10.0]), np.array([8.0, 12.0]), 0.9), [1.8, 0.2])
    np.testing.assert_allclose(pinball(np.array([10.0, 10.0]), np.array([8.0, 12.0]), 0.1), [0.2, 1.8])


def _history() -> pd.DataFrame:
    rows = {"a": [1, 3, 2, 2], "b": [5, 5, 5], "c": [7], "d": [0, 3, 0]}
    return pd.DataFrame(
        [(k, pd.Timestamp("2023-10-02") + pd.Timedelta(weeks=i), float(v)) for k, vs in rows.items() for i, v in enumerate(vs)],
        columns=["unique_id", "ds", "y"],
    )


def test_naive_scale_by_hand():
    # a: |2|,|1|,|0| -> 1; b: flat -> 0; c: one week -> no scale; d: 3, 3 -> 3
    sc = naive_scale(_history())
    assert sc["a"] == 1.0 and sc["b"] == 0.0 and np.isnan(sc["c"]) and sc["d"] == 3.0


def _forecasts() -> tuple[pd.DataFrame, pd.DataFrame]:
    def rows(cutoff, item, y, f, lo, hi):
        return [
            {"unique_id": item, "cutoff": cutoff, "ds": cutoff + pd.Timedelta(weeks=k + 1), "y": y[k], "m": f[k],
             "m-q10": lo[k], "m-q50": f[k], "m-q90": hi[k]}
            for k in range(2)
        ]

    data = []
    for cutoff in (C1, C2):
        data += rows(cutoff, "a", [2, 4], [3, 3], [1, 1], [5, 3.5])
        data += rows(cutoff, "d", [3, 0], [0, 0], [0, 0], [0, 0])
    data += rows(C1, "b", [5, 7], [5, 5], [5, 5], [5, 5])
    data += rows(C1, "c", [0, 0], [1, 1], [1, 1], [1, 1])
    fc = pd.DataFrame(data)
    sc = naive_scale(_history()).rename("scale").reset_index()
    scale = pd.concat([sc.assign(cutoff=C1), sc[sc["unique_id"].isin(["a", "d"])].assign(cutoff=C2)])
    return fc, scale


def test_series_metrics_by_hand():
    fc, scale = _forecasts()
    g = series_metrics(fc, "m", [0.1, 0.5, 0.9], scale).set_index(["unique_id", "cutoff"])
    a = g.loc[("a", C1)]
    # a: errors 1, 1 -> MAE 1, scale 1 -> MASE 1; y=2 in [1, 5], y=4 above 3.5 -> coverage 0.5
    assert a["mae"] == 1.0 and a["mase"] == 1.0 and a["coverage_80"] == 0.5
    # pinball, row 1 (y=2): q10 0.1*1, q50 0.5*1, q90 0.1*3 -> 0.9/3; row 2 (y=4): 0.3, 0.5, 0.45
    assert a["scaled_pinball"] == pytest.approx((0.9 / 3 + 1.25 / 3) / 2)
    assert a["wape"] == pytest.approx(2 / 6) and a["rmse"] == 1.0
    # d: errors 3, 0 -> MAE 1.5 over scale 3
    assert g.loc[("d", C1), "mase"] == 0.5
    # b (flat history, scale 0) and c (one week, no scale) have no MASE; their MAE (1 each) is
    # reported over the panel's mean scale at C1, (1 + 3) / 2 = 2
    for item in ("b", "c"):
        assert np.isnan(g.loc[(item, C1), "mase"])
        assert g.loc[(item, C1), "mase_unscaled"] == 0.5
    assert np.isnan(g.loc[("a", C1), "mase_unscaled"])


def test_summary_counts_series_and_reports_the_unscaled_ones():
    fc, scale = _forecasts()
    s = summarize(series_metrics(fc, "m", [0.1, 0.5, 0.9], scale))
    # four (series, window) rows have a MASE (a and d twice): two series, not four rows
    assert s["n_series"] == 4 and s["n_series_scaled"] == 2 and s["n_series_unscaled"] == 2
    assert s["mase"] == pytest.approx((1 + 0.5 + 1 + 0.5) / 4)
    assert s["mase_unscaled"] == 0.5
    # coverage: a 0.5 twice, d 1/2 twice (y=3 above [0, 0]; y=0 inside), b 1/2 (5 in, 7 out), c 0
    assert s["coverage_80"] == pytest.approx((0.5 * 2 + 0.5 * 2 + 0.5 + 0.0) / 6)
    # pooled WAPE: |e| sums 2+3 per cutoff for a, d, then 2 (b), 2 (c); |y| sums 6+3 twice, 12, 0
    assert s["wape"] == pytest.approx((5 + 5 + 2 + 2) / (9 + 9 + 12))


def test_average_precision_and_top_fraction_by_hand():
    score = np.array([0.9, 0.8, 0.7, 0.6])
    label = np.array([1.0, 0.0, 1.0, 0.0])
    # hits at ranks 1 and 3: precision 1/1 and 2/3, averaged over the 2 positives
    assert average_precision(score, label) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision(score, np.zeros(4)) is None
    # the reversed ranking: hits at ranks 2 and 4 -> (1/2 + 2/4) / 2
    assert average_precision(-score, label) == pytest.approx(0.5)
    # top half (k = 2): one hit of two, one of the two positives
    assert top_fraction(score, label, 0.5) == (0.5, 0.5)
    # top quarter (k = 1): the first item, a hit
    assert top_fraction(score, label, 0.25) == (1.0, 0.5)


def test_tied_scores_count_as_one_threshold_whatever_the_row_order():
    # scores 0.9 (a hit), then three items tied at 0.5 (one hit), then 0.1 (a hit)
    score = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    label = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    # the tied hit takes the precision at the group's end: 2 of 4; the last hit 3 of 5
    want = (1 + 2 / 4 + 3 / 5) / 3
    assert average_precision(score, label) == pytest.approx(want)
    moved = np.array([0, 3, 1, 2, 4])  # the tied hit's row first among its group
    assert average_precision(score[moved], label[moved]) == pytest.approx(want)
    # row order: the hit at rank 4 as its row comes, or at rank 2 when its row is first
    assert average_precision(score, label, ties="row") == pytest.approx((1 + 2 / 4 + 3 / 5) / 3)
    assert average_precision(score[moved], label[moved], ties="row") == pytest.approx((1 + 2 / 2 + 3 / 5) / 3)
    with pytest.raises(ValueError, match="ties"):
        average_precision(score, label, ties="random")
    # top 40% (k = 2): the 0.9 hit, then one place of the three tied items, one of them a hit: 1 + 1/3
    for rows in (np.arange(5), moved):
        p, r = top_fraction(score[rows], label[rows], 0.4)
        assert p == pytest.approx((1 + 1 / 3) / 2)
        assert r == pytest.approx((1 + 1 / 3) / 3)


def test_ranking_metrics_brier_only_for_probabilities():
    s = [0.9, 0.8, 0.7, 0.6]
    lab = [1.0, 0.0, 1.0, 0.0]
    df = pd.DataFrame(
        [{"unique_id": str(i), "cutoff": C1, "model": m, "score": sc, "label": lb}
         for m, ss in (("classifier", s), ("final", s), ("momentum", s[::-1]))
         for i, (sc, lb) in enumerate(zip(ss, lab, strict=True))]
    )
    out = ranking_metrics(df, fraction=0.5)
    # (0.1^2 + 0.8^2 + 0.3^2 + 0.6^2) / 4
    assert out["classifier"]["brier"] == pytest.approx(1.1 / 4)
    # `final` is a ranking score: within [0, 1] here, and still no Brier
    assert out["final"]["brier"] is None and out["momentum"]["brier"] is None
    # momentum's reversed scores put items 3, 2 on top: one hit of two, the same precision
    assert out["final"]["lift_vs_momentum"] == pytest.approx(1.0)
    assert out["classifier"]["average_precision"] == pytest.approx((1 + 2 / 3) / 2)


def test_momentum_by_hand():
    # 16 weeks: 12 weeks of 2 units, then 4 weeks of 6 -> 6 / 2 = 3; a second item with no
    # history before its last 4 weeks uses the floor 1: mean 0.5 / 1
    a = [2.0] * 12 + [6.0] * 4
    b = [0.0, 1.0, 0.0, 1.0]
    ds = pd.date_range("2024-01-01", periods=16, freq="7D")
    df = pd.DataFrame({"unique_id": ["a"] * 16 + ["b"] * 4, "ds": [*ds, *ds[-4:]], "y": a + b})
    got = momentum(df)
    assert got["a"] == pytest.approx(3.0)
    assert got["b"] == pytest.approx(0.5)


def test_classifier_probabilities_are_mapped_back_to_the_base_rate():
    """One binary feature, positives 10% where it is 0 and 50% where it is 1 (overall 30%):
    trained with scale_pos_weight = 70/30, the raw probabilities are inflated; the prior-shift
    correction (odds / weight) must give back 0.10 and 0.50."""
    n = 2000
    x = np.repeat([0.0, 1.0], n // 2)
    y = np.zeros(n)
    y[: n // 20] = 1.0  # 100 of the 1,000 rows with x = 0
    y[n // 2: n // 2 + n // 4] = 1.0  # 500 of the 1,000 rows with x = 1
    ds = pd.Timestamp("2024-01-01")
    feats = pd.DataFrame({"unique_id": [f"i{k}" for k in range(n)], "ds": ds, "x": x})
    labels = pd.DataFrame({"unique_id": feats["unique_id"], "ds": ds, "label": y})
    clf = HotSellerClassifier(n_estimators=200, max_depth=1, learning_rate=0.3, subsample=1.0,
                              colsample_bytree=1.0, min_child_weight=0).fit(feats, labels)
    assert clf.weight_ == pytest.approx(1400 / 600)
    p = clf.predict_proba(pd.DataFrame({"unique_id": ["lo", "hi"], "x": [0.0, 1.0]}))
    assert p["lo"] == pytest.approx(0.10, abs=0.01)
    assert p["hi"] == pytest.approx(0.50, abs=0.01)
    # without the correction the model would say 0.206 and 0.7 (odds times 7/3)
    raw = clf.model_.predict_proba(pd.DataFrame({"x": [0.0]}))[0, 1]
    assert raw == pytest.approx(0.1 * 7 / 3 / (0.9 + 0.1 * 7 / 3), abs=0.02)


def test_paired_difference_is_clustered_by_series():
    """Blend minus member on rows (series, window): s1 differs by -1 and -3, s2 by +1 and +1,
    s3 by 0 (its second window has no member MASE: dropped). Mean over the 5 rows -0.4;
    residuals summed per series: s1 (-1 + 0.4) + (-3 + 0.4) = -3.2, s2 1.4 + 1.4 = 2.8,
    s3 0 + 0.4 = 0.4; se = sqrt((3.2^2 + 2.8^2 + 0.4^2) * 3/2) / 5 = sqrt(27.36) / 5 = 1.04614."""
    rows = []
    for sid, cutoff, member, blend in [("s1", 1, 4.0, 3.0), ("s1", 2, 5.0, 2.0), ("s2", 1, 2.0, 3.0),
                                       ("s2", 2, 2.0, 3.0), ("s3", 1, 1.0, 1.0), ("s3", 2, np.nan, 7.0)]:
        rows += [{"unique_id": sid, "cutoff": cutoff, "model": "member", "mase": member},
                 {"unique_id": sid, "cutoff": cutoff, "model": "blend", "mase": blend}]
    per = pd.DataFrame(rows)
    d = paired_difference(per, "blend", "member")
    assert d["n_series"] == 3
    assert d["diff"] == pytest.approx(-0.4)
    assert d["se"] == pytest.approx(np.sqrt(27.36) / 5)
    assert d["pct"] == pytest.approx(100 * -0.4 / 2.8)  # the member's mean over the same 5 rows
    # a constant difference has no spread; one series alone has no standard error
    member = per[per["model"] == "member"].dropna()
    same = pd.concat([member, member.assign(model="blend", mase=member["mase"] + 0.5)])
    c = paired_difference(same, "blend", "member")
    assert c["diff"] == pytest.approx(0.5) and c["se"] == pytest.approx(0.0, abs=1e-12)
    assert paired_difference(per[per["unique_id"] == "s1"], "blend", "member") is None


def test_a_missing_score_ranks_last_with_the_other_missing_ones():
    score = np.array([np.nan, 0.9, np.nan, 0.1])
    label = np.array([1.0, 0.0, 0.0, 1.0])
    # ranked 0.9 (miss), 0.1 (hit), then the two missing scores tied (one hit): 1/2, then 2/4
    assert average_precision(score, label) == pytest.approx((1 / 2 + 2 / 4) / 2)
    # top half (k = 2): the two known scores, one hit; top 75% (k = 3): one place of the tied pair
    assert top_fraction(score, label, 0.5)[0] == pytest.approx(1 / 2)
    assert top_fraction(score, label, 0.75)[0] == pytest.approx((1 + 1 / 2) / 3)
