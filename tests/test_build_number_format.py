"""CSV numbers written with a decimal comma and digit grouping (`1.234,5`, `1 234`), declared per
source (`decimal`, `thousands`), build the panel their plain form builds; undeclared, they are
quarantined rather than read a thousand times too small."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from darkhorse.app.build import GateFailed, build
from darkhorse.app.summary import number_format_hint
from darkhorse.core.config import ConfigError
from tests.conftest import write_config

COLUMNS = {"item_id": "sku", "date": "day", "quantity": "units", "price": "price"}


def _sales() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    days = pd.date_range("2023-01-02", periods=20, freq="7D")
    rows = [{"sku": f"P{i}", "day": d.strftime("%Y-%m-%d"), "units": float(rng.integers(1, 3000)) + (0.5 if i == 1 else 0.0),
             "price": round(float(rng.uniform(1, 2500)), 2)} for i in range(6) for d in days]
    return pd.DataFrame(rows)


def _european(value: float) -> str:
    """1234.5 as a German export writes it: 1.234,5."""
    whole, _, frac = f"{value:,.2f}".partition(".")
    frac = frac.rstrip("0")
    return whole.replace(",", ".") + ("," + frac if frac else "")


def _config(workdir, path, **number_format):
    return write_config(workdir, [{
        "name": "shop", "kind": "sales", "path": str(path), "granularity": "weekly", "columns": COLUMNS,
        "known_future": [{"column": "price", "agg": "mean"}], **number_format,
    }], panel={"horizon_weeks": 4})


def _marts(cfg) -> tuple[pd.DataFrame, pd.DataFrame]:
    weeks = duckdb.sql(f"select item_id, week_start, units, revenue from read_parquet('{cfg.marts_dir}/item_weeks.parquet') "
                       "order by all").df()
    prices = duckdb.sql(f"select item_id, week_start, price from read_parquet('{cfg.marts_dir}/item_week_covariates.parquet') "
                        "order by all").df()
    return weeks, prices


@pytest.mark.integration
def test_decimal_commas_and_grouping_build_the_panel_of_plain_numbers(tmp_path):
    sales = _sales()
    plain = tmp_path / "plain" / "sales.csv"
    plain.parent.mkdir()
    sales.to_csv(plain, index=False)
    german = tmp_path / "german" / "sales.csv"
    german.parent.mkdir()
    sales.assign(units=sales["units"].map(_european), price=sales["price"].map(_european)).to_csv(german, index=False, sep=";")

    plain_cfg = _config(tmp_path / "plain", plain)
    german_cfg = _config(tmp_path / "german", german, decimal=",", thousands=".")
    a, b = build(plain_cfg, features=False), build(german_cfg, features=False)
    assert b["sources"]["shop"]["quarantined"] == 0
    assert a["panel"] == b["panel"]
    for x, y in zip(_marts(plain_cfg), _marts(german_cfg), strict=True):
        pd.testing.assert_frame_equal(x, y)

    # the grouping undeclared, a grouped value is set aside, never read as 1.234 units (here so
    # many that the gate refuses the build)
    grouped = int((sales["units"] >= 1000).sum())
    with pytest.raises(GateFailed, match=rf"(?s)reasons=unparseable_quantity {grouped}.*source 'shop': refused numbers "
                                         r"such as '\d\.\d{3}' \(unparseable_quantity\) look written with a decimal comma"):
        build(_config(tmp_path / "undeclared", german, decimal=","), features=False)


def test_the_hint_names_refused_numbers_that_look_written_with_separators(tmp_path):
    cfg = write_config(tmp_path, [{"name": "shop", "kind": "sales", "path": "sales.csv", "columns": COLUMNS}])
    said = number_format_hint(cfg, {("shop", "unparseable_quantity"): 'sales.csv: {"sku":"P1","units":"39,5"}'})
    assert said == ("source 'shop': refused numbers such as '39,5' (unparseable_quantity) look written with a decimal "
                    "comma or digit grouping; if so, declare it on the source: decimal: ','")
    for number, declaration in [("1.234,5", "decimal: ',' and thousands: '.'"), ("1,234.5", "decimal: '.' and thousands: ','"),
                                ("1.234.567", "decimal: ',' and thousands: '.'"), ("1,234,567", "thousands: ','"),
                                ("216,000", "thousands: ',' (if it means 216000) or decimal: ','"),
                                ("1 234,5", "thousands: ' ', decimal: ','"), ("1'234", "thousands: \"'\"")]:
        hint = number_format_hint(cfg, {("shop", "unparseable_unit_price"): f'x: {{"price":"{number}"}}'})
        assert hint.endswith(f"declare it on the source: {declaration}"), hint
    assert number_format_hint(cfg, {("shop", "unparseable_quantity"): 'sales.csv: {"sku":"P1","units":"twelve"}'}) is None
    assert number_format_hint(cfg, {("shop", "unparseable_timestamp"): 'sales.csv: {"day":"1,5"}'}) is None
    typed = write_config(tmp_path, [{"name": "shop", "kind": "sales", "path": "sales.parquet", "columns": COLUMNS}])
    assert number_format_hint(typed, {("shop", "unparseable_quantity"): 'x: {"units":"39,5"}'}) is None


@pytest.mark.parametrize("extra, message", [
    ({"decimal": ",", "thousands": ","}, "thousands and decimal are both ','"),
    ({"path": "sales.parquet", "decimal": ","}, "decimal and thousands are for CSV text; a parquet file's numbers are typed"),
    ({"thousands": "x"}, "thousands"),
])
def test_the_config_refuses_separators_that_cannot_hold(tmp_path, extra, message):
    source = {"name": "shop", "kind": "sales", "path": "sales.csv", "columns": COLUMNS, **extra}
    with pytest.raises(ConfigError, match=message):
        write_config(tmp_path, [source])
