"""`darkhorse train` end to end on a real weekly file: build -> backtest -> final fit -> BentoML store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from darkhorse.core.config import load_config
from darkhorse.core.manifest import ReleaseManifest
from tests.fixtures.weekly_sales import CSV, config_reading

pytestmark = [pytest.mark.slow, pytest.mark.integration]

BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope="module")
def trained(weekly_sales_built, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train")
    cfg = config_reading(
        weekly_sales_built, tmp,
        forecast={"models": [
            {"model": "seasonal_naive"}, {"model": "statquant"},
            {"model": "xgboost", "params": {"n_estimators": 40, "max_train_rows": 20000}},
        ]},
        # no blend-only warm-up origins: this test checks the outputs' schema, not the warm-up
        backtest={"n_windows": 3, "step_weeks": 4, "warmup_windows": 1, "blend_warmup_windows": 0},
        hot_sellers={"classifier": {"n_estimators": 30}},
        training={"out_dir": str(tmp / "out"), "model_prefix": "dh_test"},
    )
    env = {**os.environ, "BENTOML_HOME": str(tmp / "bentoml")}
    proc = subprocess.run([f"{BIN}/darkhorse", "train", "--config", str(cfg.path)],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return cfg, tmp, env, proc


def test_outputs_follow_the_documented_schema(trained):
    _, tmp, _, _ = trained
    out = tmp / "out"
    for name in ("forecasts.parquet", "hot_sellers.parquet", "metrics.json", "series_metrics.parquet",
                 "blend_weights.parquet", "feature_importance.parquet", "report.html",
                 "latest_forecast.parquet", "latest_hot_sellers.parquet", "train.json"):
        assert (out / name).is_file(), name
    fc = pd.read_parquet(out / "forecasts.parquet")
    for m in ("seasonal_naive", "statquant", "xgboost", "blend"):
        for suffix in ("", "-q10", "-q50", "-q90"):
            assert f"{m}{suffix}" in fc.columns
    assert list(fc.columns[:5]) == ["unique_id", "ds", "cutoff", "window", "y"]
    hs = pd.read_parquet(out / "hot_sellers.parquet")
    assert list(hs.columns) == ["unique_id", "cutoff", "model", "score", "label"]
    assert set(hs["model"]) == {"momentum", "seasonal_growth", "forecast_growth", "classifier", "final"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["models"]) == {"seasonal_naive", "statquant", "xgboost", "blend"}
    assert 0.0 < metrics["models"]["blend"]["coverage_80"] <= 1.0
    latest = pd.read_parquet(out / "latest_forecast.parquet")
    n_items = pd.read_csv(CSV)["sku"].nunique()
    assert latest["unique_id"].nunique() == n_items and len(latest) == n_items * 12
    assert (latest["ds"].min() - latest["cutoff"].min()).days == 7


def test_models_are_in_the_bentoml_store_with_metadata(trained):
    cfg, tmp, env, proc = trained
    manifest = ReleaseManifest.read(tmp / "out" / "train.json")
    tags = manifest.pinned().model_dump()
    version = manifest.version
    assert all(t.endswith(f":{version}") for t in tags.values())
    assert tags["forecaster"] in proc.stdout
    code = f"""
import json, bentoml
from pathlib import Path
from training.models.base import Forecaster
m = bentoml.models.get({tags['forecaster']!r})
blend = Forecaster.load(Path(m.path) / "blend")
fc = blend.predict(h=12)
print(json.dumps({{"meta": m.info.metadata, "labels": m.info.labels, "rows": len(fc), "point_factor": blend.point_factor_,
                   "members": list(blend.members_), "listed": [str(x.tag) for x in bentoml.models.list()]}}))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    info = json.loads(res.stdout.strip().splitlines()[-1])
    assert info["meta"]["config_hash"] == cfg.config_hash()
    assert info["meta"]["data_snapshot"]
    # the store's metadata is the run's manifest (metrics nested, as in metrics.json) + its members
    meta = dict(info["meta"])
    assert meta.pop("members") == ["seasonal_naive", "statquant", "xgboost"]
    assert ReleaseManifest.parse(meta, source="metadata") == manifest.model_copy(update={"models": None})
    backtest = json.loads((tmp / "out" / "metrics.json").read_text())["models"]
    assert set(manifest.metrics) == set(backtest)
    assert manifest.metrics["blend"]["mase"] == pytest.approx(backtest["blend"]["mase"])
    assert manifest.backtest_windows and manifest.last_week > max(manifest.backtest_windows)
    assert info["labels"]["kind"] == "forecaster"
    # metrics.json records the released blend's point factor (1 unless it checked out twice)
    released = json.loads((tmp / "out" / "metrics.json").read_text())["release"]["blend"]
    assert released["point_factor"] == info["point_factor"] and 0.7 <= info["point_factor"] <= 1.3
    assert released["point_factor"] == 1.0 or len(released["point_checks"]) == 2
    # and how the released final hot-seller ranking was combined, learned on the backtest's origins
    chosen = json.loads((tmp / "out" / "metrics.json").read_text())["release"]["hot_sellers"]
    assert chosen["method"] in ("fallback", "single", "stack", "tie")
    assert sum(chosen["weights"].values()) == pytest.approx(1.0)
    assert info["members"] == ["seasonal_naive", "statquant", "xgboost"]
    assert info["rows"] == 12 * pd.read_csv(CSV)["sku"].nunique()
    assert set(tags.values()) <= set(info["listed"])


def test_a_broken_feature_store_is_one_line_not_a_traceback(trained, tmp_path):
    """Feast failing under `darkhorse train` (here its registry file is unreadable) ends as one
    line naming the registry, exit code 1; it used to escape as a protobuf DecodeError traceback."""
    cfg, tmp, env, _ = trained
    shutil.copytree(cfg.data_dir, tmp_path / "data", symlinks=True)
    doc = yaml.safe_load((tmp / "darkhorse.yaml").read_text())
    doc["paths"].update(data_dir=str(tmp_path / "data"), duckdb=str(tmp_path / "data" / "darkhorse.duckdb"),
                        marts=str(tmp_path / "data" / "marts"))
    doc["training"]["out_dir"] = str(tmp_path / "out")
    (tmp_path / "darkhorse.yaml").write_text(yaml.safe_dump(doc))
    registry = load_config(tmp_path / "darkhorse.yaml").feast_data_dir / "registry.db"
    assert registry.is_file()
    registry.write_bytes(b"\x0a\xff not a registry " * 20)

    proc = subprocess.run([f"{BIN}/darkhorse", "train", "--no-save", "--config", str(tmp_path / "darkhorse.yaml")],
                          capture_output=True, text=True, env=env, timeout=600)

    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert f"(registry {registry})" in line and "DecodeError" in line and "darkhorse build" in line
    assert not (tmp_path / "out" / "train.json").exists()


def test_invalid_model_params_are_one_line_exit_2(trained, tmp_path):
    """A model's params failing its settings is a bad input (exit 2, one line naming the field)."""
    _, tmp, env, _ = trained
    doc = yaml.safe_load((tmp / "darkhorse.yaml").read_text())
    doc["paths"] = {k: str((tmp / v).resolve()) for k, v in doc["paths"].items()}
    doc["forecast"] = {"models": [{"model": "statquant", "params": {"no_such_param": 1}}]}
    (tmp_path / "darkhorse.yaml").write_text(yaml.safe_dump(doc))

    proc = subprocess.run([f"{BIN}/darkhorse", "backtest", "--out", str(tmp_path / "out"), "--config",
                           str(tmp_path / "darkhorse.yaml")], capture_output=True, text=True, env=env, timeout=600)

    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert "model 'statquant': invalid params: no_such_param" in line


def test_the_hot_seller_model_keeps_each_classifier_once_and_it_gives_the_released_scores(trained):
    _, tmp, env, _ = trained
    tag = ReleaseManifest.read(tmp / "out" / "train.json").pinned().hot_seller_classifier
    code = f"""
import json, pickle, bentoml
from pathlib import Path
import pandas as pd
m = Path(bentoml.models.get({tag!r}).path)
whatif = pickle.loads((m / "whatif.pkl").read_bytes())
ranking = pd.read_parquet(m / "ranking.parquet")
released = ranking[ranking["model"] == "classifier"].set_index("unique_id")["score"]
rows = whatif.rows.loc[released.index.astype(str)].reset_index(names="unique_id")
again = whatif.scorers["classifier"].predict_proba(rows).to_numpy()
print(json.dumps({{"files": sorted(p.name for p in m.iterdir() if p.suffix in (".pkl", ".parquet")),
                   "scorers": sorted(whatif.scorers), "items": len(released),
                   "max_diff": float(abs(again - released.to_numpy()).max())}}))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    info = json.loads(res.stdout.strip().splitlines()[-1])
    # the classifier's one copy is the what-if state's; the ranking's scores come from it
    assert info["files"] == ["ranking.parquet", "whatif.pkl"] and info["scorers"] == ["classifier"]
    assert info["items"] == pd.read_csv(CSV)["sku"].nunique()
    assert info["max_diff"] == 0.0
