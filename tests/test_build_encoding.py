"""A CSV file in ISO-8859-1 (as many older exports and copies of Online Retail are written)
builds once its encoding is declared; undeclared, preflight names the byte, the line and the
declaration."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pytest

from darkhorse.app.build import build
from darkhorse.app.preflight import SourceError, preflight
from darkhorse.core.config import ConfigError
from tests.conftest import write_config

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"


def _lines() -> str:
    rows = [f"{536365 + w * 10 + k},{code},{name},{(w + 1) * (k + 1)},{date(2011, 1, 3) + timedelta(days=3 * w)} 09:30:00,"
            "2.55,17850,France"
            for w in range(20) for k, (code, name) in enumerate([("85123A", "CAFÉ AU LAIT MUG"), ("22423", "RÉGENCE CAKESTAND"),
                                                                 ("47566", "PARTY BUNTING £5")])]
    return HEADER + "\n".join(rows) + "\n"


@pytest.mark.integration
def test_a_latin1_csv_builds_once_its_encoding_is_declared(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(_lines().encode("latin-1"))
    undeclared = write_config(tmp_path, [{"name": "shop", "kind": "order_lines", "path": str(path)}])
    with pytest.raises(SourceError, match=r"data\.csv line 2: byte 0xc9 is not UTF-8 .*\(encoding: latin-1\)"):
        preflight(undeclared)
    cfg = write_config(tmp_path, [{"name": "shop", "kind": "order_lines", "path": str(path), "encoding": "latin-1"}])
    summary = build(cfg, features=False)
    assert summary["sources"]["shop"]["quarantined"] == 0
    names = {r[0] for r in duckdb.sql(f"select description from read_parquet('{cfg.marts_dir}/items.parquet')").fetchall()}
    assert names == {"CAFÉ AU LAIT MUG", "RÉGENCE CAKESTAND", "PARTY BUNTING £5"}


def test_only_a_csv_declares_an_encoding(tmp_path):
    with pytest.raises(ConfigError, match="encoding is for CSV text; a parquet file declares its own"):
        write_config(tmp_path, [{"name": "shop", "kind": "order_lines", "path": "lines.parquet", "encoding": "latin-1"}])
    with pytest.raises(ConfigError, match="encoding"):
        write_config(tmp_path, [{"name": "shop", "kind": "order_lines", "path": "lines.csv", "encoding": "cp1252"}])
