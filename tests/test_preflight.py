"""Unusable sources stop the build before dbt runs, with a message naming file and column."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

from darkhorse.app.preflight import SourceError, preflight
from tests.conftest import write_config


def _reviews(path, stamps):
    with gzip.open(path, "wt") as fh:
        for i, ts in enumerate(stamps):
            fh.write(json.dumps({"parent_asin": f"P{i % 3}", "asin": "A", "timestamp": ts,
                                 "rating": 5.0, "user_id": "U", "helpful_vote": 0,
                                 "verified_purchase": True, "title": "t", "text": "x",
                                 "images": []}) + "\n")


def test_seconds_given_where_ms_expected_is_named(tmp_path):
    f = tmp_path / "r.jsonl.gz"
    _reviews(f, [1_700_000_000 + i for i in range(50)])
    cfg = write_config(tmp_path, [{"name": "rev", "kind": "amazon_reviews", "path": str(f)}])
    with pytest.raises(SourceError, match=r"'timestamp'.*look like s: set timestamp_unit: s"):
        preflight(cfg)


def test_missing_required_key_is_named(tmp_path):
    f = tmp_path / "r.jsonl"
    f.write_text("\n".join(json.dumps({"asin": "A", "timestamp": 1_700_000_000_000}) for _ in range(5)))
    cfg = write_config(tmp_path, [{"name": "rev", "kind": "amazon_reviews", "path": str(f)}])
    with pytest.raises(SourceError, match=r"r\.jsonl: required key 'parent_asin' \(mapped as item_id\)"):
        preflight(cfg)


def test_not_json_lines_is_refused(tmp_path):
    f = tmp_path / "r.jsonl"
    f.write_text("a,b,c\n1,2,3\n")
    cfg = write_config(tmp_path, [{"name": "rev", "kind": "amazon_reviews", "path": str(f)}])
    with pytest.raises(SourceError, match="JSON object"):
        preflight(cfg)


def test_missing_column_of_a_csv_is_named(tmp_path):
    f = tmp_path / "sales.csv"
    pd.DataFrame({"sku": ["a"], "day": ["2024-01-01"], "units": [3]}).to_csv(f, index=False)
    cfg = write_config(tmp_path, [{"name": "s", "kind": "sales", "path": str(f),
                                   "columns": {"item_id": "sku", "date": "day", "quantity": "qty"}}])
    with pytest.raises(SourceError, match=r"sales\.csv: missing column\(s\) 'qty' \(mapped as quantity\)"):
        preflight(cfg)


def test_timestamp_format_that_never_parses_is_named(tmp_path):
    f = tmp_path / "sales.csv"
    pd.DataFrame({"item_id": ["a", "b"], "date": ["01/02/2024", "03/02/2024"], "quantity": [1, 2]}).to_csv(f, index=False)
    cfg = write_config(tmp_path, [{"name": "s", "kind": "sales", "path": str(f)}])
    with pytest.raises(SourceError, match=r"column 'date' does not parse as ISO 8601"):
        preflight(cfg)
    cfg = write_config(tmp_path, [{"name": "s", "kind": "sales", "path": str(f), "date_format": "%d/%m/%Y"}])
    assert preflight(cfg)[0].files == [str(f)]


def test_missing_file_is_named(tmp_path):
    cfg = write_config(tmp_path, [{"name": "s", "kind": "sales", "path": str(tmp_path / "none*.csv")}])
    with pytest.raises(SourceError, match=r"source 's': no file found"):
        preflight(cfg)


SALES = {"name": "s", "kind": "sales", "columns": {"item_id": "sku", "date": "day", "quantity": "qty"}}


def _sales(tmp_path, text: bytes, name: str = "sales.csv"):
    f = tmp_path / name
    f.write_bytes(text)
    return write_config(tmp_path, [{**SALES, "path": str(f)}]), f


def _rows(n: int) -> list[bytes]:
    return [b"day,sku,qty"] + [f"2024-01-{1 + i % 28:02d},S{i % 5},{i % 4}".encode() for i in range(n)]


def test_a_truncated_gzip_names_the_file_not_aborted(tmp_path):
    f = tmp_path / "r.jsonl.gz"
    _reviews(f, [1_700_000_000_000 + i for i in range(5000)])
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])
    cfg = write_config(tmp_path, [{"name": "rev", "kind": "amazon_reviews", "path": str(f)}])
    with pytest.raises(SourceError, match=r"r\.jsonl\.gz: the gzip stream ends early.*truncated"):
        preflight(cfg)


def test_a_byte_that_is_not_utf8_names_file_and_line(tmp_path):
    f = tmp_path / "r.jsonl"
    lines = [json.dumps({"parent_asin": "P", "timestamp": 1_700_000_000_000, "title": "fine"}) for _ in range(150)]
    body = "\n".join(lines).encode().split(b"\n")
    body[100] = body[100].replace(b"fine", b"fin\xe9")
    f.write_bytes(b"\n".join(body) + b"\n")
    cfg = write_config(tmp_path, [{"name": "rev", "kind": "amazon_reviews", "path": str(f)}])
    with pytest.raises(SourceError, match=r"r\.jsonl line 101: byte 0xe9 is not UTF-8"):
        preflight(cfg)
    cfg, _ = _sales(tmp_path, b"\n".join([*_rows(30)[:20], b"2024-01-02,S\xff,3", *_rows(30)[20:]]) + b"\n")
    with pytest.raises(SourceError, match=r"sales\.csv line 21: byte 0xff is not UTF-8 .*\(encoding: latin-1\)"):
        preflight(cfg)


def test_an_empty_csv_is_named_as_empty(tmp_path):
    cfg, f = _sales(tmp_path, b"")
    with pytest.raises(SourceError, match=rf"{f}: file is empty"):
        preflight(cfg)


def test_a_folder_as_the_path_is_named(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    with pytest.raises(ValueError, match=r"exports' is a folder, not a file"):
        write_config(tmp_path, [{**SALES, "path": str(folder)}])
    cfg = write_config(tmp_path, [{**SALES, "path": str(tmp_path / "e*"), "format": "csv"}])
    with pytest.raises(SourceError, match=r"exports is a folder, not a file"):
        preflight(cfg)


def test_malformed_csv_lines_are_listed_with_line_numbers_not_missing_columns(tmp_path):
    rows = _rows(300)
    rows[2] = b"2024-01-05,S1,3,9,9"  # line 3: too many columns, inside the sniffer's sample
    rows[5] = b"2024-01-05"  # line 6: too few
    cfg, f = _sales(tmp_path, b"\n".join(rows) + b"\n")
    (check,) = preflight(cfg)
    assert check.columns == ["day", "sku", "qty"]
    assert [(r[1], r[2], r[3]) for r in check.rejected] == [
        (3, "too many columns", "2024-01-05,S1,3,9,9"),
        (6, "missing columns", "2024-01-05"),
    ]
    assert all(r[0] == str(f) for r in check.rejected)
    assert any("line 3 (too many columns)" in n for n in check.notes)


# --------------------------------------------------------------------------- known-future plans
def _planned(tmp_path, plan_text: str | None, plan="plan.csv", decimal="."):
    """A weekly sales source with a price and a promotion declared known ahead, and its plan."""
    f = tmp_path / "sales.csv"
    f.write_text("sku,week,units,price,promo\na,2024-01-01,3,\"2,5\",no\nb,2024-01-01,4,\"1,0\",yes\n")
    if plan_text is not None:
        (tmp_path / "plan.csv").write_text(plan_text)
    return write_config(tmp_path, [{
        "name": "shop", "kind": "sales", "path": str(f), "granularity": "weekly", "decimal": decimal,
        "columns": {"item_id": "sku", "date": "week", "quantity": "units"},
        "known_future": [{"column": "price"}, {"column": "promo", "agg": "max"}], "plan": plan,
    }])


def test_a_readable_plan_passes_with_its_columns_noted(tmp_path):
    cfg = _planned(tmp_path, "sku,week,promo\na,2024-01-08,yes\nb,2024-01-15,\n", decimal=",")
    check = preflight(cfg)[0]
    assert "plan plan.csv: promo; 2 row(s) dated 2024-01-08 to 2024-01-15" in check.notes
    (tmp_path / "plan.csv").write_text("sku,week,promo\n")  # nothing planned yet
    assert "plan plan.csv: promo; no rows, nothing planned" in preflight(cfg)[0].notes


@pytest.mark.parametrize(
    ("plan_text", "message"),
    [
        ("sku,week,price\na,2024-01-08,\"2,5\"\nb,08/01/2024,1\n", r"plan\.csv: line 3 \(week: 08/01/2024 does not parse\)"),
        ("sku,week,promo\na,2024-01-08,maybe\n", r"plan\.csv: line 2 \(promo: maybe is not a number\)"),
        ("sku,week,price\n,2024-01-08,1\na,2024-01-08,inf\n",
         r"line 2 \(sku: no item id\), line 3 \(price: inf is not finite\)"),
        ("sku,day,price\na,2024-01-08,1\n", r"plan\.csv: missing column\(s\) \['week'\]"),
        ("sku,week,cost\na,2024-01-08,1\n", r"none of the known_future columns \['price', 'promo'\]"),
        ("sku,week,price\na,2024-01-08,1,9\n", r"plan\.csv: 1 malformed line\(s\), e\.g\. line 2"),
    ],
)
def test_a_plan_row_the_mart_could_not_read_names_file_line_and_column(tmp_path, plan_text, message):
    cfg = _planned(tmp_path, plan_text, decimal=",")
    with pytest.raises(SourceError, match=message):
        preflight(cfg)


def test_a_missing_plan_file_is_named(tmp_path):
    cfg = _planned(tmp_path, None)
    with pytest.raises(SourceError, match=r"source 'shop': no file found at .*plan\.csv"):
        preflight(cfg)


def test_a_parquet_plan_names_the_row(tmp_path):
    import duckdb

    cfg = _planned(tmp_path, None, plan="plan.parquet")
    duckdb.sql(f"copy (select * from (values ('a', '2024-01-08', 1.0), ('b', 'soon', 2.0)) t(sku, week, price)) "
               f"to '{tmp_path / 'plan.parquet'}' (format parquet)")
    with pytest.raises(SourceError, match=r"plan file .*plan\.parquet: row 2 \(week: soon does not parse\)"):
        preflight(cfg)
