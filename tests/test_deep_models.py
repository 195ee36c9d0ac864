"""Deep and automated models: LSTM, TFT, AutoTS and the transformer hot-seller classifier.

The contract test (test_models_contract.py) already runs every registered model with its tiny
settings; this file checks what is particular to these models: weights stored as state_dicts and
read with `weights_only=True` (alone and inside a saved blend), deterministic CPU training,
the TFT's fallback for short series and its variable importance, AutoTS's interval mapping and
recorded choice, the device switch, the transformer classifier in the hot-seller ranking, and a
backtest with all of them that still sees nothing past its cutoffs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from training.models import create, model_class
from training.models.base import Forecaster

from .retail_frames import weekly_retail

H = 6


def _tiny(name: str, **over):
    return create(name, **{**model_class(name).test_params(), **over})


def _tp(name: str) -> dict:
    return model_class(name).test_params()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return weekly_retail(40)


def test_lstm_weights_are_a_state_dict_read_with_weights_only(frame, tmp_path):
    m = _tiny("lstm").fit(frame, horizon=H)
    out = m.predict(h=H)
    m.save(tmp_path / "m")
    assert not (tmp_path / "m" / "model.pkl").exists()
    state = torch.load(tmp_path / "m" / "net.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert json.loads((tmp_path / "m" / "info.json").read_text())["scaler"]["columns"] == []
    loaded = type(m).load(tmp_path / "m")
    pd.testing.assert_frame_equal(loaded.predict(h=H), out)


def test_training_is_deterministic_on_cpu(frame):
    a = _tiny("lstm").fit(frame, horizon=H).predict(h=H)
    b = _tiny("lstm").fit(frame, horizon=H).predict(h=H)
    pd.testing.assert_frame_equal(a, b)
    c = _tiny("lstm", seed=1).fit(frame, horizon=H).predict(h=H)
    assert not np.allclose(a["lstm"], c["lstm"])


def test_blend_with_deep_members_round_trips(frame, tmp_path):
    blend = create(
        "blend",
        members=[
            {"model": "naive"},
            {"model": "lstm", "params": _tp("lstm")},
            {"model": "autots", "params": _tp("autots")},
        ],
        inner_windows=2,
    ).fit(frame, horizon=H)
    out = blend.predict(h=H)
    blend.save(tmp_path / "blend")
    loaded = Forecaster.load(tmp_path / "blend")
    pd.testing.assert_frame_equal(loaded.predict(h=H), out)
    assert set(loaded.members_) == {"naive", "lstm", "autots"}
    # the pickled blend carries the LSTM as bytes of a state_dict, not a pickled torch module
    state = blend.members_["lstm"].__getstate__()
    assert isinstance(state["states"]["net"], bytes) and "net_" not in state


def test_tft_short_series_go_to_the_fallback(frame):
    short_ids = sorted(frame["unique_id"].unique())[:3]
    cut = frame[~frame["unique_id"].isin(short_ids) | (frame.groupby("unique_id").cumcount(ascending=False) < 2)]
    m = _tiny("tft").fit(cut, horizon=H)
    out = m.predict(h=H, quantiles=[0.1, 0.5, 0.9])
    assert m.n_fallback_ == 3 and set(m.short_ids_) == set(short_ids)
    assert out["unique_id"].nunique() == cut["unique_id"].nunique()  # nobody dropped
    fb = create("statquant", alias="fallback").fit(cut[["unique_id", "ds", "y"]]).predict(h=H)
    mine = out[out["unique_id"].isin(short_ids)].reset_index(drop=True)
    theirs = fb[fb["unique_id"].isin(short_ids)].reset_index(drop=True)
    np.testing.assert_allclose(mine["tft"], theirs["fallback"])
    np.testing.assert_allclose(mine["tft-q90"], theirs["fallback-q90"])


def test_tft_variable_importance_is_reported(frame, tmp_path):
    from training.report import VARIABLE_PLOT, write_report

    m = _tiny("tft").fit(frame, horizon=H)
    imp = m.feature_importance_
    for kind in ("static", "encoder", "decoder"):
        part = imp[imp.index.str.startswith(f"{kind}:")]
        assert len(part) and part.sum() == pytest.approx(1.0)
    assert "encoder:y_log" in imp.index and "decoder:cal_sin" in imp.index
    # the report draws it as its own plot
    fc = m.predict(h=H).assign(cutoff=frame["ds"].max(), window="eval", y=1.0)
    fc.to_parquet(tmp_path / "forecasts.parquet")
    (tmp_path / "metrics.json").write_text(json.dumps({"models": {"tft": {"mase": 1.0}}}))
    pd.DataFrame({"model": "tft", "feature": imp.index, "importance": imp.to_numpy()}).to_parquet(
        tmp_path / "feature_importance.parquet"
    )
    page = write_report(tmp_path).read_text()
    assert (tmp_path / "plots" / VARIABLE_PLOT).is_file()
    assert "Variable importance (TFT variable selection)" in page


def test_autots_maps_its_band_to_quantiles_and_records_its_choice(frame):
    m = _tiny("autots").fit(frame, horizon=H)
    assert m.fit_info_["best_model"] in _tp("autots")["model_list"]
    assert m.fit_info_["n_series_autots"] == 20 and m.n_fallback_ == frame["unique_id"].nunique() - 20
    out = m.predict(h=H, quantiles=[0.1, 0.25, 0.5, 0.9]).set_index("unique_id")
    i = list(m.last_ds_.index).index(pd.Index(m.last_ds_.index).difference(m.fallback_ids_)[0])
    sid = m.last_ds_.index[i]
    np.testing.assert_allclose(out.loc[sid, "autots-q10"], np.maximum(m.lower_[i, :H], 0))
    np.testing.assert_allclose(out.loc[sid, "autots-q90"], m.upper_[i, :H])
    np.testing.assert_allclose(out.loc[sid, "autots"], m.point_[i, :H])
    assert (out["autots-q25"] <= out["autots-q50"]).all()


def test_bad_params_name_the_field():
    with pytest.raises(ValueError, match="lookback"):
        create("lstm", lookback=0)
    with pytest.raises(ValueError, match="min_encoder_length"):
        create("tft", min_encoder_length=10, max_encoder_length=5)
    with pytest.raises(ValueError, match="max_generations"):
        create("autots", max_generations=-1)
    from training.hot_seller_transformer import TransformerHotSellerClassifier

    with pytest.raises(ValueError, match="n_heads"):
        TransformerHotSellerClassifier(d_model=30, n_heads=4)


def test_device_switch(monkeypatch):
    from training.device import lightning_accelerator

    monkeypatch.setenv("DARKHORSE_DEVICE", "cpu")
    assert lightning_accelerator("auto") == "cpu"
    monkeypatch.setenv("DARKHORSE_DEVICE", "auto")
    assert lightning_accelerator("auto") == "auto"
    assert lightning_accelerator("cpu") == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            lightning_accelerator("cuda")


def test_the_xgboost_device_check_does_not_import_torch_without_an_nvidia_driver():
    """The default members (XGBoost, theta) never need torch: where no NVIDIA driver shows a GPU,
    picking XGBoost's device must not pay torch's import (39 s on a cold disk cache)."""
    import subprocess
    import sys

    from training.device import _nvidia_driver

    if _nvidia_driver():
        pytest.skip("an NVIDIA driver is present: torch is asked")
    code = ("import sys; from training.device import xgboost_device; "
            "print(xgboost_device('auto'), 'torch' in sys.modules)")
    env = {**os.environ, "DARKHORSE_DEVICE": "auto"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.split() == ["cpu", "False"]
    env["DARKHORSE_DEVICE"] = "cuda"
    bad = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=Path(__file__).resolve().parents[1])
    assert bad.returncode != 0 and "no NVIDIA driver" in bad.stderr


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_lstm_trains_on_the_gpu(frame):
    m = _tiny("lstm", device="cuda").fit(frame, horizon=H)
    assert m.fit_info_["accelerator"] == "gpu"
    assert np.isfinite(m.predict(h=H)["lstm"]).all()


# --------------------------------------------------------------------------- hot sellers
def _labels(frame: pd.DataFrame, horizon: int = H) -> pd.DataFrame:
    g = frame.groupby("unique_id")["y"]
    past = g.transform(lambda v: v.rolling(4, min_periods=1).mean())
    future = g.transform(lambda v: v[::-1].rolling(horizon, min_periods=horizon).mean()[::-1].shift(-1))
    lab = pd.DataFrame({"unique_id": frame["unique_id"], "ds": frame["ds"], "growth_score": future / np.maximum(past, 1.0)})
    lab = lab[lab["growth_score"].notna()].copy()
    cut = lab.groupby("ds")["growth_score"].transform(lambda s: s.quantile(0.9))
    lab["label"] = (lab["growth_score"] > cut).astype(float)
    lab["label_available_at"] = (lab["ds"] + pd.Timedelta(weeks=horizon + 1)).dt.tz_localize("UTC")
    return lab.reset_index(drop=True)


TINY_TRANSFORMER = {"window": 8, "d_model": 8, "n_heads": 2, "n_layers": 1, "ff_size": 16, "max_epochs": 2,
                    "max_train_rows": 2000, "n_threads": 2}


def test_transformer_classifier_joins_the_ranking():
    from training import hot_sellers as hs
    from training.hot_seller_transformer import TransformerHotSellerClassifier

    frame = weekly_retail(60)
    labels = _labels(frame)
    cutoff = frame["ds"].max() - pd.Timedelta(weeks=H)
    train = frame[frame["ds"] <= cutoff].reset_index(drop=True)
    known = labels[labels["label_available_at"] <= pd.Timestamp(cutoff + pd.Timedelta(weeks=1), tz="UTC")]
    clf = TransformerHotSellerClassifier(**TINY_TRANSFORMER).fit(train, known, covariates=[])
    p = clf.predict_proba(train, covariates=[])
    assert p.between(0, 1).all() and len(p) == train["unique_id"].nunique()
    p2 = TransformerHotSellerClassifier(**TINY_TRANSFORMER).fit(train, known, covariates=[]).predict_proba(train, covariates=[])
    pd.testing.assert_series_equal(p, p2)

    fc = create("naive").fit(train).predict(h=H)
    settings = hs.Settings(lookback=4, horizon=H, floor=1.0, forecast_model="naive",
                           classifier={"n_estimators": 10, "max_depth": 2})
    without, _ = hs.score_origin(train, fc, labels, cutoff=cutoff, covariates=[], settings=settings)
    with_t, _ = hs.score_origin(train, fc, labels, cutoff=cutoff, covariates=[],
                                settings=dataclasses.replace(settings, transformer=TINY_TRANSFORMER))
    assert set(without["model"]) == {"momentum", "seasonal_growth", "forecast_growth", "classifier", "final"}
    assert set(with_t["model"]) == {"momentum", "seasonal_growth", "forecast_growth", "classifier", "transformer", "final"}
    pd.testing.assert_frame_equal(  # the other scores do not move
        without[without["model"] != "final"].reset_index(drop=True),
        with_t[~with_t["model"].isin(["transformer", "final"])].reset_index(drop=True),
    )
    s = with_t.pivot(index="unique_id", columns="model", values="score")
    # no earlier origin's scores: the final ranking falls back to the classifier trained at this origin
    np.testing.assert_allclose(s["final"], s["classifier"].rank(pct=True))


# --------------------------------------------------------------------------- backtest
def _labelled_history(frame: pd.DataFrame):
    """A small in-memory history of the retail weeks with labels computed here (top 10% of
    growth over the horizon, known H + 1 weeks later): enough for the deep members and the
    transformer classifier to run in one backtest in seconds. The real dbt labels and Feast
    features are exercised by tests/test_backtest_leakage.py."""
    from training.history import History

    f = frame.copy()
    g = f.groupby("unique_id")["y"]
    past = g.transform(lambda v: v.rolling(4, min_periods=1).mean())
    future = g.transform(lambda v: v[::-1].rolling(H, min_periods=H).mean()[::-1].shift(-1))
    labels = pd.DataFrame({"unique_id": f["unique_id"], "ds": f["ds"],
                           "growth_score": future / np.maximum(past, 1.0)})
    labels = labels[labels["growth_score"].notna()].copy()
    cut = labels.groupby("ds")["growth_score"].transform(lambda s: s.quantile(0.9))
    labels["label"] = (labels["growth_score"] > cut).astype(float)
    labels["label_available_at"] = (labels["ds"] + pd.Timedelta(weeks=H + 1)).dt.tz_localize("UTC")
    return History(frame=f, labels=labels.reset_index(drop=True), covariates=[], snapshot="t",
                   data_snapshot="t", first_week=f["ds"].min(), last_week=f["ds"].max())


@pytest.mark.slow
def test_backtest_takes_the_deep_models_and_sees_no_future(tmp_path):
    """Every new model in one backtest (no special case), hot-seller transformer included;
    poisoning everything after the first cutoff leaves that window unchanged."""
    from darkhorse.core.config import load_config
    from training.backtest import plan_cutoffs, run_backtest

    from .conftest import write_config
    from .retail_frames import RETAIL
    from .test_backtest_leakage import _poison, _window

    write_config(tmp_path, [{"name": "r", "kind": "order_lines", "path": str(RETAIL)}], {"horizon_weeks": H})
    doc = yaml.safe_load((tmp_path / "darkhorse.yaml").read_text())
    # no blend-only warm-up origins (nothing here tests the blend's warm-up): each backtest fits
    # the deep models at 3 origins instead of 7
    doc["backtest"] = {"n_windows": 2, "step_weeks": 4, "warmup_windows": 1, "blend_warmup_windows": 0}
    doc["forecast"] = {"models": [
        {"model": "naive"},
        {"model": "lstm", "params": _tp("lstm")},
        {"model": "tft", "params": _tp("tft")},
        {"model": "autots", "params": _tp("autots")},
    ]}
    doc["hot_sellers"] = {"classifier": {"n_estimators": 10, "max_depth": 2},
                          "transformer": {"enabled": True, "params": TINY_TRANSFORMER}}
    (tmp_path / "darkhorse.yaml").write_text(yaml.safe_dump(doc))
    cfg = load_config(tmp_path / "darkhorse.yaml")
    clean_h = _labelled_history(weekly_retail(30))
    clean = run_backtest(cfg, history=clean_h, show_progress=False, out_dir=tmp_path / "out")
    for m in ("lstm", "tft", "autots", "blend"):
        assert clean.metrics["models"][m]["mase"] is not None
    assert set(clean.hot_sellers["model"]) >= {"classifier", "transformer", "final"}
    assert "best_model" in next(iter(clean.metrics["model_info"]["autots"].values()))
    assert set(clean.blend_weights["model"]) == {"naive", "lstm", "tft", "autots"}
    assert (tmp_path / "out" / "plots" / "variable_importance.png").is_file()

    first = plan_cutoffs(clean_h, cfg, H)[0][0]
    poisoned = run_backtest(cfg, history=_poison(clean_h, first), show_progress=False)
    fc_clean, hs_clean, bw_clean = _window(clean, first)
    fc_poison, hs_poison, bw_poison = _window(poisoned, first)
    pd.testing.assert_frame_equal(fc_clean, fc_poison)
    pd.testing.assert_frame_equal(hs_clean, hs_poison)
    pd.testing.assert_frame_equal(bw_clean, bw_poison)


def test_pickled_model_never_unpickles_torch_objects(frame):
    """The bytes of a pickled LSTM hold no torch module class (weights go through torch.load)."""
    m = _tiny("lstm").fit(frame, horizon=H)
    blob = pickle.dumps(m)
    assert b"torch.nn" not in blob and b"LSTM\n" not in blob
    pd.testing.assert_frame_equal(pickle.loads(blob).predict(h=H), m.predict(h=H))


def test_booster_threads_follow_n_jobs_then_the_environment_then_the_cores(monkeypatch):
    from training.device import cpu_threads

    monkeypatch.setenv("DARKHORSE_THREADS", "3")
    assert cpu_threads(2) == 2 and cpu_threads(0) == 3
    monkeypatch.delenv("DARKHORSE_THREADS")
    assert cpu_threads(0) == len(os.sched_getaffinity(0))
    monkeypatch.setenv("DARKHORSE_THREADS", "two")
    with pytest.raises(ValueError, match="DARKHORSE_THREADS='two'"):
        cpu_threads(0)


def test_torch_threads_follow_n_threads_then_the_environment(monkeypatch):
    """The deep members take their threads by the boosters' rule: DARKHORSE_THREADS reaches torch."""
    import torch

    from training.models.torch_common import torch_run

    before = torch.get_num_threads()
    monkeypatch.setenv("DARKHORSE_THREADS", "1")
    with torch_run(0, seed=0):
        assert torch.get_num_threads() == 1
    with torch_run(2, seed=0):
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == before

