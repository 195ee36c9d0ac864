"""Hyperparameter tuning on the shipped UCI Online Retail data: a resumable sqlite study that
searches on the windows before the last one and reports the best params on that held-out
window, which the search never sees; a tuned copy of the config."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from darkhorse.app.cli import app
from darkhorse.core.config import Config, ModelSpec, load_config
from darkhorse.core.schema import DS, ID
from tests.conftest import RAW, write_config
from tests.retail_frames import weekly_retail
from training.backtest import plan_cutoffs, run_backtest
from training.history import History
from training.tune import Param, TuneError, tune
from training.tuned_config import write_tuned_config

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
    assert first.study_name == f"moving_average-mase-h1-{cfg.config_hash()}"
    assert first.n_trials_done == first.n_trials_run == 6
    assert _stored_trials(first) == 6
    assert first.baseline_params == {"window": 8}
    assert first.baseline_value is not None
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
    # the baseline ran once, as the study's first trial
    study = optuna.load_study(study_name=more.study_name, storage=more.storage)
    assert [t.number for t in study.trials if t.user_attrs.get("baseline")] == [0]


def test_the_search_never_sees_the_held_out_window(cfg: Config, history: History, tmp_path: Path) -> None:
    """The held-out score is a backtest of the best params on the config's last window; the
    search runs on earlier weeks only: poisoning every week after the held-out origin leaves
    every trial's score unchanged and changes only the held-out figures."""
    clean = tune(cfg, model="moving_average", n_trials=5, history=history, show_progress=False,
                 storage=tmp_path / "clean.db")
    last = [c for c, r in plan_cutoffs(history, cfg, cfg.panel.horizon_weeks) if r == "eval"]
    assert clean.holdout_cutoffs == [str(last[-1].date())]
    assert clean.windows_reduced == []  # both backtests hold the windows they ask for
    for c in clean.selection_cutoffs:  # every week the search forecast closed before the held-out origin
        assert pd.Timestamp(c) + pd.Timedelta(weeks=cfg.panel.horizon_weeks) <= last[-1]
    spec = ModelSpec(model="moving_average", params=clean.best_params)
    direct = run_backtest(cfg, history=history, specs=[spec], with_hot_sellers=False, report=False, show_progress=False)
    assert clean.holdout_value == pytest.approx(direct.metrics["models"]["moving_average"]["mase"], rel=1e-12)

    frame = history.frame.copy()
    frame.loc[frame[DS] > last[-1], "y"] = 1e7
    poisoned = tune(cfg, model="moving_average", n_trials=5, history=replace(history, frame=frame),
                    show_progress=False, storage=tmp_path / "poisoned.db")
    assert (poisoned.best_value, poisoned.best_params, poisoned.baseline_value) == (
        clean.best_value, clean.best_params, clean.baseline_value)
    assert poisoned.holdout_value > 100 * clean.holdout_value


def test_xgboost_tuned_config_loads_with_best_params(cfg: Config, history: History, tmp_path: Path) -> None:
    original = cfg.root / "darkhorse.yaml"
    before = original.read_bytes()
    result = tune(cfg, model="xgboost", n_trials=3, history=history, space=XGB_SPACE, show_progress=False)
    assert result.n_trials_done == 3 and _stored_trials(result) == 3
    assert result.baseline_value is not None and result.holdout_value is not None
    # tuned params override the config's; the untuned ones are kept
    assert result.best_params["max_train_rows"] == 3000 and result.best_params["device"] == "cpu"
    assert set(XGB_SPACE) <= set(result.best_params)

    path = write_tuned_config(original, result, None)
    assert path == tmp_path / "darkhorse.tuned.yaml"
    assert original.read_bytes() == before
    text = path.read_text()
    assert text.startswith("#") and result.study_name in text and "baseline" in text
    assert f"held-out windows {result.holdout_cutoffs[0]}" in text
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


def test_a_search_on_fewer_windows_than_asked_says_so(cfg: Config, history: History, tmp_path: Path, caplog) -> None:
    """Six windows 8 weeks apart: the held-out one fits, but the weeks before it hold only some of
    the five the search asks for. The result, the log and the tuned config say so (a plan that
    holds every window says nothing: `test_the_search_never_sees_the_held_out_window`)."""
    doc = yaml.safe_load((cfg.root / "darkhorse.yaml").read_text())
    doc["backtest"] = {"n_windows": 6, "warmup_windows": 0, "step_weeks": 8}
    (cfg.root / "darkhorse.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    short = load_config(cfg.root / "darkhorse.yaml")
    with caplog.at_level("WARNING"):
        result = tune(short, model="moving_average", n_trials=2, history=history, show_progress=False,
                      storage=tmp_path / "short.db")
    (line,) = result.windows_reduced
    n = len(result.selection_cutoffs)
    assert 1 <= n < 5 and line.startswith("the search's backtest")
    assert f"it holds {n} of the 5 evaluation windows 8 weeks apart" in line
    assert line in caplog.text
    # said once by the tuner, not again by each trial's backtest and the held-out scores
    assert [r.getMessage() for r in caplog.records].count(f"tune: fewer evaluation windows than asked in {line}") == 1
    assert not [r for r in caplog.records if r.name == "training.backtest" and "evaluation windows" in r.getMessage()]
    assert f"# Fewer evaluation windows than asked in {line}." in write_tuned_config(
        cfg.root / "darkhorse.yaml", result, tmp_path / "tuned.yaml").read_text()
