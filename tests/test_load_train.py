"""Training the load ensemble from the published interval panel, saving it to the model store,
seeding the streaming buffers at release time and serving forecasts from the saved model."""

from __future__ import annotations

import json

import bentoml
import numpy as np
import pandas as pd
import pytest
import yaml

from darkhorse.core.config import load_config
from darkhorse.serving import api
from darkhorse.serving.engine import RequestError
from darkhorse.serving.load import LoadRoutes, write_seed
from training.load.blend import LoadEnsemble
from training.load.train import LOAD_TRAIN_FILE, LoadTrainError, read_load_model, train_load

pytestmark = pytest.mark.slow  # fits the default ensemble (XGBoost) once: ~20 s


def _panel(tmp, days=8, start="2024-03-04"):
    ds = pd.date_range(start, periods=48 * days, freq="30min", tz="UTC")
    rng = np.random.default_rng(0)
    frames = [
        pd.DataFrame({"series_id": sid, "interval_start": ds,
                      "requests": scale * (100 + 80 * np.sin(2 * np.pi * np.arange(len(ds)) / 48) ** 2)
                      * rng.lognormal(0, 0.05, len(ds))})
        for sid, scale in (("checkout", 1.0), ("search", 5.0))
    ]
    (tmp / "marts").mkdir(exist_ok=True)
    pd.concat(frames).to_parquet(tmp / "marts" / "series_intervals.parquet")
    return ds


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("load_train")
    ds = _panel(tmp)
    doc = {
        "project": "loadonly",
        "sources": [{"name": "lb", "kind": "request_log", "path": "log.csv"}],  # a request log alone
        "load": {"grain": "30min", "plan": {"throughput_per_replica": 50}},
        "paths": {"data_dir": str(tmp / "data"), "marts": str(tmp / "marts")},
        "training": {"out_dir": str(tmp / "out"), "model_prefix": "dh_load_test"},
    }
    (tmp / "darkhorse.yaml").write_text(yaml.safe_dump(doc))
    config = load_config(tmp / "darkhorse.yaml")
    run = train_load(config, version="20240312000000-test", out_dir=config.out_dir)
    return config, run, ds, tmp


def test_train_saves_a_pinned_ensemble_and_describes_the_run(trained):
    config, run, ds, _ = trained
    assert run["tag"] == "dh_load_test_load_forecaster:20240312000000-test"
    assert json.loads((config.out_dir / LOAD_TRAIN_FILE).read_text()) == json.loads(json.dumps(run, default=str))
    assert run["horizon"] == 48 and run["series"] == 2 and run["grain"] == "30min"
    assert sum(run["weights"].values()) == pytest.approx(1.0)
    # the global model beats the week's seasonal naive on the held-out day of a daily-shaped load
    assert run["held_out_mase"]["xgboost"] < run["held_out_mase"]["seasonal_naive_week"]
    model = read_load_model(bentoml.models.get(run["tag"]).path)
    assert isinstance(model, LoadEnsemble) and model.weights_ == run["weights"]
    fc = model.predict(h=4, quantiles=[0.5, 0.95])
    assert fc["ds"].min() == ds[-1].tz_localize(None) + pd.Timedelta("30min")


def test_read_load_model_names_a_missing_file(tmp_path):
    with pytest.raises(LoadTrainError, match=r"load_model\.pkl not found"):
        read_load_model(tmp_path)


def test_release_seed_and_the_saved_model_serve_forecasts(trained):
    config, run, ds, tmp = trained
    seed = tmp / "release" / "load_seed"
    assert write_seed(config, seed) == ["checkout", "search"]
    # the panel moves on after the release: the service starts from the release's seed
    _panel(tmp, days=9)
    model_dir = bentoml.models.get(run["tag"]).path
    routes = LoadRoutes.from_config(config, state_dir=tmp / "state", seed_dir=seed, model_dir=model_dir)
    assert routes.stream.last_interval("checkout") == ds[-1]
    nxt = ds[-1] + pd.Timedelta("30min")
    routes.observe(api.LoadObserveRequest(series_id="checkout", timestamps=[nxt], values=[400.0]))
    out = routes.forecast(api.LoadForecastRequest(series_id="checkout", horizon=6, quantiles=[0.5, 0.9]))
    assert out.intervals[0].start == nxt + pd.Timedelta("30min")
    assert all(i.quantiles["q0.5"] <= i.quantiles["q0.9"] for i in out.intervals)
    # the forecast is the saved ensemble reading the buffer (not a model fitted per request)
    buffer = pd.DataFrame({"unique_id": "checkout", "ds": pd.date_range(end=nxt.tz_localize(None), periods=len(
        routes.stream._y["checkout"]), freq="30min"), "y": routes.stream._y["checkout"]})
    expected = read_load_model(model_dir).refresh(buffer).predict(h=6, quantiles=[0.5])["ensemble"].to_numpy()
    np.testing.assert_allclose([i.point for i in out.intervals], expected, rtol=1e-6)
    with pytest.raises(RequestError, match="at most 48 intervals"):
        routes.forecast(api.LoadForecastRequest(series_id="checkout", horizon=49))
    plan = routes.plan(api.LoadPlanRequest(series_id="search", horizon=4))
    assert len(plan.intervals) == 4 and all(i.capacity == i.replicas * 50 for i in plan.intervals)


def test_darkhorse_train_on_a_request_log_alone_trains_the_load_model(tmp_path):
    from typer.testing import CliRunner

    from darkhorse.app.cli import app

    _panel(tmp_path, days=5)
    doc = {"project": "loadonly", "sources": [{"name": "lb", "kind": "request_log", "path": "log.csv"}],
           "load": {"grain": "30min"}, "paths": {"data_dir": str(tmp_path / "data"), "marts": str(tmp_path / "marts")},
           "training": {"out_dir": str(tmp_path / "out"), "model_prefix": "dh_cli_load"}}
    (tmp_path / "darkhorse.yaml").write_text(yaml.safe_dump(doc))
    res = CliRunner().invoke(app, ["train", "--config", str(tmp_path / "darkhorse.yaml"), "--no-save"])
    assert res.exit_code == 0, res.output
    run = json.loads((tmp_path / "out" / LOAD_TRAIN_FILE).read_text())
    assert run["tag"] is None and run["series"] == 2 and not (tmp_path / "out" / "train.json").exists()
