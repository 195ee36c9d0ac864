"""Small real weekly frames from the shipped UCI Online Retail file, for model tests."""

from __future__ import annotations

import functools
from pathlib import Path

import duckdb
import pandas as pd

RETAIL = Path(__file__).resolve().parents[1] / "data" / "raw" / "online_retail" / "online_retail.parquet"


@functools.cache
def weekly_retail(n_items: int = 60) -> pd.DataFrame:
    """`unique_id, ds, y` of the `n_items` best-selling items, complete Monday weeks, dense
    from each item's first week to the last complete week (0 where nothing sold)."""
    df = duckdb.sql(
        f"""
        with lines as (
            select StockCode as item, date_trunc('week', strptime(InvoiceDate, '%Y-%m-%d %H:%M:%S')) as wk,
                   try_cast(Quantity as double) as q
            from read_parquet('{RETAIL}')
            where try_cast(Quantity as double) > 0 and not starts_with(InvoiceNo, 'C')
                and StockCode not in ('POST', 'DOT', 'M', 'm', 'C2', 'D', 'S', 'B', 'BANK CHARGES', 'AMAZONFEE', 'CRUK')
        ),
        bounds as (select min(wk) + interval 7 day as lo, max(wk) - interval 7 day as hi from lines),
        top as (
            select item from lines group by item order by sum(q) desc, item limit {n_items}
        ),
        weekly as (
            select item, wk, sum(q) as y from lines where item in (select item from top)
            group by all
        ),
        firsts as (select item, greatest(min(wk), (select lo from bounds)) as f from weekly group by item),
        spine as (
            select firsts.item, unnest(generate_series(firsts.f, (select hi from bounds), interval 7 day)) as wk
            from firsts
        )
        select spine.item as unique_id, spine.wk as ds, coalesce(weekly.y, 0)::double as y
        from spine left join weekly using (item, wk)
        order by 1, 2
        """
    ).df()
    df["ds"] = pd.to_datetime(df["ds"]).astype("datetime64[ns]")
    return df
