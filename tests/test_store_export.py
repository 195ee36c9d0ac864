"""The generated store x department panel written as a chain's weekly export, and that export
through the product path (`darkhorse build`, Feast, `load_history`) with the source the scale
command prints for it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from darkhorse.core.schema import DS, ID, Y
from synthetic.store_sales import HOLIDAY_WEEKS, series_id, store_department_sales, store_export

from .conftest import write_config


def test_the_export_is_the_generated_panel_with_a_chain_file_s_flaws():
    f = store_department_sales(n_stores=4, n_departments=10, weeks=60)
    e = store_export(f, missing=0.05, negative=0.05)
    assert list(e.columns) == ["Store", "Dept", "Date", "Weekly_Sales", "IsHoliday"]
    date = pd.to_datetime(e["Date"])
    assert (date.dt.dayofweek == 4).all()  # each week dated by its Friday
    assert 0.03 < 1 - len(e) / len(f) < 0.07
    neg = e["Weekly_Sales"] < 0
    assert 0.03 < neg.mean() < 0.07
    # every other row is the generator's week, found by its store, department and Monday
    back = pd.DataFrame({ID: [series_id(s - 1, d - 1) for s, d in zip(e["Store"], e["Dept"], strict=True)],
                         DS: date - pd.Timedelta(days=4), "sales": e["Weekly_Sales"]})
    joined = back.merge(f, on=[ID, DS], how="left", validate="one_to_one")
    assert joined[Y].notna().all()
    np.testing.assert_allclose(joined.loc[~neg.to_numpy(), "sales"], joined.loc[~neg.to_numpy(), Y].round(2))
    np.testing.assert_allclose(joined.loc[neg.to_numpy(), "sales"], -(joined.loc[neg.to_numpy(), Y].round(2)) * 0.01)
    flagged = set(date[e["IsHoliday"] == "TRUE"].dt.isocalendar().week)
    assert flagged == set(HOLIDAY_WEEKS) & set(date.dt.isocalendar().week)
    assert set(e["IsHoliday"]) == {"TRUE", "FALSE"}
    pd.testing.assert_frame_equal(store_export(f, missing=0.05, negative=0.05), e)  # seeded


@pytest.mark.integration
def test_the_export_builds_through_the_product_path_with_the_printed_source(tmp_path, capsys):
    from benchmarks.accuracy import scale
    from darkhorse.app.build import build
    from training.history import load_history

    csv = tmp_path / "chain.csv"
    assert scale.main(["--store-departments", "3x4", "--export", str(csv)])["rows"] > 0
    printed = capsys.readouterr().out.split("a source for it: ", 1)[1]
    source = yaml.safe_load(printed)
    assert source["name"] == "stores" and source["path"] == str(csv)
    cfg = write_config(tmp_path / "work", [source])
    summary = build(cfg, progress=lambda *_: None)
    assert summary["gate"]["success"]
    export = pd.read_csv(csv)
    counts = summary["sources"]["stores"]
    negative = int((export["Weekly_Sales"] < 0).sum())
    assert negative > 0 and counts["reasons"] == {"negative_quantity": negative}
    assert counts["kept"] == int((export["Weekly_Sales"] >= 0).sum())
    h = load_history(cfg)
    assert h.frame[ID].nunique() == len(export.groupby(["Store", "Dept"]))
    assert set(h.groups.columns) >= {"Store", "Dept"}
    assert "isholiday" in h.covariates and "customers" not in h.covariates
    # a kept row's sales are the panel's week
    row = export[export["Weekly_Sales"] > 0].iloc[5]
    week = pd.Timestamp(row["Date"]) - pd.Timedelta(days=4)
    got = h.frame.loc[(h.frame[ID] == f"{row['Store']}_{row['Dept']}") & (h.frame[DS] == week), Y]
    assert got.tolist() == pytest.approx([row["Weekly_Sales"]])
