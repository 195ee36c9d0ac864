"""A wide sales table (one row per item, one column per period) builds the panel its long
form builds; its period columns are read by one rule (darkhorse.core.wide)."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from darkhorse.app.build import build
from darkhorse.app.preflight import SourceError, preflight
from darkhorse.core.config import ConfigError
from darkhorse.core.wide import WideLayoutError, glob_regex, period_columns, period_dates
from tests.conftest import write_config

WEEKS = 20
FIRST_MONDAY = date(2023, 1, 2)


def _cells(seed: int = 0) -> pd.DataFrame:
    """Eight products x WEEKS weeks of counts; product P3 launches in week 5 (blank before), P5
    in week 3 (zeros before)."""
    rng = np.random.default_rng(seed)
    units = rng.poisson(6, size=(8, WEEKS)).astype(float)
    units[1, 7] = 0.0
    units[5, :3] = 0.0
    frame = pd.DataFrame(units, columns=[f"W{i}" for i in range(WEEKS)])
    frame.insert(0, "Product_Code", [f"P{i}" for i in range(8)])
    frame["MIN"] = units.min(axis=1)  # not a period: left alone
    frame = frame.astype({c: object for c in frame.columns if c.startswith("W")})
    for i in range(5):
        frame.loc[3, f"W{i}"] = None
    return frame


def _long(frame: pd.DataFrame) -> pd.DataFrame:
    long = frame.melt(id_vars="Product_Code", value_vars=[f"W{i}" for i in range(WEEKS)],
                      var_name="week", value_name="units").dropna()
    long["date"] = [str(FIRST_MONDAY + pd.Timedelta(weeks=int(w[1:]))) for w in long["week"]]
    return long[["Product_Code", "date", "units"]]


def _weeks(cfg) -> pd.DataFrame:
    return duckdb.sql(
        f"select item_id, week_start, units from read_parquet('{cfg.marts_dir}/item_weeks.parquet') "
        "order by item_id, week_start"
    ).df()


@pytest.mark.integration
def test_a_wide_table_builds_the_panel_of_its_long_form(tmp_path):
    frame = _cells()
    # the columns shuffled: the numbers in the names date them, not their order
    frame = frame[["Product_Code", *[f"W{i}" for i in np.random.default_rng(1).permutation(WEEKS)], "MIN"]]
    wide_csv = tmp_path / "wide" / "weekly.csv"
    wide_csv.parent.mkdir()
    frame.to_csv(wide_csv, index=False)
    long_csv = tmp_path / "long" / "weekly.csv"
    long_csv.parent.mkdir()
    _long(frame).to_csv(long_csv, index=False)

    wide_cfg = write_config(tmp_path / "wide", [{
        "name": "uci", "kind": "sales", "path": str(wide_csv), "granularity": "weekly",
        "columns": {"item_id": "Product_Code"},
        "wide": {"periods": "W*", "first_date": str(FIRST_MONDAY)},
    }], panel={"horizon_weeks": 4})
    long_cfg = write_config(tmp_path / "long", [{
        "name": "uci", "kind": "sales", "path": str(long_csv), "granularity": "weekly",
        "columns": {"item_id": "Product_Code", "date": "date", "quantity": "units"},
    }], panel={"horizon_weeks": 4})
    wide_summary = build(wide_cfg, features=False)
    long_summary = build(long_cfg, features=False)

    assert wide_summary["gate"]["success"]
    assert wide_summary["panel"] == long_summary["panel"]
    assert wide_summary["calendar"]["first_complete_week"] == str(FIRST_MONDAY)
    pd.testing.assert_frame_equal(_weeks(wide_cfg), _weeks(long_cfg))
    weeks = _weeks(wide_cfg)
    # blank cells are no rows: P3 starts in week 5; zeros are rows: P5 starts in week 0
    assert weeks[weeks.item_id == "P3"].week_start.min().date() == FIRST_MONDAY + pd.Timedelta(weeks=5)
    assert weeks[weeks.item_id == "P5"].week_start.min().date() == FIRST_MONDAY
    assert weeks[weeks.item_id == "P5"].units.tolist()[:3] == [0.0, 0.0, 0.0]
    assert weeks[(weeks.item_id == "P1")].units.tolist()[7] == 0.0
    assert wide_summary["sources"]["uci"]["reasons"] == {}


@pytest.mark.integration
def test_bad_cells_are_quarantined_with_the_cell_named(tmp_path):
    frame = _cells()
    frame.loc[0, "W3"] = "12,5"
    frame.loc[2, "W9"] = -4
    path = tmp_path / "weekly.parquet"
    frame.astype({c: str for c in frame.columns if c.startswith("W")}).replace("None", None).to_parquet(path)
    cfg = write_config(tmp_path, [{
        "name": "uci", "kind": "sales", "path": str(path), "granularity": "weekly",
        "columns": {"item_id": "Product_Code"}, "wide": {"periods": "W*", "first_date": str(FIRST_MONDAY)},
    }], panel={"horizon_weeks": 4})
    summary = build(cfg, features=False)
    assert summary["sources"]["uci"]["reasons"] == {"unparseable_quantity": 1, "negative_quantity": 1}
    records = duckdb.sql(
        f"select raw_record from read_parquet('{cfg.marts_dir}/quarantined_events.parquet') order by raw_record"
    ).fetchall()
    assert [r[0] for r in records] == ['{"Product_Code":"P0","W3":"12,5"}', '{"Product_Code":"P2","W9":"-4"}']


@pytest.mark.integration
def test_period_columns_named_by_dates(tmp_path, capsys):
    frame = _cells().drop(columns="MIN")
    days = pd.date_range("2023-01-01", periods=WEEKS, freq="7D")  # Sundays: each dates its own week
    frame.columns = ["Product_Code", *[d.strftime("%d/%m/%Y") for d in days]]
    path = tmp_path / "dated.csv"
    frame.to_csv(path, index=False)
    cfg = write_config(tmp_path, [{
        "name": "pivot", "kind": "sales", "path": str(path), "granularity": "weekly", "date_format": "%d/%m/%Y",
        "columns": {"item_id": "Product_Code"}, "wide": {"periods": "??/??/????"},
    }], panel={"horizon_weeks": 4})
    notes = preflight(cfg)[0].notes
    assert notes == [f"{WEEKS} period columns read as weekly periods from 2023-01-01 to {days[-1].date()}"]
    summary = build(cfg, features=False)
    assert f"source 'pivot': {notes[0]}" in capsys.readouterr().out  # the build says what it read
    assert summary["calendar"]["first_complete_week"] == "2022-12-26"
    assert summary["panel"]["items"] == 8


def test_period_rule():
    assert glob_regex("d_*") == "d_.*"
    assert glob_regex("W?.(x)") == "W.\\.\\(x\\)"
    assert period_columns(["Product_Code", "W0", "W12", "MIN", "Normalized 0", "xW1"], "W*") == ["W0", "W12"]
    dated = period_dates(["d_3", "d_1", "d_2"], date(2011, 1, 29), 1)
    assert dated == {"d_1": date(2011, 1, 29), "d_2": date(2011, 1, 30), "d_3": date(2011, 1, 31)}
    assert period_dates(["W10", "W12"], FIRST_MONDAY, 7)["W12"] == date(2023, 1, 16)  # a gap is a week
    with pytest.raises(WideLayoutError, match="'Week 1 2020' and 'Week 2 2020' both end in the number 2020"):
        period_dates(["Week 1 2020", "Week 2 2020"], FIRST_MONDAY, 7)
    with pytest.raises(WideLayoutError, match="'total' holds no number"):
        period_dates(["W1", "total"], FIRST_MONDAY, 7)


def test_preflight_refuses_unreadable_period_columns(tmp_path):
    frame = _cells()
    path = tmp_path / "weekly.csv"
    frame.to_csv(path, index=False)

    def config(**wide):
        return write_config(tmp_path, [{
            "name": "uci", "kind": "sales", "path": str(path), "granularity": "weekly",
            "columns": {"item_id": "Product_Code"}, "wide": wide,
        }])

    with pytest.raises(SourceError, match=r"weekly.csv: no column matches wide.periods 'Week\*'.*'Product_Code', 'W0'"):
        preflight(config(periods="Week*", first_date="2023-01-02"))
    with pytest.raises(SourceError, match=r"wide.periods '\*' also matches the mapped column\(s\) \['Product_Code'\]"):
        preflight(config(periods="*", first_date="2023-01-02"))
    with pytest.raises(SourceError, match=r"period column 'W0' is not a date \(ISO 8601\).*20 of 20"):
        preflight(config(periods="W*"))
    with pytest.raises(SourceError, match="'MIN' holds no number"):
        preflight(config(periods="MIN", first_date="2023-01-02"))


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"columns": {"item_id": "Product_Code", "quantity": "units"}}, "columns.quantity: a wide table's dates"),
        ({"columns": {"item_id": "Product_Code", "price": "p"}}, "columns.price: a wide table has one cell"),
        ({"known_future": [{"column": "promo"}]}, "known_future.0: column covariates need a row per item"),
    ],
)
def test_config_refuses_roles_a_wide_table_has_no_column_for(tmp_path, extra, message):
    source = {"name": "uci", "kind": "sales", "path": "w.csv", "columns": {"item_id": "Product_Code"},
              "wide": {"periods": "W*", "first_date": "2023-01-02"}, **extra}
    with pytest.raises(ConfigError, match=message):
        write_config(tmp_path, [source])


@pytest.mark.integration
def test_a_truncated_wide_file_quarantines_its_cut_line_and_a_refused_one_changes_nothing(tmp_path):
    path = tmp_path / "weekly.csv"
    _cells().to_csv(path, index=False)
    text = path.read_text()
    path.write_text(text[: text.rindex(",", 0, len(text) - 40)])  # the last row cut inside its cells
    cfg = write_config(tmp_path, [{
        "name": "uci", "kind": "sales", "path": str(path), "granularity": "weekly",
        "columns": {"item_id": "Product_Code"}, "wide": {"periods": "W*", "first_date": str(FIRST_MONDAY)},
    }], panel={"horizon_weeks": 4})
    summary = build(cfg, features=False)
    assert summary["sources"]["uci"]["reasons"] == {"malformed_line": 1}
    assert summary["panel"]["items"] == 7  # the cut product is set aside whole, the others kept
    before = _weeks(cfg)

    refused = write_config(tmp_path, [{
        "name": "uci", "kind": "sales", "path": str(path), "granularity": "weekly",
        "columns": {"item_id": "Product_Code"}, "wide": {"periods": "w*", "first_date": str(FIRST_MONDAY)},
    }], panel={"horizon_weeks": 4})
    with pytest.raises(SourceError, match=r"no column matches wide.periods 'w\*'"):
        build(refused, features=False)
    pd.testing.assert_frame_equal(_weeks(refused), before)
