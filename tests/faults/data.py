"""Clean raw files of the four source kinds, small enough for a build in seconds.

20 complete weeks from Monday 2024-01-01: reviews (JSON Lines, gzip) of 30 items, daily sales
(CSV) of 12 items, invoice lines (CSV) of 8 items and an hourly request count log (CSV). Every
fault case starts from these files and adds, removes or damages lines.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

START = date(2024, 1, 1)  # a Monday
WEEKS = 20
DAYS = 7 * WEEKS
REVIEW_ITEMS = [f"R{i:02d}" for i in range(30)]
SALES_ITEMS = [f"S{i:02d}" for i in range(12)]
ORDER_ITEMS = [f"O{i:02d}" for i in range(8)]


def ms(day: date, hour: int = 12) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp() * 1000)


def review(item: str, day: date, user: str, **over) -> dict:
    rec = {"rating": 4.0, "title": "ok", "text": "fine", "images": [], "asin": item + "-1",
           "parent_asin": item, "user_id": user, "timestamp": ms(day), "helpful_vote": 1,
           "verified_purchase": True}
    rec.update(over)
    return rec


@dataclass
class CleanData:
    """The clean files' text by kind; `write` puts them (or a damaged copy) in place."""

    reviews: list[str]  # JSON lines
    sales: list[str]  # CSV lines, header first
    order_lines: list[str]
    requests: list[str]


def clean_data() -> CleanData:
    rng = np.random.default_rng(2024)
    reviews = []
    n = 0
    for item in REVIEW_ITEMS:
        rate = rng.choice([0.3, 0.6, 1.2])
        for week in range(WEEKS):
            for _ in range(int(rng.poisson(rate * (3 if week in (8, 9, 10) and item < "R10" else 1)))):
                day = START + timedelta(weeks=week, days=int(rng.integers(0, 7)))
                reviews.append(json.dumps(review(item, day, f"u{n}", rating=float(rng.integers(1, 6)))))
                n += 1
    # the data starts on the first Monday and ends on the last Sunday: every week is complete
    reviews.insert(0, json.dumps(review("R00", START, "first")))
    reviews.append(json.dumps(review("R01", START + timedelta(days=DAYS - 1), "last")))

    sales = ["day,sku,qty,price"]
    for item in SALES_ITEMS:
        level = rng.integers(1, 9)
        for d in range(DAYS):
            day = START + timedelta(days=d)
            sales.append(f"{day.isoformat()},{item},{int(rng.poisson(level))},{2.5 + int(item[1:]):.2f}")

    orders = ["InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID"]
    invoice = 500000
    for d in range(DAYS):
        day = START + timedelta(days=d)
        for item in ORDER_ITEMS:
            invoice += 1
            orders.append(
                f"{invoice},{item},{int(rng.integers(1, 6))},{day.isoformat()} 10:{int(item[1:]):02d}:00,"
                f"{1.25 + int(item[1:]):.2f},C{invoice % 97}"
            )

    requests = ["timestamp,count"]
    for h in range(DAYS * 24):
        at = datetime(START.year, START.month, START.day, tzinfo=UTC) + timedelta(hours=h)
        requests.append(f"{at.strftime('%Y-%m-%d %H:%M:%S')},{int(rng.poisson(40 + 20 * (at.hour in range(9, 18))))}")
    return CleanData(reviews, sales, orders, requests)


FILES = {
    "reviews": "reviews.jsonl.gz",
    "sales": "sales.csv",
    "order_lines": "orders.csv",
    "requests": "requests.csv",
}


def write_lines(path: Path, lines: list[str] | bytes) -> None:
    data = lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode()
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)


def write_clean(folder: Path, clean: CleanData) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {key: folder / name for key, name in FILES.items()}
    for key, path in paths.items():
        write_lines(path, getattr(clean, key))
    return paths


def source_configs(paths: dict[str, Path]) -> list[dict]:
    return [
        {"name": "reviews", "kind": "amazon_reviews", "path": str(paths["reviews"])},
        {"name": "shop", "kind": "sales", "path": str(paths["sales"]),
         "columns": {"date": "day", "item_id": "sku", "quantity": "qty", "price": "price"}},
        {"name": "retail", "kind": "order_lines", "path": str(paths["order_lines"]),
         "columns": {"description": None, "region": None}},
        {"name": "api", "kind": "request_log", "path": str(paths["requests"]),
         "columns": {"timestamp": "timestamp", "count": "count"}},
    ]
