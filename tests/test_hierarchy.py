"""The item x region hierarchy: summing matrix, MinT-shrink against its textbook formulas,
coherence of means, quantiles and sample paths, and the per-level backtest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training import hierarchy as H


def _panel(seed: int = 0, weeks: int = 30) -> pd.DataFrame:
    """4 items x 4 regions of noisy weekly units, correlated within a region."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01")
    rows = []
    region_shock = rng.normal(0, 3, size=(4, weeks))
    for i, item in enumerate(["a", "b", "c", "d"]):
        for r, region in enumerate(["UK", "FR", "DE", "NL"]):
            level = (40 - 8 * i) * (1.0 - 0.2 * r)
            y = np.maximum(level + region_shock[r] + rng.normal(0, 4, size=weeks), 0).round()
            rows += [(item, region, start + pd.Timedelta(weeks=t), float(y[t])) for t in range(weeks)]
    return pd.DataFrame(rows, columns=["item_id", "region", "week_start", "units"])


def test_summing_matrix_adds_items_regions_and_the_rest():
    panel = _panel()
    h = H.build(panel, top_items=3, top_regions=2)
    keys = h.keys.set_index("unique_id")
    assert list(h.keys["level"].unique()) == [lv for lv in H.LEVELS if lv != "category"]  # no category named
    assert "category" not in h.keys
    # top 3 items by units, top 2 regions, the other two summed into OTHER
    assert set(keys.loc[keys["level"] == "item", "item_id"]) == {"a", "b", "c"}
    assert set(keys.loc[keys["level"] == "region", "region"]) == {"UK", "FR", H.OTHER}
    assert h.S.shape == (1 + 3 + 3 + 9, 9)
    row = dict(zip(h.keys["unique_id"], h.values, strict=True))
    wk = panel.pivot_table(index="week_start", columns=["item_id", "region"], values="units")
    np.testing.assert_allclose(row["a"], wk["a"].sum(axis=1).to_numpy())
    np.testing.assert_allclose(row["b@" + H.OTHER], (wk[("b", "DE")] + wk[("b", "NL")]).to_numpy())
    np.testing.assert_allclose(row[H.TOTAL], wk[["a", "b", "c"]].sum(axis=1).to_numpy())
    assert H.coherence_gap(h.S, h.values) == 0.0


def test_items_are_chosen_with_the_history_only():
    panel = _panel()
    late = panel["week_start"] >= pd.Timestamp("2024-04-01")
    panel.loc[late & (panel["item_id"] == "d"), "units"] += 10_000  # d sells only later
    early = H.build(panel, top_items=1, top_regions=4, end_week="2024-03-25")
    full = H.build(panel, top_items=1, top_regions=4)
    assert set(early.keys["item_id"].dropna()) == {"a"}
    assert set(full.keys["item_id"].dropna()) == {"d"}


def test_shrinkage_matches_the_schafer_strimmer_formula():
    rng = np.random.default_rng(3)
    common = rng.normal(size=40)
    resid = np.vstack([common + rng.normal(scale=s, size=40) for s in (0.5, 1.0, 2.0, 3.0)])
    W, lam = H.shrunk_covariance(resid)
    n, T = resid.shape
    x = resid - resid.mean(axis=1, keepdims=True)
    sd = x.std(axis=1, ddof=1)
    z = x / sd[:, None]
    r = np.corrcoef(resid)
    num = den = 0.0
    for i in range(n):
        for j in range(n):
            if i != j:
                w = z[i] * z[j]
                num += T / (T - 1) ** 3 * np.sum((w - w.mean()) ** 2)
                den += r[i, j] ** 2
    assert lam == pytest.approx(num / den)
    assert 0 < lam < 1
    want = (1 - lam) * r + lam * np.eye(n)
    np.testing.assert_allclose(W, want * np.outer(sd, sd))
    assert np.all(np.linalg.eigvalsh(W) > 0)


@pytest.mark.parametrize("method", H.METHODS)
def test_projection_is_unbiased_and_mint_is_the_gls_formula(method):
    h = H.build(_panel(), top_items=3, top_regions=3)
    _, _, resid = H.base_forecasts(h.values, h=4, quantiles=[0.1, 0.5, 0.9])
    P = H.projection(h.S, method, resid)
    np.testing.assert_allclose(P @ h.S, np.eye(h.S.shape[1]), atol=1e-8)  # coherent stays put
    if method == "mint_shrink":
        Winv = np.linalg.inv(H.shrunk_covariance(resid)[0])
        want = np.linalg.inv(h.S.T @ Winv @ h.S) @ h.S.T @ Winv
        np.testing.assert_allclose(P, want, atol=1e-8)
    else:
        assert (P[:, : len(h.keys) - h.S.shape[1]] == 0).all()


def test_reconciled_means_quantiles_and_paths_add_up():
    h = H.build(_panel(), top_items=4, top_regions=3)
    qs = [0.1, 0.5, 0.9]
    mean, quant, resid = H.base_forecasts(h.values, h=6, quantiles=qs)
    assert H.coherence_gap(h.S, mean) > 1.0  # the base forecasts do not add up
    P = H.projection(h.S, "mint_shrink", resid)
    rmean, rquant = H.reconcile(h.S, P, mean, quant)
    assert H.coherence_gap(h.S, rmean) < 1e-9
    assert H.coherence_gap(h.S, rquant) < 1e-9
    assert (np.diff(rquant, axis=2) >= 0).all() and (rquant >= 0).all()
    paths = H.reconciled_paths(h.S, P, mean, resid, paths=200, seed=1)
    assert H.coherence_gap(h.S, np.moveaxis(paths, 0, 1)) < 1e-9
    pq = H.path_quantiles(paths, qs)
    assert (np.diff(pq, axis=2) >= 0).all()
    # the spread of the paths grows with the step
    width = (pq[..., 2] - pq[..., 0]).mean(axis=0)
    assert width[-1] > width[0]


def test_forecast_frame_long_format():
    out = H.forecast_frame(_panel(), top_items=2, top_regions=2, horizon=3, quantiles=[0.1, 0.5, 0.9],
                           method="mint_shrink", end_week="2024-06-24")
    assert out["ds"].min() == pd.Timestamp("2024-07-01") and out["ds"].nunique() == 3
    assert {"unique_id", "level", "item_id", "region", "mean", "q0.1", "q0.5", "q0.9"} <= set(out.columns)
    wide = out.pivot(index="unique_id", columns="ds", values="q0.9")
    kids = out[out["level"] == "item_region"].groupby("ds")["q0.9"].sum()
    np.testing.assert_allclose(wide.loc[H.TOTAL].to_numpy(), kids.to_numpy())


def test_backtest_reports_every_level_and_coherence():
    table, gaps = H.backtest(_panel(weeks=40), top_items=3, top_regions=3, horizon=4, windows=2, paths=200)
    assert set(table["level"]) == set(H.LEVELS) - {"category"}
    assert set(table["method"]) == {"base", *H.METHODS}
    assert table["mase"].between(0, 10).all()
    assert gaps["base"] > 0
    assert max(v for k, v in gaps.items() if k != "base") < 1e-9
    # bottom-up leaves the bottom level's forecasts as they were
    bottom = table[table["level"] == "item_region"].set_index("method")["mase"]
    assert bottom["bottom_up"] == pytest.approx(bottom["base"])


def test_a_panel_without_regions_is_refused():
    with pytest.raises(H.HierarchyError, match="no rows"):
        H.build(_panel().iloc[:0], top_items=2, top_regions=2)
    with pytest.raises(H.HierarchyError, match="unknown method"):
        H.projection(np.ones((1, 1)), "top_down")


def test_a_category_column_adds_a_category_level_that_adds_up():
    panel = _panel(weeks=40)
    panel["category"] = panel["item_id"].map({"a": "cards", "b": "cards", "c": "gifts"})  # d: none named
    h = H.build(panel, top_items=4, top_regions=2)
    assert list(h.keys["level"].unique()) == list(H.LEVELS)
    cats = h.keys[h.keys["level"] == "category"]
    assert list(cats["unique_id"]) == ["#cards", "#gifts", "#" + H.OTHER]
    row = dict(zip(h.keys["unique_id"], h.values, strict=True))
    np.testing.assert_allclose(row["#cards"], row["a"] + row["b"])
    np.testing.assert_allclose(row["#" + H.OTHER], row["d"])
    assert h.keys.set_index("unique_id").loc["c@UK", "category"] == "gifts"
    np.testing.assert_allclose(row[H.TOTAL], sum(row[c] for c in cats["unique_id"]))
    assert H.coherence_gap(h.S, h.values) == 0.0
    # the backtest reports the category level, before and after reconciliation, coherent
    table, gaps = H.backtest(panel, top_items=4, top_regions=2, horizon=4, windows=2, paths=100)
    assert set(table["level"]) == set(H.LEVELS)
    cat = table[table["level"] == "category"].set_index("method")
    assert set(cat.index) == {"base", *H.METHODS} and (cat["series"] == 3).all()
    assert max(v for k, v in gaps.items() if k != "base") < 1e-9
    out = H.forecast_frame(panel, top_items=4, top_regions=2, horizon=2, quantiles=[0.5], method="mint_shrink")
    wide = out.pivot(index="unique_id", columns="ds", values="mean")
    np.testing.assert_allclose(wide.loc["#cards"].to_numpy(), (wide.loc["a"] + wide.loc["b"]).to_numpy())


# ----------------------------------------------------------------------- bottom members
def _distances(km: dict[tuple[str, str], float], regions: list[str]) -> pd.DataFrame:
    rows = [(a, b, 0.0 if a == b else km.get((a, b), km.get((b, a)))) for a in regions for b in regions]
    return pd.DataFrame(rows, columns=["region", "other_region", "distance_km"])


def test_the_neighbour_member_weighs_other_regions_by_distance():
    dist = _distances({("UK", "FR"): 500.0, ("UK", "DE"): 1000.0, ("FR", "DE"): 800.0}, ["UK", "FR", "DE"])
    keys = pd.DataFrame({"item_id": ["a", "a", "a", "a", "b", "b", "b", "b"],
                         "region": ["UK", "FR", "DE", H.OTHER] * 2})
    level = np.array([10.0, 4.0, 2.0, 3.0, 30.0, 2.0, 6.0, 1.0])
    hist = np.repeat(level[:, None], 8, axis=1)
    got = H.neighbour_member(dist, scale_km=1000.0)(keys, hist, pd.Timestamp("2024-03-04"))
    L = {(i, r): v for i, r, v in zip(keys["item_id"], keys["region"], level, strict=True)}
    total = {r: L[("a", r)] + L[("b", r)] for r in ("UK", "FR", "DE")}
    w = {("UK", "FR"): np.exp(-0.5), ("UK", "DE"): np.exp(-1.0), ("FR", "DE"): np.exp(-0.8)}
    for k, (i, r) in enumerate(zip(keys["item_id"], keys["region"], strict=True)):
        if r == H.OTHER:  # no coordinates: its own level, never a distance of zero
            assert got[k] == L[(i, r)]
            continue
        others = [o for o in ("UK", "FR", "DE") if o != r]
        ww = [w.get((r, o), w.get((o, r))) for o in others]
        want = total[r] * sum(x * L[(i, o)] for x, o in zip(ww, others, strict=True)) / sum(
            x * total[o] for x, o in zip(ww, others, strict=True))
        assert got[k] == pytest.approx(want)
    # a region whose distances are unknown keeps its own level too
    unknown = dist.assign(distance_km=np.where(dist["region"].eq("DE") | dist["other_region"].eq("DE"), np.nan,
                                               dist["distance_km"]))
    de = H.neighbour_member(unknown)(keys, hist, pd.Timestamp("2024-03-04"))
    assert de[2] == 2.0 and de[6] == 6.0
    with pytest.raises(H.HierarchyError, match="distance_km"):
        H.distance_matrix(dist.drop(columns="distance_km"), ["UK"])


def test_members_enter_the_bottom_and_stay_coherent_and_see_only_the_history():
    panel = _panel(weeks=40)
    seen = []

    def recording(keys, hist, origin):
        weeks = pd.date_range(panel["week_start"].min(), periods=hist.shape[1], freq="7D")
        seen.append((origin, weeks[-1], hist.shape, list(keys.columns)))
        return np.full(len(keys), 1000.0)  # far above every series: it must move the bottom

    table, gaps = H.backtest(panel, top_items=3, top_regions=3, horizon=4, windows=2, paths=100,
                             members={"level": H.level_member(), "flood": recording})
    assert set(table["member"]) == {"none", "level", "flood"}
    assert max(v for k, v in gaps.items() if not k.endswith("base")) < 1e-9
    assert [o - last for o, last, _, _ in seen] == [pd.Timedelta(weeks=1)] * 2  # the origin follows the history
    assert [o for o, *_ in seen] == [pd.Timestamp("2024-08-12"), pd.Timestamp("2024-09-09")]  # weeks 32 and 36 of 40
    assert seen[0][3] == ["item_id", "region"] and seen[0][2] == (12, 32)
    mase = table.set_index(["level", "member", "method"])["mase"]
    assert mase[("item_region", "flood", "base")] > 5 * mase[("item_region", "none", "base")]
    # weight 0: the members change nothing
    zero, _ = H.backtest(panel, top_items=3, top_regions=3, horizon=4, windows=2, paths=100,
                         members={"flood": recording}, member_weight=0.0)
    z = zero.set_index(["level", "member", "method"])["mase"]
    for level in ("total", "item", "item_region"):
        assert z[(level, "flood", "mint_shrink")] == pytest.approx(z[(level, "none", "mint_shrink")])
    with pytest.raises(H.HierarchyError, match="member_weight"):
        H.backtest(panel, top_items=3, top_regions=3, horizon=4, windows=2, member_weight=2.0)
