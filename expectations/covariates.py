"""The gate's suite of the known-future covariates mart (`item_week_covariates`), built only
when the config declares `known_future` covariates.

What Feast and the models read must be complete: every declared column present, a row for
every week of every panel item and the horizon after the data, no null, NaN or infinity left
after dbt's fill, calendar flags 0 or 1. dbt's tests own the key and the `known_at` stamp.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd

from darkhorse.core.config import Config
from darkhorse.core.marts import mart_path
from darkhorse.core.sql import sql_str

MART = "item_week_covariates"
KEYS = ("item_id", "week_start", "known_at", "covariate_week")
# beyond this, a value is an overflow or a unit error, not a price or a count
MAX_ABS_VALUE = 1e12


def frame(con: duckdb.DuckDBPyConnection, candidate_marts: Path, config: Config) -> pd.DataFrame:
    """Every covariate row, with each item's rows and the rows it should have (its panel weeks
    + the horizon); a panel item without any covariate row comes as one row of nulls."""
    covs = sql_str(str(mart_path(candidate_marts, MART)))
    weeks = sql_str(str(mart_path(candidate_marts, "item_weeks")))
    return con.sql(
        f"""
        with panel as (
            select item_id, count(*) + {config.panel.horizon_weeks} as n_expected_rows
            from read_parquet({weeks}) group by item_id
        ),
        counted as (
            select item_id, count(*) as n_item_rows from read_parquet({covs}) group by item_id
        )
        select covs.*, panel.item_id as panel_item_id, panel.n_expected_rows, counted.n_item_rows
        from panel
        left join read_parquet({covs}) as covs on covs.item_id = panel.item_id
        left join counted on counted.item_id = panel.item_id
        """
    ).df()


PLANS = "known_future_plans"
PLAN_KEYS = ("source_name", "source_file", "item_id")


def plan_items(
    warehouse: duckdb.DuckDBPyConnection, con: duckdb.DuckDBPyConnection, candidate_marts: Path
) -> pd.DataFrame:
    """One row per item a plan file names (`int_known_future_plans`), with its plan rows and
    whether the panel holds the item: a plan for an item the panel does not know is read by
    nothing (a new item has no history to forecast from, or its id is written another way)."""
    planned = warehouse.sql(
        "select source_name, source_file, item_id, count(*) as n_plan_rows "
        "from int_known_future_plans group by all order by all"
    ).df()
    weeks = sql_str(str(mart_path(candidate_marts, "item_weeks")))
    known = con.sql(f"select distinct item_id from read_parquet({weeks})").df()["item_id"].astype(str)
    planned["is_panel_item"] = planned["item_id"].astype(str).isin(set(known))
    return planned


def plan_suite(context: Any, config: Config) -> Any:
    """The plan files name items of the panel, but for a share `gate.max_unknown_plan_items`."""
    limit = config.gate.max_unknown_plan_items
    expectations = [
        gxe.ExpectColumnValuesToBeInSet(
            column="is_panel_item", value_set=[True], mostly=round(1.0 - limit, 9),
            meta={"rule": f"a plan names items of the panel (at most {limit:.0%} others: "
                          "gate.max_unknown_plan_items; check how the ids are written)"},
        ),
    ]
    return context.suites.add_or_update(gx.ExpectationSuite(name=PLANS, expectations=expectations))


def suite(context: Any, config: Config) -> Any:
    names = [c.feature for c in config.known_future()]
    flags = [c.feature for c in config.known_future() if c.calendar]
    expectations = [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=[*KEYS, *names, "panel_item_id", "n_expected_rows", "n_item_rows"], exact_match=True
        ),
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        *(gxe.ExpectColumnValuesToNotBeNull(column=c) for c in (*KEYS, *names)),
        # dense: the panel's weeks and the horizon after them, for every panel item
        gxe.ExpectColumnPairValuesToBeEqual(column_A="n_item_rows", column_B="n_expected_rows"),
        # finite after the fill (NaN counts as null above; infinity fails the bounds)
        *(
            gxe.ExpectColumnValuesToBeBetween(column=c, min_value=-MAX_ABS_VALUE, max_value=MAX_ABS_VALUE)
            for c in names
        ),
        *(gxe.ExpectColumnValuesToBeInSet(column=c, value_set=[0.0, 1.0]) for c in flags),
    ]
    return context.suites.add_or_update(gx.ExpectationSuite(name=MART, expectations=expectations))
