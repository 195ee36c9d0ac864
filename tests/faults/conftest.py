"""The fault suite's one built baseline and what "published data intact" means.

One data folder is built once from the clean files (`tests/faults/data.py`) with Feast; every
case then damages the raw files in place, rebuilds, checks what readers see and puts the clean
files back. Intact means: for a refused build, the published snapshot (link target and the
sha256 of every file) and the online store's rows are exactly the baseline's; for a build
published with rows quarantined, the published panels hold exactly the baseline's rows
(nothing good lost, nothing bad let in) and the online store serves the same features.

The outcome of every case is collected and, at the end of the session, printed as a table and
written to `tests/faults/fault_table.md` (or to $DARKHORSE_FAULT_TABLE).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from darkhorse.app.build import build
from darkhorse.core import publish as pub
from darkhorse.core.config import Config, load_config
from tests.conftest import write_config
from tests.faults.data import (
    ORDER_ITEMS,
    REVIEW_ITEMS,
    SALES_ITEMS,
    CleanData,
    clean_data,
    source_configs,
    write_clean,
)

TABLE = Path(os.environ.get("DARKHORSE_FAULT_TABLE", Path(__file__).with_name("fault_table.md")))
RESULTS: list[dict[str, str]] = []
ITEMS = [*REVIEW_ITEMS, *SALES_ITEMS, *ORDER_ITEMS]


@dataclass
class Workspace:
    root: Path
    config: Config
    clean: CleanData
    paths: dict[str, Path]
    published: dict[str, Any] = field(default_factory=dict)  # link target + file hashes
    content: dict[str, str] = field(default_factory=dict)  # mart -> hash of its sorted rows
    online: list[dict] = field(default_factory=list)

    def restore(self) -> None:
        write_clean(self.root / "raw", self.clean)

    def variant(self, **gate: Any) -> Config:
        """The same data folder and sources with other gate settings."""
        doc = yaml.safe_load((self.root / "darkhorse.yaml").read_text())
        doc["gate"] = {**doc.get("gate", {}), **gate}
        path = self.root / "variant.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return load_config(path)


def published_files(cfg: Config) -> dict[str, Any]:
    snap = pub.current_snapshot(cfg)
    assert snap is not None
    return {
        "snapshot": snap.name,
        "files": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(snap.iterdir()) if p.is_file()},
    }


def panel_content(cfg: Config) -> dict[str, str]:
    """A hash of each published panel's rows, sorted (independent of the Parquet layout)."""
    out = {}
    con = duckdb.connect()
    try:
        for mart in ("item_weeks", "item_week_labels", "series_intervals", "items"):
            path = cfg.marts_dir / f"{mart}.parquet"
            rows = con.sql(f"select * from read_parquet('{path}') order by all").fetchall()
            out[mart] = hashlib.sha256(repr(rows).encode()).hexdigest()
    finally:
        con.close()
    return out


def online_rows(cfg: Config) -> list[dict]:
    from darkhorse.core.features import online_features

    got = online_features(cfg, [*ITEMS, "no-such-item"])
    return [*got.features.astype(str).to_dict("records"), {"unknown": got.unknown_items}]


def record(case: str, outcome: str, message: str, intact: bool, kind: str = "bad input") -> None:
    # the session's temporary folder is no part of the message: shown as <workspace>
    message = re.sub(r"/\S*?/(faults\d+|test_a_folder_given_as\w*)/", "<workspace>/", message)
    RESULTS.append(
        {"case": case, "kind": kind, "outcome": outcome, "message": " ".join(message.split())[:320],
         "intact": "yes" if intact else "NO"}
    )


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Workspace:
    root = tmp_path_factory.mktemp("faults")
    clean = clean_data()
    paths = write_clean(root / "raw", clean)
    cfg = write_config(root, source_configs(paths), panel={"valid_from": "2020-01-01"})
    summary = build(cfg, progress=lambda *_: None)
    assert summary["gate"]["success"]
    ws = Workspace(root, cfg, clean, paths)
    ws.published = published_files(cfg)
    ws.content = panel_content(cfg)
    ws.online = online_rows(cfg)
    assert sum(1 for r in ws.online[:-1] if r["item_id"] in ITEMS) == len(ITEMS)
    assert ws.online[-1] == {"unknown": ["no-such-item"]}
    return ws


def table_markdown() -> str:
    head = "| case | kind | outcome | message | published data intact |\n|---|---|---|---|---|\n"
    body = "".join(
        f"| {r['case']} | {r['kind']} | {r['outcome']} | {r['message'].replace('|', '/')} | {r['intact']} |\n"
        for r in RESULTS
    )
    refused = sum(r["outcome"].startswith("refused") for r in RESULTS if r["kind"] == "bad input")
    published = sum(r["outcome"].startswith("published") for r in RESULTS if r["kind"] == "bad input")
    kills = [r for r in RESULTS if r["kind"] == "kill point"]
    rebuilt = sum("rebuild ok" in r["outcome"] for r in kills)
    concurrent = [r for r in RESULTS if r["kind"] == "concurrent run"]
    locked = sum(r["outcome"] == "refused" for r in concurrent)
    intact = sum(r["intact"] == "yes" for r in RESULTS)
    bad = len(RESULTS) - len(kills) - len(concurrent)
    return (
        f"{bad} bad inputs: {refused} refused with a named reason, {published} published with "
        f"the bad rows quarantined; {len(kills)} kill points (SIGKILL), {rebuilt} rebuilt at "
        f"once; {len(concurrent)} concurrent build(s), {locked} refused naming the running one; "
        f"published data intact in {intact} of {len(RESULTS)} cases.\n\n" + head + body
    )


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    text = table_markdown()
    TABLE.write_text(text)
    terminalreporter.write_sep("=", "fault table")
    terminalreporter.write_line(text)
    terminalreporter.write_line(f"(written to {TABLE})")
