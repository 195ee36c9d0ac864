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
