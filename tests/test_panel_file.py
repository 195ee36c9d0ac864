"""The accuracy suite on a panel of your own (`bench_accuracy.py --panel-file`)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from benchmarks.accuracy import panel_file as PF
from benchmarks.accuracy import panels as P
from darkhorse.core.config import PanelConfig
from darkhorse.core.schema import DS, ID, Y

REPO = Path(__file__).resolve().parents[1]
WEEKLY = REPO / "examples" / "weekly_sales" / "weekly_sales.csv"
COLS = ("sku", "week_ending", "units_sold")


def _csv(tmp_path: Path, text: str, name: str = "mine.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _series(weeks: int = 60, ids=("a", "b", "c")) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    days = pd.date_range("2021-01-03", periods=weeks, freq="7D")  # Sundays
    return pd.DataFrame([{"sku": i, "week_ending": d.strftime("%Y-%m-%d"), "units_sold": int(rng.integers(0, 30))}
                         for i in ids for d in days])


def test_the_weekly_sales_file_reads_as_the_suite_s_weekly_sales_panel():
    mine = PF.read_panel_file(WEEKLY, PanelConfig(), columns=COLS)
    ref = P.weekly_sales()
    assert mine.name == "weekly_sales" and mine.panel == ref.panel
    pd.testing.assert_frame_equal(mine.history.frame, ref.history.frame)
    pd.testing.assert_frame_equal(mine.history.labels, ref.history.labels)
    assert mine.extra["rows_read"] == len(pd.read_csv(WEEKLY))


def test_days_sum_into_monday_weeks_and_missing_weeks_are_zero(tmp_path):
    # a Sunday belongs to the week starting the Monday before; a series starts at its first row
    text = ("unique_id,ds,y\n"
            "a,2024-01-01,1\n"   # Monday
            "a,2024-01-07,2\n"   # the Sunday of the same week
            "a,2024-01-10,4\n"   # the next week
            "b,2024-01-24,5\n")  # b starts two weeks later
    p = _csv(tmp_path, text)
    frame = PF.read_panel_file(p, PanelConfig(), name="x").history.frame
    a = frame[frame[ID] == "a"]
    assert a[DS].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"]
    assert a[Y].tolist() == [3.0, 4.0, 0.0, 0.0]
    b = frame[frame[ID] == "b"]
    assert b[DS].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-22"] and b[Y].tolist() == [5.0]


def _daily(first: str, last: str) -> str:
    days = pd.date_range(first, last, freq="D")
    return "unique_id,ds,y\n" + "".join(f"a,{d:%Y-%m-%d},1\nb,{d:%Y-%m-%d},2\n" for d in days)


def test_daily_rows_leave_out_the_weeks_their_dates_cover_in_part(tmp_path, caplog):
    # Wednesday 2024-01-03 to Friday 2024-02-02: the first and last weeks are partial
    p = _csv(tmp_path, _daily("2024-01-03", "2024-02-02"))
    daily = PF.read_panel_file(p, PanelConfig(), name="x", granularity="daily")
    f = daily.history.frame
    assert f[DS].min() == pd.Timestamp("2024-01-08") and f[DS].max() == pd.Timestamp("2024-01-22")
    assert (f.loc[f[ID] == "a", Y] == 7.0).all() and (f.loc[f[ID] == "b", Y] == 14.0).all()  # whole weeks only
    assert daily.extra["partial_weeks_left_out"] == ["2024-01-01", "2024-01-29"]
    # read as weekly rows, the partial weeks are scored as weeks, with a warning that says why
    with caplog.at_level("WARNING"):
        weekly = PF.read_panel_file(p, PanelConfig(), name="x").history.frame
    assert weekly[DS].min() == pd.Timestamp("2024-01-01") and weekly[DS].max() == pd.Timestamp("2024-01-29")
    assert weekly.loc[(weekly[ID] == "a") & (weekly[DS] == pd.Timestamp("2024-01-29")), Y].item() == 5.0
    assert "several dates in one week (daily rows?)" in caplog.text and "2024-01-01, 2024-01-29" in caplog.text
    # a daily file from a Monday to a Sunday keeps every week, and weekly files are not warned of
    caplog.clear()
    full = PF.read_panel_file(_csv(tmp_path, _daily("2024-01-01", "2024-01-28"), "full.csv"), PanelConfig(),
                              name="y", granularity="daily")
    assert full.extra["partial_weeks_left_out"] == [] and full.history.frame[DS].nunique() == 4
    with caplog.at_level("WARNING"):
        PF.read_panel_file(WEEKLY, PanelConfig(), columns=COLS)
    assert "daily rows?" not in caplog.text
    with pytest.raises(PF.PanelFileError, match="no complete week"):
        PF.read_panel_file(_csv(tmp_path, _daily("2024-01-03", "2024-01-05"), "part.csv"), PanelConfig(),
                           name="z", granularity="daily")
    with pytest.raises(PF.PanelFileError, match="granularity 'monthly'"):
        PF.read_panel_file(p, PanelConfig(), name="x", granularity="monthly")


def test_an_id_of_two_columns_joins_them_and_a_friday_dates_its_week(tmp_path):
    p = _csv(tmp_path, "Store,Dept,Date,Weekly_Sales\n1,1,2010-02-05,10.5\n1,2,2010-02-05,3\n1,1,2010-02-12,7\n2,1,2010-02-12,1\n"
                       "2,,2010-02-12,9\n" + "".join(f"3,1,{d:%Y-%m-%d},1\n" for d in pd.date_range("2010-02-19", periods=60, freq="7D")))
    panel = PF.read_panel_file(p, PanelConfig(), columns=PF.parse_columns("Store + Dept,Date,Weekly_Sales"))
    f = panel.history.frame
    assert sorted(f[ID].unique()) == ["1_1", "1_2", "2_1", "3_1"]
    one = f[f[ID] == "1_1"]
    assert one[DS].iloc[:2].dt.strftime("%Y-%m-%d").tolist() == ["2010-02-01", "2010-02-08"] and one[Y].iloc[:2].tolist() == [10.5, 7.0]
    assert panel.extra["set_aside"] == {"missing_item_id": {"rows": 1, "first": f"{p}: line 6, column 'Store+Dept': an empty field"}}
    # each part of the id is a grouping of the series (training.groups), named by its column
    groups = panel.history.groups.set_index(ID).sort_index()
    assert groups.to_dict("list") == {"Store": ["1", "1", "2", "3"], "Dept": ["1", "2", "1", "1"]}


def test_parquet_and_gzipped_csv_read_the_same(tmp_path):
    df = _series()
    df.to_parquet(tmp_path / "p.parquet", index=False)
    with gzip.open(tmp_path / "p.csv.gz", "wt") as f:
        df.to_csv(f, index=False)
    a = PF.read_panel_file(tmp_path / "p.parquet", PanelConfig(), columns=COLS).history.frame
    b = PF.read_panel_file(tmp_path / "p.csv.gz", PanelConfig(), columns=COLS).history.frame
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 3 * 60 and a[Y].sum() == df["units_sold"].sum()


@pytest.mark.parametrize(("line", "says"), [
    ("b,2021-13-01,3", "unparseable_timestamp: 1 (first {p}: line 4, column 'week_ending': '2021-13-01')"),
    ("b,2021-02-01,three", "unparseable_quantity: 1 (first {p}: line 4, column 'units_sold': 'three')"),
    ("b,2021-02-01,inf", "unparseable_quantity: 1 (first {p}: line 4, column 'units_sold': 'inf')"),
    ("b,2021-02-01,-2", "negative_quantity: 1 (first {p}: line 4, column 'units_sold': '-2')"),
    (",2021-02-01,2", "missing_item_id: 1 (first {p}: line 4, column 'sku': an empty field)"),
    ("b,2021-02-", "unparseable_timestamp: 1 (first {p}: line 4, column 'week_ending': '2021-02-')"),  # a truncated last line
    ("b,2021-02-01", "missing_quantity: 1 (first {p}: line 4, column 'units_sold': an empty field)"),  # cut before the quantity
])
def test_a_bad_row_is_named_by_file_line_column_and_reason(tmp_path, line, says):
    p = _csv(tmp_path, "sku,week_ending,units_sold\na,2021-01-03,1\nb,2021-01-03,2\n" + line + "\n")
    # one bad row of three: above the 10% the build would publish, so nothing is scored
    with pytest.raises(PF.PanelFileError) as e:
        PF.read_panel_file(p, PanelConfig(), columns=COLS)
    assert str(e.value).startswith(f"{p}: 1 of 3 rows are bad, above the 10%") and says.format(p=p) in str(e.value)


def test_a_few_bad_rows_are_set_aside_and_reported(tmp_path, caplog):
    df = _series().astype(str)
    df.loc[5, "units_sold"] = "-4"
    df.loc[9, "units_sold"] = "x"
    df.loc[11, "week_ending"] = "someday"
    df.loc[12, "units_sold"] = "-1"
    p = tmp_path / "few.csv"
    df.to_csv(p, index=False)
    good = df.drop(index=[5, 9, 11, 12])
    panel = PF.read_panel_file(p, PanelConfig(), columns=COLS)
    assert panel.history.frame[Y].sum() == pd.to_numeric(good["units_sold"]).sum()
    assert panel.extra["set_aside"] == {
        "unparseable_timestamp": {"rows": 1, "first": f"{p}: line 13, column 'week_ending': 'someday'"},
        "unparseable_quantity": {"rows": 1, "first": f"{p}: line 11, column 'units_sold': 'x'"},
        "negative_quantity": {"rows": 2, "first": f"{p}: line 7, column 'units_sold': '-4'"},
    }
    assert "4 of 180 rows set aside" in caplog.text
    # the tables and the page name what was set aside beside the panel
    assert "(180 rows read, 4 set aside: unparseable_timestamp 1, unparseable_quantity 1, negative_quantity 2)" in panel.description
    # the build's threshold decides: with 2% allowed the same file is refused
    with pytest.raises(PF.PanelFileError, match="4 of 180 rows are bad, above the 2%"):
        PF.read_panel_file(p, PanelConfig(), columns=COLS, max_set_aside=0.02)


def test_dates_are_iso_unless_a_format_is_given(tmp_path):
    rows = "".join(f"a,{d:%d/%m/%Y},1\n" for d in pd.date_range("2024-01-01", periods=30, freq="7D"))
    p = _csv(tmp_path, "sku,week_ending,units_sold\n" + rows)
    # 05/02/2024 read by a guess could be May or February: not guessed
    with pytest.raises(PF.PanelFileError, match=r"30 of 30 rows are bad.*unparseable_timestamp: 30 \(first .*line 2, column "
                                                r"'week_ending': '01/01/2024'\) \(dates are read as ISO 8601.*--panel-date-format"):
        PF.read_panel_file(p, PanelConfig(), columns=COLS)
    f = PF.read_panel_file(p, PanelConfig(), columns=COLS, date_format="%d/%m/%Y").history.frame
    assert f[DS].iloc[5] == pd.Timestamp("2024-02-05") and len(f) == 30


def test_a_blank_line_counts_as_a_line(tmp_path):
    p = _csv(tmp_path, "sku,week_ending,units_sold\na,2021-01-03,1\n\nb,2021-01-03,2\n")
    with pytest.raises(PF.PanelFileError, match=r"missing_item_id: 1 \(first .*: line 3, column 'sku': an empty field"):
        PF.read_panel_file(p, PanelConfig(), columns=COLS)


def test_a_parquet_row_is_named_by_its_number(tmp_path):
    df = _series()
    df.loc[7, "units_sold"] = -1
    df.to_parquet(tmp_path / "p.parquet", index=False)
    with pytest.raises(PF.PanelFileError, match=r"negative_quantity: 1 \(first .*p.parquet: row 7, column 'units_sold': '-1'\)"):
        PF.read_panel_file(tmp_path / "p.parquet", PanelConfig(), columns=COLS, max_set_aside=0.0)


def test_missing_columns_name_the_ones_the_file_has(tmp_path):
    p = _csv(tmp_path, "item,week,qty\na,2021-01-03,1\n")
    with pytest.raises(PF.PanelFileError, match=r"no column 'unique_id', 'ds', 'y'; it has \['item', 'week', 'qty'\].*--panel-columns"):
        PF.read_panel_file(p, PanelConfig())


def test_unreadable_files_say_why(tmp_path):
    with pytest.raises(PF.PanelFileError, match="no such file"):
        PF.read_panel_file(tmp_path / "absent.csv", PanelConfig())
    with pytest.raises(PF.PanelFileError, match="unknown file type"):
        PF.read_panel_file(_csv(tmp_path, "x", "panel.txt"), PanelConfig())
    with pytest.raises(PF.PanelFileError, match=r"panel\.xlsx: cannot be read as a workbook"):
        PF.read_panel_file(_csv(tmp_path, "x", "panel.xlsx"), PanelConfig())
    with pytest.raises(PF.PanelFileError, match="cannot be read"):
        PF.read_panel_file(_csv(tmp_path, "not parquet", "p.parquet"), PanelConfig())
    with pytest.raises(PF.PanelFileError, match="no rows"):
        PF.read_panel_file(_csv(tmp_path, "unique_id,ds,y\n"), PanelConfig())


def test_column_spec_and_names():
    assert PF.parse_columns(" sku, week ,units") == ("sku", "week", "units")
    for bad in ("sku,week", "sku,sku,units", "sku,,units", "store+,week,units"):
        with pytest.raises(PF.PanelFileError, match="three different column names"):
            PF.parse_columns(bad)
    assert PF.panel_name(Path("/x/My Sales (2024).csv.gz"), set()) == "My_Sales_2024"
    assert PF.panel_name(Path("weekly_sales.parquet"), {"weekly_sales"}) == "file_weekly_sales"
    assert PF.panel_name(Path("b/weekly_sales.csv"), {"weekly_sales", "file_weekly_sales"}) == "file_weekly_sales_2"


def test_panel_names_default_to_the_files_alone_and_a_missing_file_stops_before_any_panel_runs(tmp_path):
    from benchmarks.bench_accuracy import main, panel_names

    assert panel_names(None, False) == list(P.PANELS)
    assert panel_names(None, True) == []
    assert panel_names("none", False) == []
    assert panel_names("weekly_sales, m4_weekly", True) == ["weekly_sales", "m4_weekly"]
    with pytest.raises(SystemExit, match=r"absent\.csv: no such file"):
        main(["--panels", "weekly_sales", "--panel-file", str(tmp_path / "absent.csv"), "--out", str(tmp_path)])
    assert not (tmp_path / "panels").exists()


def test_the_suite_runs_a_short_panel_file_on_the_windows_it_holds_and_says_so(tmp_path):
    """22 weeks hold one of the two quick evaluation windows (8 training weeks, a 12-week
    horizon): the panel is scored there, not skipped, and its result and caption say why."""
    from benchmarks.bench_accuracy import main

    _series(weeks=22).to_csv(tmp_path / "brief.csv", index=False)
    out = tmp_path / "out"
    assert main(["--panel-file", str(tmp_path / "brief.csv"), "--panel-columns", "sku,week_ending,units_sold",
                 "--quick", "--models", "naive,seasonal_naive", "--peers", "none", "--out", str(out),
                 "--no-progress"]) == 0
    (p,) = json.loads((out / "accuracy.json").read_text())["panels"]
    assert [w["role"] for w in p["windows"]] == ["eval"] and p["models"]["blend"]["mase"] > 0
    assert "the panel spans 22 weeks: it holds 1 of the 2 evaluation windows" in p["windows_reduced"]
    text = " ".join((out / "accuracy.txt").read_text().split())  # the caption may wrap
    assert "fewer evaluation windows: the panel spans 22 weeks" in text
    assert [c["choice"] for c in p["blend_choice"]] == ["median"]  # no earlier origin to learn weights from
    assert "the members' median at 1 eval origin(s) with no earlier one" in text
    # the rank summary names the panel whose ranks rest on one window and no learned blend
    summary = json.loads((out / "accuracy.json").read_text())["rank_summary"]
    assert summary["short_panels"] == {"brief": {"eval_windows": 1, "median_origins": 1}}
    assert "short panels, ranked on less: brief (1 eval window(s), the members' median at 1)" in text


@pytest.mark.slow
def test_the_suite_scores_a_panel_file_and_skips_a_bad_one_without_losing_the_good(tmp_path):
    from benchmarks.bench_accuracy import main

    good = pd.read_csv(WEEKLY, dtype={"sku": str})
    keep = sorted(good["sku"].unique())[:30]
    good = good[good["sku"].isin(keep)]
    good.to_csv(tmp_path / "shop.csv", index=False)
    bad = good.copy()
    bad.loc[bad.index[::5], "units_sold"] = -3  # 20% of the rows: above the 10% the build publishes
    bad.to_csv(tmp_path / "broken.csv", index=False)
    _series(weeks=16).to_csv(tmp_path / "short.csv", index=False)  # too short for one window (20 weeks)
    out = tmp_path / "out"
    rc = main(["--panel-file", str(tmp_path / "shop.csv"), "--panel-file", str(tmp_path / "broken.csv"),
               "--panel-file", str(tmp_path / "short.csv"),
               "--panel-columns", "sku,week_ending,units_sold", "--quick", "--models", "naive,seasonal_naive",
               "--peers", "autoets", "--out", str(out), "--no-progress"])
    assert rc == 1  # two panels skipped
    res = json.loads((out / "accuracy.json").read_text())
    (p,) = res["panels"]
    assert p["panel"] == "shop" and p["n_series"] == 30
    assert set(p["models"]) == {"naive", "seasonal_naive", "blend"} and p["models"]["blend"]["mase"] > 0
    assert p["peers"]["autoets"]["mase"] > 0 and "final" in p["hot_sellers"]
    assert (out / "panels" / "shop" / "forecasts.parquet").is_file()
    assert not (out / "panels" / "broken").exists() and not (out / "panels" / "short").exists()
    # the classifier refitted on the stored run reads the same file the same way
    from benchmarks.accuracy.hot_refit import main as refit

    assert refit(["--run", str(out), "--panel-file", str(tmp_path / "shop.csv"), "--panel-columns",
                  "sku,week_ending,units_sold", "--json", str(tmp_path / "refit.json")]) == 0
    again = json.loads((tmp_path / "refit.json").read_text())["run's settings"]["shop"]
    assert again["max_diff_vs_run"] == 0.0
    assert again["ap"]["final"] == pytest.approx(p["hot_sellers"]["final"]["average_precision"])
    # and so does the blend replayed on the stored member forecasts
    from benchmarks.accuracy.replay import main as replay

    assert replay(["--run", str(out), "--panel-file", str(tmp_path / "shop.csv"), "--panel-columns",
                   "sku,week_ending,units_sold", "--json", str(tmp_path / "replay.json")]) == 0
    blend = json.loads((tmp_path / "replay.json").read_text())["shop"]["members"]["blend"]
    assert blend["mase"] == pytest.approx(p["models"]["blend"]["mase"], rel=1e-9)


def _odd_panel(path: Path) -> None:
    """120 series over 45 weeks of the shapes a real file holds beside ordinary demand."""
    rng = np.random.default_rng(3)
    weeks = pd.date_range("2022-01-03", periods=45, freq="7D")
    rows = []
    for i in range(120):
        kind = i % 8
        if kind == 0:
            ys = np.zeros(45)  # never sold
        elif kind == 1:
            ys = np.full(45, 7.0)  # constant
        elif kind == 2:
            ys = 1e7 * (1 + 0.02 * np.arange(45)) * rng.lognormal(0, 0.1, 45)  # huge and trending
        elif kind == 3:
            ys = np.r_[np.full(42, np.nan), rng.poisson(20, 3)]  # born in the last 3 weeks
        elif kind == 4:
            ys = np.r_[rng.poisson(30, 20), np.zeros(25)]  # discontinued
        elif kind == 5:
            ys = np.zeros(45)
            ys[rng.integers(0, 45)] = 500  # one spike
        elif kind == 6:
            ys = np.round(rng.gamma(2, 50, 45), 2)  # money, not units
        else:
            ys = rng.poisson(0.3, 45).astype(float)  # intermittent
        rows += [(f"item{i:03d}", d.strftime("%Y-%m-%d"), y) for d, y in zip(weeks, ys, strict=True) if not np.isnan(y)]
    df = pd.DataFrame(rows, columns=[ID, DS, Y])
    df[~((df[Y] == 0) & (rng.random(len(df)) < 0.5))].to_parquet(path, index=False)  # half the zero weeks absent


@pytest.mark.slow
def test_the_default_configuration_runs_end_to_end_on_odd_series(tmp_path):
    """Never-sold, constant, 1e7-scale, born-late, discontinued, one-spike and money series in a
    45-week file: every default member and the blend forecast every row, finite, ordered, >= 0."""
    from benchmarks.bench_accuracy import main

    _odd_panel(tmp_path / "odd.parquet")
    out = tmp_path / "out"
    assert main(["--panel-file", str(tmp_path / "odd.parquet"), "--peers", "autoets", "--out", str(out), "--no-progress"]) == 0
    (p,) = json.loads((out / "accuracy.json").read_text())["panels"]
    assert p["n_series"] == 120 and [w["role"] for w in p["windows"]].count("eval") == 3
    assert {"seasonal_naive", "naive", "xgboost", "xgboost_median", "theta", "blend"} <= set(p["models"])
    # the long-window booster waits for a panel of 104 weeks
    assert "xgboost_long" not in p["models"] and "xgboost_long" in p.get("members_left_out", {})
    assert all(np.isfinite(v["mase"]) for v in p["models"].values())
    assert p["models"]["blend"]["mase"] < p["models"]["naive"]["mase"]
    fc = pd.read_parquet(out / "panels" / "odd" / "forecasts.parquet")
    models = list(p["models"])
    cols = [f"{m}{q}" for m in models for q in ("", "-q10", "-q50", "-q90")]
    assert fc[cols].notna().all().all() and (fc[cols] >= 0).all().all()
    for m in models:
        assert (fc[f"{m}-q10"] <= fc[f"{m}-q50"] + 1e-9).all() and (fc[f"{m}-q50"] <= fc[f"{m}-q90"] + 1e-9).all()
    # a series born in the panel's last 3 weeks is forecast from none of the earlier origins
    assert fc.loc[fc[ID] == "item003", "cutoff"].nunique() == 0
    assert np.isfinite(p["hot_sellers"]["final"]["average_precision"])


def test_the_default_configuration_and_every_peer_run_on_one_short_series(tmp_path):
    """One item, 30 weeks, 12-week horizon: the global boosters have too few training rows at the
    early origins and forecast by their fallback baseline, the LightGBM peers have no series long
    enough for their lags at the first origin and forecast last values; nothing stops the run."""
    from benchmarks.bench_accuracy import main

    rng = np.random.default_rng(3)
    days = pd.date_range("2024-01-07", periods=30, freq="7D")
    pd.DataFrame({"unique_id": "only", "ds": days, "y": rng.poisson(20, 30).astype(float)}).to_csv(tmp_path / "one.csv", index=False)
    out = tmp_path / "out"
    assert main(["--panel-file", str(tmp_path / "one.csv"), "--out", str(out), "--no-progress"]) == 0
    (p,) = json.loads((out / "accuracy.json").read_text())["panels"]
    assert p["n_series"] == 1 and all(np.isfinite(v["mase"]) for v in p["models"].values())
    fell = p["model_info"]["xgboost"]
    assert any(v.get("fallback") == "moving_average" for v in fell.values())
    assert set(p["peers"]) == {"lightgbm", "lightgbm_diff", "autoets"}
    assert all(v["missing_rows"] == 0 and np.isfinite(v["mase"]) for v in p["peers"].values())


def test_known_future_columns_are_weekly_aggregates_in_the_frame_and_the_known_future(tmp_path):
    p = _csv(tmp_path, "unique_id,ds,y,price,promo,events\n"
                       "a,2024-01-01,1,2.0,0,1\n"
                       "a,2024-01-03,1,4.0,1,2\n"   # same week: mean price 3, max promo 1, sum events 3
                       "a,2024-01-17,1,,0,\n"       # an empty value: unknown that week
                       "b,2024-01-08,5,1.5,0,0\n")
    known = PF.parse_known("price, promo:max,events:sum", PF.DEFAULT_COLUMNS)
    assert known == {"price": "mean", "promo": "max", "events": "sum"}
    h = PF.read_panel_file(p, PanelConfig(), known=known).history
    a = h.frame[h.frame[ID] == "a"].reset_index(drop=True)
    assert a[DS].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-01", "2024-01-08", "2024-01-15"]
    assert a["price"].tolist()[0] == 3.0 and a["promo"].tolist()[0] == 1.0 and a["events"].tolist()[0] == 3.0
    # a week without a row, and an empty value, are filled as the build fills them: a mean carries
    # the last price, a max or a sum is 0
    assert a[["price", "promo", "events"]].iloc[1].tolist() == [3.0, 0.0, 0.0]
    assert a[["price", "promo", "events"]].iloc[2].tolist() == [3.0, 0.0, 0.0]
    b = h.frame[h.frame[ID] == "b"]
    assert b["price"].tolist() == [1.5, 1.5] and b["events"].tolist() == [0.0, 0.0]  # b's first value carries on
    assert not h.frame[["price", "promo", "events"]].isna().any().any()
    # before a series' first value: the first one; never known: 0
    q = tmp_path / "late.csv"
    q.write_text("unique_id,ds,y,price\nc,2024-01-01,1,\nc,2024-01-15,1,5.0\nd,2024-01-01,2,\n")
    late = PF.read_panel_file(q, PanelConfig(), known={"price": "mean"}).history.frame
    assert late.groupby(ID)["price"].apply(list).to_dict() == {"c": [5.0, 5.0, 5.0], "d": [0.0, 0.0, 0.0]}
    assert h.covariates == ["price", "promo", "events"]
    pd.testing.assert_frame_equal(h.known_future, h.frame[[ID, DS, "price", "promo", "events"]])
    fut = h.future(pd.Timestamp("2024-01-01"), 2)
    # at an origin: the next weeks of the series known then (b starts after it)
    assert fut[ID].tolist() == ["a", "a"] and fut[DS].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-08", "2024-01-15"]


def test_a_known_flag_written_as_words_reads_as_the_build_reads_it(tmp_path):
    """A store x department export's `IsHoliday` column holds TRUE/FALSE: 1/0, as a source's
    `known_future` column reads it (macro flag_number), not a bad row."""
    p = _csv(tmp_path, "Store,Dept,Date,Weekly_Sales,IsHoliday\n"
                       "1,1,2010-02-05,24924.5,FALSE\n1,1,2010-02-12,46039.49,TRUE\n1,1,2010-02-19,41595.55,no\n")
    h = PF.read_panel_file(p, PanelConfig(), columns=PF.parse_columns("Store+Dept,Date,Weekly_Sales"),
                           known={"IsHoliday": "max"}, max_set_aside=0.0).history
    assert h.frame["IsHoliday"].tolist() == [0.0, 1.0, 0.0]


def test_known_future_columns_are_checked(tmp_path):
    for bad, says in [("price:median", "aggregate 'median' is not one of mean, max, sum"),
                      ("y", "must be a column name"), ("price,price:max", "named once"), ("unit price", "must be a column name")]:
        with pytest.raises(PF.PanelFileError, match=says):
            PF.parse_known(bad, PF.DEFAULT_COLUMNS)
    with pytest.raises(PF.PanelFileError, match="must be a column name"):
        PF.parse_known("Store", PF.parse_columns("Store+Dept,Date,Sales"))
    # a price that is not a number is no price that week, as the build reads it: the row and its
    # units are kept (nothing set aside even at 0% allowed), and the file, line and column are named
    p = _csv(tmp_path, "unique_id,ds,y,price\n" + "".join(f"a,2024-01-{d:02d},1,{'x' if d == 8 else 2}\n" for d in range(1, 29)))
    panel = PF.read_panel_file(p, PanelConfig(), known={"price": "mean"}, max_set_aside=0.0)
    assert panel.extra["set_aside"] == {} and panel.history.frame[Y].sum() == 28
    assert panel.extra["known_unreadable"] == {"price": {"rows": 1, "first": f"{p}: line 9, column 'price': 'x'"}}
    assert panel.history.frame["price"].tolist() == [2.0] * 4  # the week's other prices
    # a column none of whose values reads holds no plan: refused, named
    q = _csv(tmp_path, "unique_id,ds,y,price\na,2024-01-01,1,$2.55\na,2024-01-08,1,\na,2024-01-15,1,$2.60\n", "dollars.csv")
    with pytest.raises(PF.PanelFileError, match=r"--panel-known price: no value .* \(first .*dollars.csv: line 2, column 'price': '\$2.55'\)"):
        PF.read_panel_file(q, PanelConfig(), known={"price": "mean"})
    with pytest.raises(PF.PanelFileError, match=r"no column 'promo'"):
        PF.read_panel_file(p, PanelConfig(), known={"promo": "max"})


def test_the_generated_chain_can_name_its_promotion_weeks_without_changing_its_sales():
    from synthetic.store_sales import store_department_sales

    plain = store_department_sales(n_stores=4, n_departments=10)
    with_promo = store_department_sales(n_stores=4, n_departments=10, promotions=True)
    pd.testing.assert_frame_equal(with_promo[[ID, DS, Y]], plain)
    assert set(with_promo["promo"].unique()) == {0.0, 1.0} and 0.01 < with_promo["promo"].mean() < 0.03
    # a promoted week sells more than the same series' weeks around it
    f = with_promo.sort_values([ID, DS])
    around = f.groupby(ID)[Y].transform(lambda s: (s.shift(1) + s.shift(-1)) / 2)
    lift = (f[Y] / around)[f["promo"] == 1.0].dropna()
    assert lift.median() > 1.25


@pytest.mark.slow
def test_a_known_promotion_calendar_reaches_the_booster_and_lowers_its_error_in_promoted_weeks(tmp_path):
    from benchmarks.bench_accuracy import main
    from synthetic.store_sales import store_department_sales

    f = store_department_sales(n_stores=8, n_departments=12, promotions=True)
    f.rename(columns={"promo": "on_promo"}).to_csv(tmp_path / "chain.csv", index=False)
    # the shipped configuration with one XGBoost booster and no refit: the question is whether
    # the column reaches the booster, not how good the default ensemble is (4 times quicker)
    doc = yaml.safe_load((REPO / "darkhorse.yaml").read_text())
    doc["forecast"]["models"] = [{"model": "naive"}, {"model": "xgboost", "params": {"n_bags": 1, "refit": False}}]
    (tmp_path / "darkhorse.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    runs = {}
    for name, extra in (("plain", []), ("promo", ["--panel-known", "on_promo:max"])):
        out = tmp_path / name
        assert main(["--config", str(tmp_path / "darkhorse.yaml"), "--panel-file", str(tmp_path / "chain.csv"),
                     *extra, "--quick", "--no-hot-sellers", "--peers", "none", "--out", str(out), "--no-progress"]) == 0
        runs[name] = pd.read_parquet(out / "panels" / "chain" / "forecasts.parquet")
    key = [ID, DS, "cutoff"]
    both = runs["plain"].merge(runs["promo"], on=[*key, "window", Y], suffixes=("_plain", "_promo"))
    both = both[both["window"] == "eval"].merge(f[[ID, DS, "promo"]], on=[ID, DS])
    assert len(both) == len(runs["plain"][runs["plain"]["window"] == "eval"])
    # the naive member reads no covariate: the same forecasts; the booster's change
    np.testing.assert_allclose(both["naive_plain"], both["naive_promo"])
    promoted = both[both["promo"] == 1.0]
    assert len(promoted) >= 20
    err = {k: (promoted[f"xgboost_{k}"] - promoted[Y]).abs().mean() for k in ("plain", "promo")}
    assert err["promo"] < 0.8 * err["plain"], err


def _wide_weekly(tmp_path: Path, numbered: bool) -> Path:
    long = pd.read_csv(WEEKLY, dtype={"sku": str})
    wide = long.pivot(index="sku", columns="week_ending", values="units_sold")
    if numbered:  # W0, W1, ... as in a file that holds no dates (a week no series sold has no column)
        first = pd.Timestamp(long["week_ending"].min())
        wide.columns = [f"W{(pd.Timestamp(c) - first).days // 7}" for c in wide.columns]
    wide["MAX"] = wide.max(axis=1)  # a summary column the glob leaves out
    path = tmp_path / "wide.csv"
    wide.reset_index().to_csv(path, index=False)
    return path


@pytest.mark.parametrize("numbered", [True, False])
def test_a_wide_file_reads_as_its_long_form(tmp_path, numbered):
    long = pd.read_csv(WEEKLY)
    ref = PF.read_panel_file(WEEKLY, PanelConfig(), columns=COLS)
    wide = (("W*", pd.Timestamp(long["week_ending"].min()).date()) if numbered
            else PF.parse_wide("20??-??-??", None))
    mine = PF.read_panel_file(_wide_weekly(tmp_path, numbered), PanelConfig(), columns=PF.parse_columns("sku", wide=True),
                              name="weekly_sales", wide=wide)
    pd.testing.assert_frame_equal(mine.history.frame, ref.history.frame)
    pd.testing.assert_frame_equal(mine.history.labels, ref.history.labels)
    assert mine.extra["wide"] == {"periods": wide[0], "first_date": wide[1] and str(wide[1])}


def test_a_wide_file_s_bad_cell_is_named_by_line_and_column(tmp_path):
    p = _csv(tmp_path, "item,W1,W2,W3\na,1,2,3\nb,4,x,6\n")
    with pytest.raises(PF.PanelFileError, match=r"unparseable_quantity: 1 \(first .*wide.csv: line 3, column 'W2': 'x'\)"):
        PF.read_panel_file(p.rename(tmp_path / "wide.csv"), PanelConfig(), columns=PF.parse_columns("item", wide=True),
                           wide=("W*", pd.Timestamp("2024-01-01").date()))
    p = _csv(tmp_path, "item,Week 1 2020,Week 2 2020\na,1,2\n")
    with pytest.raises(PF.PanelFileError, match="both end in the number 2020"):
        PF.read_panel_file(p, PanelConfig(), columns=PF.parse_columns("item", wide=True),
                           wide=("Week*", pd.Timestamp("2024-01-01").date()))
    with pytest.raises(PF.PanelFileError, match="period column 'Week 1 2020' is not a date"):
        PF.read_panel_file(p, PanelConfig(), columns=PF.parse_columns("item", wide=True), wide=("Week*", None))
    with pytest.raises(PF.PanelFileError, match="no column matches --panel-wide 'd_\\*'"):
        PF.read_panel_file(p, PanelConfig(), columns=PF.parse_columns("item", wide=True), wide=("d_*", None))
    with pytest.raises(PF.PanelFileError, match="with --panel-wide name the id column only"):
        PF.parse_columns("item,date,qty", wide=True)
    with pytest.raises(PF.PanelFileError, match="--panel-first-date needs --panel-wide"):
        PF.parse_wide(None, "2024-01-01")
    with pytest.raises(PF.PanelFileError, match="give a date as YYYY-MM-DD"):
        PF.parse_wide("W*", "01/02/2024")


def test_a_wide_file_s_zero_cell_is_a_row_and_a_blank_one_none(tmp_path):
    p = _csv(tmp_path, "item,W1,W2,W3,W4\na,0,,3,1\nb,,,2,0\n")
    frame = PF.read_panel_file(p, PanelConfig(), columns=PF.parse_columns("item", wide=True),
                               wide=("W*", pd.Timestamp("2024-01-01").date())).history.frame
    got = {(r[ID], str(r[DS].date())): r[Y] for _, r in frame.iterrows()}
    assert got == {("a", "2024-01-01"): 0.0, ("a", "2024-01-08"): 0.0, ("a", "2024-01-15"): 3.0, ("a", "2024-01-22"): 1.0,
                   ("b", "2024-01-15"): 2.0, ("b", "2024-01-22"): 0.0}


def _weekly_workbook(tmp_path: Path, bad: str | None = None) -> Path:
    """The weekly-sales example as a spreadsheet types it (numbers, dates), after a notes sheet."""
    import openpyxl

    long = pd.read_csv(WEEKLY, dtype={"sku": str})
    book = openpyxl.Workbook()
    book.active.title = "Notes"
    book.active.append(["units sold per week"])
    sheet = book.create_sheet("Sales")
    sheet.append(list(COLS))
    for i, r in enumerate(long.itertuples(index=False)):
        units = bad if bad is not None and i == 5 else int(r.units_sold)
        sheet.append([int(r.sku) if r.sku.isdigit() else r.sku, pd.Timestamp(r.week_ending).to_pydatetime(), units])
    path = tmp_path / "weekly.xlsx"
    book.save(path)
    return path


def test_a_workbook_reads_as_its_csv_export(tmp_path):
    ref = PF.read_panel_file(WEEKLY, PanelConfig(), columns=COLS)
    path = _weekly_workbook(tmp_path)
    mine = PF.read_panel_file(path, PanelConfig(), columns=COLS, name="weekly_sales")  # the sheet with the columns
    pd.testing.assert_frame_equal(mine.history.frame, ref.history.frame)
    pd.testing.assert_frame_equal(mine.history.labels, ref.history.labels)
    same = PF.read_panel_file(path, PanelConfig(), columns=COLS, name="weekly_sales", sheet="Sales")
    pd.testing.assert_frame_equal(same.history.frame, ref.history.frame)
    assert same.extra["sheet"] == "Sales"
    with pytest.raises(PF.PanelFileError, match=r"no column 'sku', 'week_ending', 'units_sold'; it has \['units sold per week'\]"):
        PF.read_panel_file(path, PanelConfig(), columns=COLS, sheet="Notes")
    with pytest.raises(PF.PanelFileError, match=r"weekly.xlsx: no sheet 'Year 2011'; its sheets are \['Notes', 'Sales'\]"):
        PF.read_panel_file(path, PanelConfig(), columns=COLS, sheet="Year 2011")
    with pytest.raises(PF.PanelFileError, match="--panel-sheet is for workbooks"):
        PF.read_panel_file(WEEKLY, PanelConfig(), columns=COLS, sheet="Sales")


def test_a_workbook_s_bad_cell_is_named_by_sheet_and_row(tmp_path):
    path = _weekly_workbook(tmp_path, bad="twelve")
    panel = PF.read_panel_file(path, PanelConfig(), columns=COLS)
    # the sixth data row is the sheet's row 7 (the header is row 1)
    assert panel.extra["set_aside"] == {"unparseable_quantity": {
        "rows": 1, "first": f"{path} sheet 'Sales': row 7, column 'units_sold': 'twelve'"}}


def test_numbers_with_a_decimal_comma_and_grouping_read_as_the_build_reads_them(tmp_path):
    df = _series()
    df["units_sold"] = df["units_sold"] * 137.5  # 0 to 3,987.5: grouped thousands and a decimal part
    plain = tmp_path / "plain.csv"
    df.to_csv(plain, index=False)
    german = tmp_path / "german.csv"
    df.assign(units_sold=[f"{v:,.1f}".replace(",", "_").replace(".", ",").replace("_", ".") for v in df["units_sold"]]) \
        .to_csv(german, index=False, sep=";")
    assert "3.987,5" in german.read_text() or "1.100,0" in german.read_text()
    ref = PF.read_panel_file(plain, PanelConfig(), columns=COLS, name="p").history.frame
    mine = PF.read_panel_file(german, PanelConfig(), columns=COLS, name="p", decimal=",", thousands=".")
    pd.testing.assert_frame_equal(mine.history.frame, ref)
    assert mine.extra["decimal"] == "," and mine.extra["thousands"] == "."
    with pytest.raises(PF.PanelFileError, match="rows are bad"):  # undeclared: set aside, not read small
        PF.read_panel_file(german, PanelConfig(), columns=COLS, name="p")
    with pytest.raises(PF.PanelFileError, match="--panel-thousands and --panel-decimal are both ','"):
        PF.read_panel_file(german, PanelConfig(), columns=COLS, decimal=",", thousands=",")


def test_dates_with_their_own_offsets_are_read_at_them(tmp_path):
    # Sunday 23:00 in New York, either side of the March clock change: Monday 04:00 and 03:00 UTC
    p = _csv(tmp_path, "sku,week_ending,units_sold\na,2023-03-05T23:00:00-05:00,1\na,2023-03-12T23:00:00-04:00,2\n"
                       "a,2023-03-19,3\n")
    frame = PF.read_panel_file(p, PanelConfig(), columns=COLS).history.frame
    got = dict(zip((str(d.date()) for d in frame[DS]), frame[Y], strict=True))
    assert got == {"2023-03-06": 1.0, "2023-03-13": 5.0}  # each in the UTC week holding it


def test_a_latin1_file_reads_once_its_encoding_is_given(tmp_path):
    text = "sku;week_ending;units_sold\nCAFÉ;2021-01-03;3\nRÉGENCE;2021-01-03;4\nCAFÉ;2021-01-10;5\n"
    p = tmp_path / "latin.csv"
    p.write_bytes(text.encode("latin-1"))
    frame = PF.read_panel_file(p, PanelConfig(), columns=COLS, encoding="latin-1").history.frame
    assert set(frame[ID]) == {"CAFÉ", "RÉGENCE"} and frame[Y].sum() == 12
    with pytest.raises(PF.PanelFileError, match="--panel-encoding 'cp1252': choose from utf-8, latin-1, utf-16"):
        PF.read_panel_file(p, PanelConfig(), columns=COLS, encoding="cp1252")
