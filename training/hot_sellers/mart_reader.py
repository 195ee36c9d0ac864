"""The published marts the hot-seller features join (the product graph, the item texts), read
once per change of the file."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import duckdb
import pandas as pd

from darkhorse.core.marts import mart_path
from darkhorse.core.sql import sql_str

log = logging.getLogger(__name__)

Prepare = Callable[[str, pd.DataFrame], pd.DataFrame]
"""Checks a mart's columns (raising an error that names the file) and shapes its rows."""


@lru_cache(maxsize=8)
def _read(path: str, stamp: tuple[int, int], prepare: Prepare) -> pd.DataFrame:
    con = duckdb.connect()
    try:
        frame = con.sql(f"select * from read_parquet({sql_str(path)})").df()
    finally:
        con.close()
    return prepare(path, frame)


def read_mart(marts_dir: str | Path | None, mart: str, prepare: Prepare, *, what: str) -> pd.DataFrame | None:
    """`prepare(path, rows)` of the published `mart`, or None when the folder is not given, the
    mart is not there (logged: the classifier runs without `what`) or it holds no row."""
    if marts_dir is None:
        return None
    path = mart_path(Path(marts_dir), mart)
    if not path.is_file():
        log.info("hot sellers: %s not found; the classifier runs without %s", path, what)
        return None
    stat = path.stat()
    frame = _read(str(path), (stat.st_mtime_ns, stat.st_size), prepare)
    return frame if len(frame) else None
