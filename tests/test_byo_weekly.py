"""Bring your own weekly sales CSV: the example in examples/weekly_sales, end to end.

The CSV names its columns `sku, week_ending, units_sold` and dates every week by the Sunday
that ends it; the panel's weeks start on Monday. Build (dbt -> gate -> publish -> Feast) and
the rolling-origin backtest must see every row as one complete week, the last one included.
"""

from __future__ import annotations

import filecmp
import importlib.util
from itertools import pairwise

import pandas as pd
import pytest

from darkhorse.core.config import load_config
from tests.conftest import REPO
from tests.fixtures.weekly_sales import CSV, config_reading
from training.backtest import run_backtest

EXAMPLE = CSV.parent
HORIZON = 12
MODELS = ["naive", "seasonal_naive", "statquant", "xgboost"]


def _csv() -> pd.DataFrame:
    df = pd.read_csv(CSV, dtype={"sku": str})
    df["week_start"] = pd.to_datetime(df["week_ending"]) - pd.Timedelta(days=6)
    return df


# --------------------------------------------------------------------------- fast checks
def test_example_csv_is_sunday_dated_sparse_and_small():
    df = _csv()
    assert list(df.columns[:3]) == ["sku", "week_ending", "units_sold"]
    assert (pd.to_datetime(df["week_ending"]).dt.dayofweek == 6).all()  # every row a Sunday
    assert not df.duplicated(["sku", "week_ending"]).any()
    assert (df["units_sold"] > 0).all()  # weeks without sales have no row
    assert df["sku"].nunique() == 300
    assert df.groupby("sku").size().min() < df["week_ending"].nunique()  # sparse
    assert CSV.stat().st_size < 1_000_000


def test_example_csv_is_reproducible(tmp_path):
    spec = importlib.util.spec_from_file_location("make_example", EXAMPLE / "make_example.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    info = mod.make(out=tmp_path / "weekly_sales.csv")
    assert filecmp.cmp(info["path"], CSV, shallow=False)


def test_example_config_resolves_inside_the_example_folder():
    cfg = load_config(EXAMPLE / "darkhorse.yaml")
    (src,) = cfg.sources
    assert src.kind == "sales" and src.granularity == "weekly"
    assert cfg.source_paths(src) == [str(CSV)]
    assert cfg.dbt_project_dir == REPO / "dbt_project"
    assert cfg.feast_repo_dir == REPO / "feature_repo"
    for p in (cfg.data_dir, cfg.duckdb_path, cfg.marts_dir, cfg.out_dir):
        assert p.is_relative_to(EXAMPLE / "data")
    assert (EXAMPLE / ".gitignore").read_text().split() == ["data/"]


# --------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def run(weekly_sales_built, tmp_path_factory):
    """The session's build of the example CSV (tests/fixtures/weekly_sales.py: the same SOURCE,
    the default panel) and a backtest of it."""
    assert weekly_sales_built.config.panel.horizon_weeks == HORIZON
    tmp = tmp_path_factory.mktemp("byo_weekly")
    cfg = config_reading(
        weekly_sales_built, tmp,
        forecast={
            "models": [
                {"model": "naive"},
                {"model": "seasonal_naive"},
                {"model": "statquant"},
                {"model": "xgboost", "params": {"n_estimators": 30, "max_train_rows": 20000}},
            ]
        },
        backtest={"n_windows": 3, "step_weeks": 4, "warmup_windows": 1, "blend_warmup_windows": 0},
        hot_sellers={"classifier": {"n_estimators": 30}},
    )
    out = tmp / "bt"
    result = run_backtest(cfg, out_dir=out, report=True, show_progress=False)
    return cfg, weekly_sales_built.summary, result, out


@pytest.mark.slow
@pytest.mark.integration
def test_build_sees_every_sunday_dated_row_as_a_complete_week(run):
    _, summary, _, _ = run
    df = _csv()
    first, last = df["week_start"].min(), df["week_start"].max()
    assert summary["gate"]["success"]
    assert summary["calendar"]["first_complete_week"] == str(first.date())
    # the final Sunday-dated row is a complete week: the one starting the Monday before it
    assert summary["calendar"]["last_complete_week"] == str(last.date())
    weeks = len(pd.date_range(first, last, freq="7D"))  # dense, a week without any sale too
    assert summary["panel"]["items"] == df["sku"].nunique()
    assert summary["panel"]["weeks"] == weeks
    src = summary["sources"]["weekly_sales"]
    assert src["read"] == src["kept"] == len(df)
    assert src["quarantined"] == 0 and src["outside_complete_weeks"] == 0
    assert "feast" in summary


@pytest.mark.slow
@pytest.mark.integration
def test_backtest_windows_end_at_the_data_s_last_week(run):
    _, _, result, _ = run
    last = _csv()["week_start"].max()
    m = result.metrics
    assert m["n_series"] == _csv()["sku"].nunique()
    windows = [(pd.Timestamp(w["cutoff"]), w["role"]) for w in m["windows"]]
    assert [r for _, r in windows] == ["warmup", "eval", "eval", "eval"]
    assert windows[-1][0] == last - pd.Timedelta(weeks=HORIZON)
    cutoffs = [c for c, _ in windows]
    assert [b - a for a, b in pairwise(cutoffs)] == [pd.Timedelta(weeks=4)] * 3
    assert result.forecasts["ds"].max() == last
    assert set(m["models"]) == {*MODELS, "blend"}


@pytest.mark.slow
@pytest.mark.integration
def test_outputs_have_the_documented_columns_and_report(run):
    _, _, _, out = run
    fc = pd.read_parquet(out / "forecasts.parquet")
    expected = ["unique_id", "ds", "cutoff", "window", "y"]
    for name in [*MODELS, "blend"]:
        expected += [name, f"{name}-q10", f"{name}-q50", f"{name}-q90"]
    assert set(expected) <= set(fc.columns)
    assert list(fc.columns[:5]) == expected[:5]
    for f in ("hot_sellers.parquet", "metrics.json", "series_metrics.parquet", "report.html"):
        assert (out / f).is_file(), f
    assert (out / "report.html").stat().st_size > 0


@pytest.mark.slow
@pytest.mark.integration
def test_eval_actuals_are_the_csv_units_zero_where_no_row(run):
    _, _, result, _ = run
    ev = result.forecasts[result.forecasts["window"] == "eval"]
    assert len(ev) and ev["y"].notna().all()
    units = _csv().set_index(["sku", "week_start"])["units_sold"].astype("float64")
    key = pd.MultiIndex.from_arrays([ev["unique_id"].astype(str), pd.to_datetime(ev["ds"])])
    truth = units.reindex(key).fillna(0.0).to_numpy()
    assert (ev["y"].to_numpy() == truth).all()
    assert (truth == 0).any() and (truth > 0).any()  # both kinds of week are checked
