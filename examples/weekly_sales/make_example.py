"""Derive the example weekly sales CSV from the shipped UCI Online Retail invoice lines.

    .venv/bin/python examples/weekly_sales/make_example.py

Writes `examples/weekly_sales/weekly_sales.csv` with columns `sku, week_ending, units_sold`:
units sold per stock code per week, each week (Monday to Sunday) dated by the Sunday that ends
it, for the 300 products with the most units, one row per product and week with sales (weeks
without sales have no row). Only weeks that the raw data covers from Monday to Sunday are
kept, so every row is a complete week. The same input always gives the same file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RAW = REPO / "data" / "raw" / "online_retail" / "online_retail.parquet"
OUT = HERE / "weekly_sales.csv"
TOP_ITEMS = 300
# postage, fees, manual adjustments and vouchers are not products (as in the default config)
NON_PRODUCT = ["POST", "DOT", "M", "m", "C2", "D", "S", "B", "BANK CHARGES", "AMAZONFEE", "CRUK"]

QUERY = """
with lines as (
    select
        trim(StockCode) as sku,
        try_cast(Quantity as integer) as quantity,
        strptime(InvoiceDate, '%Y-%m-%d %H:%M:%S') as sold_at,
    from read_parquet($raw)
    where not starts_with(InvoiceNo, 'C')          -- cancellations (returns)
),
sales as (
    select sku, quantity, cast(date_trunc('week', sold_at) as date) as week_start
    from lines
    where quantity > 0
      and sku <> ''
      and sku not in (select unnest($non_product::varchar[]))
      and not starts_with(sku, 'gift_0001_')       -- vouchers
),
covered as (
    -- weeks the raw data covers from Monday to Sunday: not the first or last, which it
    -- covers only in part (it starts on a Wednesday and ends on a Friday)
    select min(week_start) + 7 as first_week, max(week_start) - 7 as last_week from sales
),
weekly as (
    select sku, week_start, sum(quantity) as units
    from sales, covered
    where week_start between first_week and last_week
    group by all
),
top as (
    select sku from weekly group by sku order by sum(units) desc, sku limit $top
)
select
    sku,
    strftime(week_start + 6, '%Y-%m-%d') as week_ending,   -- the Sunday that ends the week
    cast(units as bigint) as units_sold,
from weekly semi join top using (sku)
order by week_ending, sku
"""


def make(raw: Path = RAW, out: Path = OUT, top: int = TOP_ITEMS) -> dict[str, object]:
    con = duckdb.connect()
    rel = con.execute(QUERY, {"raw": str(raw), "non_product": NON_PRODUCT, "top": top})
    df = rel.df()
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False, lineterminator="\n")
    return {
        "path": str(out),
        "rows": len(df),
        "skus": int(df["sku"].nunique()),
        "weeks": int(df["week_ending"].nunique()),
        "first_week_ending": df["week_ending"].min(),
        "last_week_ending": df["week_ending"].max(),
        "bytes": out.stat().st_size,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--raw", type=Path, default=RAW, help="Online Retail parquet file")
    ap.add_argument("--out", type=Path, default=OUT, help="CSV to write")
    ap.add_argument("--top", type=int, default=TOP_ITEMS, help="products kept (most units)")
    args = ap.parse_args()
    info = make(args.raw, args.out, args.top)
    print(
        f"wrote {info['rows']:,} rows: {info['skus']} skus x {info['weeks']} weeks "
        f"(week ending {info['first_week_ending']} .. {info['last_week_ending']}), "
        f"{info['bytes']:,} bytes, to {info['path']}"
    )


if __name__ == "__main__":
    main()
