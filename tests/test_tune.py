"""Hyperparameter tuning on the shipped UCI Online Retail data: a resumable sqlite study whose
best trial is never worse than the config's own params, and a tuned copy of the config."""

from __future__ import annotations

import os
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from darkhorse.app.cli import app
from darkhorse.core.config import Config, load_config
from darkhorse.core.schema import DS, ID
from tests.conftest import RAW, write_config
from tests.retail_frames import weekly_retail
from training.history import History
from training.tune import Param, TuneError, tune, write_tuned_config

PARQUET = RAW / "online_retail" / "online_retail.parquet"
N_ITEMS = 150
# a small space keeps the xgboost trials to a few seconds
XGB_SPACE = {
    "n_estimators": Param("int", 10, 30, log=True),
    "max_depth": Param("int", 2, 4),
    "learning_rate": Param("float", 0.05, 0.3, log=True),
}


@pytest.fixture(scope="module")
def history() -> History:
    """Weekly units of the best-selling items over the complete Monday weeks of the file."""
    frame = weekly_retail(N_ITEMS)
    first_week, last_week = frame[DS].min(), frame[DS].max()
    labels = pd.DataFrame(
        {
            ID: pd.Series(dtype="object"),
            DS: pd.Series(dtype="datetime64[ns]"),
            "label": pd.Series(dtype="float64"),
            "growth_score": pd.Series(dtype="float64"),
            "label_available_at": pd.Series(dtype="datetime64[ns]"),
        }
    )
    return History(
        frame=frame, labels=labels, covariates=[], snapshot="test", data_snapshot="online_retail-top150",
        first_week=first_week, last_week=last_week,
    )


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    source = {
        "name": "online_retail",
        "kind": "order_lines",
        # relative to the config's folder, as a user would write it (never read: history= is given)
        "path": os.path.relpath(PARQUET, tmp_path),
        "timestamp_format": "%Y-%m-%d %H:%M:%S",
    }
    config = write_config(tmp_path, sources=[source], panel={})
    path = config.root / "darkhorse.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["backtest"] = {"n_windows": 1, "warmup_windows": 0, "step_weeks": 4}
    doc["forecast"] = {
        "models": [
            {"model": "naive"},
            # device cpu: no accelerator probe in a unit test
            {"model": "xgboost", "params": {"n_estimators": 20, "max_train_rows": 3000, "device": "cpu"}},
            {"model": "moving_average", "params": {"window": 8}},
        ]
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_config(path)


def _stored_trials(result) -> int:
    return len(optuna.load_study(study_name=result.study_name, storage=result.storage).trials)


def test_study_is_stored_in_sqlite_and_resumes(cfg: Config, history: History, capsys) -> None:
    db = cfg.data_dir / "tune" / "optuna.db"
    first = tune(cfg, model="moving_average", n_trials=6, history=history)
    assert db.is_file() and first.storage == f"sqlite:///{db}"
    assert first.study_name == f"moving_average-mase-{cfg.config_hash()}"
    assert first.n_trials_done == first.n_trials_run == 6
    assert _stored_trials(first) == 6
    assert first.baseline_params == {"window": 8}
    assert first.baseline_value is not None and first.best_value <= first.baseline_value
    assert set(first.best_params) == {"window"}
    capsys.readouterr()

    again = tune(cfg, model="moving_average", n_trials=6, history=history)
    assert again.n_trials_run == 0 and again.n_trials_done == 6
    assert _stored_trials(again) == 6
    assert (again.best_value, again.best_params, again.baseline_value) == (
        first.best_value, first.best_params, first.baseline_value,
    )
    assert "nothing to run" in capsys.readouterr().err

    more = tune(cfg, model="moving_average", n_trials=8, history=history, show_progress=False)
    assert more.n_trials_run == 2 and more.n_trials_done == 8 and _stored_trials(more) == 8
    assert more.best_value <= first.best_value
    # the baseline ran once, as the study's first trial
    study = optuna.load_study(study_name=more.study_name, storage=more.storage)
    assert [t.number for t in study.trials if t.user_attrs.get("baseline")] == [0]


def test_xgboost_tuned_config_loads_with_best_params(cfg: Config, history: History, tmp_path: Path) -> None:
    original = cfg.root / "darkhorse.yaml"
    before = original.read_bytes()
    result = tune(cfg, model="xgboost", n_trials=3, history=history, space=XGB_SPACE, show_progress=False)
    assert result.n_trials_done == 3 and _stored_trials(result) == 3
    assert result.baseline_value is not None and result.best_value <= result.baseline_value
    # tuned params override the config's; the untuned ones are kept
    assert result.best_params["max_train_rows"] == 3000 and result.best_params["device"] == "cpu"
    assert set(XGB_SPACE) <= set(result.best_params)

    path = write_tuned_config(original, result, None)
    assert path == tmp_path / "darkhorse.tuned.yaml"
    assert original.read_bytes() == before
    text = path.read_text()
    assert text.startswith("#") and result.study_name in text and "baseline" in text
    tuned = load_config(path)
    by_name = {m.name: m for m in tuned.forecast.models}
    assert by_name["xgboost"].params == result.best_params
    assert by_name["moving_average"].params == {"window": 8}
    assert [m.name for m in tuned.forecast.models] == ["naive", "xgboost", "moving_average"]

    # elsewhere: relative paths still lead to the same files
    other = write_tuned_config(original, result, tmp_path / "elsewhere" / "tuned.yaml")
    moved = load_config(other)
    assert moved.source_paths(moved.sources[0]) == cfg.source_paths(cfg.sources[0])
    assert moved.data_dir == cfg.data_dir
    with pytest.raises(TuneError, match="overwrite"):
        write_tuned_config(original, result, original)


def test_unknown_model_or_metric_is_a_clear_error(cfg: Config) -> None:
    # fails before any data is read (no history given, none published)
    with pytest.raises(TuneError, match=r"'prophet'.*xgboost"):
        tune(cfg, model="prophet", n_trials=2)
    with pytest.raises(TuneError, match=r"'naive'.*no search space"):
        tune(cfg, model="naive", n_trials=2)
    with pytest.raises(TuneError, match=r"'accuracy'.*mase"):
        tune(cfg, model="moving_average", metric="accuracy", n_trials=2)
    with pytest.raises(TuneError, match="coverage"):
        tune(cfg, model="moving_average", metric="coverage_80", n_trials=2)


def test_cli_tune(cfg: Config, history: History, monkeypatch, tmp_path: Path) -> None:
    runner = CliRunner()
    config_path = str(cfg.root / "darkhorse.yaml")
    res = runner.invoke(app, ["tune", "--config", config_path, "--model", "prophet"])
    assert res.exit_code == 2 and "prophet" in res.output
    res = runner.invoke(app, ["tune", "--config", config_path, "--model", "statquant", "--metric", "accuracy"])
    assert res.exit_code == 2 and "accuracy" in res.output

    monkeypatch.setattr("training.tune.load_history", lambda config: history)
    out = tmp_path / "tuned" / "statquant.yaml"
    res = runner.invoke(
        app, ["tune", "--config", config_path, "--model", "statquant", "--trials", "3", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "trial 3/3" in res.output and "baseline" in res.output and str(out) in res.output.replace("\n", "")
    statquant = [m for m in load_config(out).forecast.models if m.model == "statquant"]
    assert len(statquant) == 1 and set(statquant[0].params) == {"window"}
