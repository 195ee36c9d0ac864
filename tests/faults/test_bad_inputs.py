"""Bad inputs on real dbt, DuckDB, Great Expectations and Feast: each is refused with a message
that names what is wrong, or published with the bad rows quarantined (each with its reason),
and the published data stays intact (see conftest.py).

Cases that a build publishes are grouped per source kind: one build adds every such fault of
that kind to the clean file at once, and each fault must come back as exactly its rows under
exactly its reason, while the published panels equal the baseline's. Cases that must be
refused each get their own build.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import duckdb
import pytest

from darkhorse.app.build import build
from darkhorse.core.config import load_config
from darkhorse.core.errors import DarkHorseError
from tests.faults.conftest import (
    Workspace,
    online_rows,
    panel_content,
    published_files,
    record,
)
from tests.faults.data import START, ms, review, write_lines

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAY = START + timedelta(days=17)


def rv(item: str = "R05", **over: Any) -> str:
    return json.dumps(review(item, DAY, "bad", **over))


def sale(day: str = DAY.isoformat(), sku: str = "S03", qty: str = "4", price: str = "5.50") -> str:
    return f"{day},{sku},{qty},{price}"


def order(qty: str = "3", ts: str = f"{DAY.isoformat()} 11:00:00", price: str = "2.25", inv: str = "900001") -> str:
    return f"{inv},O02,{qty},{ts},{price},C1"


def req(ts: str = f"{DAY.isoformat()} 05:00:00", count: str = "30") -> str:
    return f"{ts},{count}"


# --------------------------------------------------------------------------- published
@dataclass
class Fault:
    """Lines added to one source; the reason they must be quarantined under (None: ignored)."""

    case: str
    lines: list[str]
    reason: str | None
    count: int
    at_start: bool = False  # right after the header (the CSV sniffer's sample)


BUNDLES: dict[str, list[Fault]] = {
    "reviews": [
        Fault("reviews: malformed JSON (a cut line, an array)",
              ['{"rating": 5.0, "parent_asin": "R05", "timest', "[1, 2, 3]"], "malformed_json", 2),
        # DuckDB's JSON reader takes a NaN literal as a number: it is a NaN rating like "NaN"
        Fault('reviews: rating NaN (JSON literal, "NaN", "nan")',
              [rv().replace('"rating": 4.0', '"rating": NaN'), rv(rating="NaN"), rv(rating="nan", user_id="b2")],
              "nan_rating", 3),
        Fault("reviews: rating 7 (out of 1..5)", [rv(rating=7.0), rv(rating=0)], "rating_out_of_range", 2),
        Fault('reviews: rating "abc"', [rv(rating="abc")], "unparseable_rating", 1),
        Fault("reviews: timestamp 1e300", [rv(timestamp=1e300), rv(timestamp=-1e300)], "timestamp_out_of_range", 2),
        Fault('reviews: timestamp "abc"', [rv(timestamp="abc")], "unparseable_timestamp", 1),
        Fault("reviews: timestamp null", [rv(timestamp=None)], "missing_timestamp", 1),
        Fault('reviews: timestamp "inf"', [rv(timestamp="inf"), rv(timestamp="-Infinity")], "infinite_timestamp", 2),
        Fault("reviews: item null", [rv(parent_asin=None)], "missing_item_id", 1),
        Fault("reviews: negative helpful votes", [rv(helpful_vote=-4)], "negative_helpful_votes", 1),
        Fault('reviews: helpful votes "NaN"', [rv(helpful_vote="NaN")], "nan_helpful_votes", 1),
        Fault('reviews: helpful votes "many"', [rv(helpful_vote="many")], "unparseable_helpful_votes", 1),
        Fault("reviews: the first 5 reviews exported twice", [], "duplicate", 5),
        Fault("reviews: blank lines", ["", "   ", ""], None, 0),
    ],
    "sales": [
        Fault("sales: malformed CSV lines (too many / too few columns)",
              [sale() + ",9,9", "2024-01-05,S01", "2024-01-05;S01;3"], "malformed_line", 3, at_start=True),
        Fault('sales: quantity "NaN"', [sale(qty="NaN"), sale(qty="nan", sku="S04")], "nan_quantity", 2),
        Fault('sales: quantity "inf", 1e400', [sale(qty="inf"), sale(qty="1e400", sku="S04")], "infinite_quantity", 2),
        Fault('sales: quantity "abc"', [sale(qty="abc")], "unparseable_quantity", 1),
        Fault("sales: quantity blank", [sale(qty="")], "missing_quantity", 1),
        Fault("sales: negative quantity", [sale(qty="-3")], "negative_quantity", 1),
        Fault("sales: quantity 1e300", [sale(qty="1e300")], "quantity_out_of_range", 1),
        Fault('sales: date "31/02/2024"', [sale(day="31/02/2024")], "unparseable_timestamp", 1),
        Fault("sales: date 1999 (outside valid window)", [sale(day="1999-05-01")], "timestamp_out_of_range", 1),
        Fault("sales: date blank", [sale(day="")], "missing_timestamp", 1),
        Fault("sales: item blank", [sale(sku="")], "missing_item_id", 1),
        Fault('sales: price "NaN"', [sale(price="NaN")], "nan_unit_price", 1),
    ],
    "order_lines": [
        Fault('order lines: quantity "NaN"', [order(qty="NaN")], "nan_quantity", 1),
        Fault("order lines: quantity 0", [order(qty="0")], "zero_quantity", 1),
        Fault("order lines: quantity 2e6", [order(qty="2000000")], "quantity_out_of_range", 1),
        Fault('order lines: price "abc"', [order(price="abc")], "unparseable_unit_price", 1),
        Fault('order lines: price "inf"', [order(price="inf")], "infinite_unit_price", 1),
        Fault("order lines: malformed CSV line", [order() + ",extra,extra"], "malformed_line", 1),
        Fault('order lines: timestamp "yesterday"', [order(ts="yesterday")], "unparseable_timestamp", 1),
        Fault("order lines: the first 3 lines exported twice", [], "duplicate", 3),
    ],
    "requests": [
        Fault("request log: negative count", [req(count="-5")], "negative_count", 1),
        Fault('request log: count "NaN"', [req(count="NaN")], "nan_count", 1),
        Fault('request log: count "inf"', [req(count="inf")], "infinite_count", 1),
        Fault('request log: count "lots"', [req(count="lots")], "unparseable_count", 1),
        Fault('request log: timestamp "noon"', [req(ts="noon")], "unparseable_timestamp", 1),
        Fault("request log: malformed CSV line", [req() + ",1,2"], "malformed_line", 1),
        Fault("request log: the first 2 rows logged twice", [], "duplicate", 2),
    ],
}
SOURCE_NAME = {"reviews": "reviews", "sales": "shop", "order_lines": "retail", "requests": "api"}


def _damaged(ws: Workspace, key: str, faults: list[Fault]) -> list[str]:
    lines = list(getattr(ws.clean, key))
    header = [] if key == "reviews" else [lines.pop(0)]
    early = [ln for f in faults if f.at_start for ln in f.lines]
    late = [ln for f in faults if not f.at_start for ln in f.lines]
    copies = next((f.count for f in faults if f.reason == "duplicate"), 0)
    return header + early + lines + late + lines[:copies]


def _reasons(ws: Workspace, key: str, summary: dict) -> dict[str, int]:
    if key != "requests":
        return summary["sources"][SOURCE_NAME[key]]["reasons"]
    con = duckdb.connect(str(ws.config.duckdb_path), read_only=True)
    try:
        found = con.sql(
            "select quarantine_reason, count(*) from int_requests_classified "
            "where quarantine_reason is not null group by all"
        ).fetchall()
    finally:
        con.close()
    return dict(found)


@pytest.mark.parametrize("key", list(BUNDLES))
def test_bad_rows_are_quarantined_each_with_its_reason_and_the_rest_published(workspace, key):
    ws = workspace
    faults = BUNDLES[key]
    write_lines(ws.paths[key], _damaged(ws, key, faults))
    try:
        summary = build(ws.config, progress=lambda *_: None)
        reasons = _reasons(ws, key, summary)
        content = panel_content(ws.config)
        online = online_rows(ws.config)
    finally:
        ws.restore()
    intact = content == ws.content and online == ws.online
    if intact:
        ws.published = published_files(ws.config)  # the new snapshot: what later cases keep
    expected = {f.reason: f.count for f in faults if f.reason}
    for f in faults:
        got = reasons.get(f.reason, 0) if f.reason else sum(reasons.values()) - sum(expected.values())
        how = f"quarantined {f.reason} x{got}" if f.reason else "ignored (not a record), nothing quarantined"
        ok = got == f.count and intact
        record(f.case, "published, bad rows quarantined" if ok else "published, WRONG", how, intact)
    assert {r: n for r, n in reasons.items() if not r.startswith("partial_")} == expected
    # nothing good lost, nothing bad let in: the panels, labels and online features are the baseline's
    assert content == ws.content
    assert online == ws.online
    if key in ("sales", "order_lines", "requests"):
        # malformed lines are quarantined with their line numbers
        con = duckdb.connect(str(ws.config.duckdb_path), read_only=True)
        table = "int_requests_classified" if key == "requests" else "int_events_classified"
        records = [json.loads(r[0]) for r in con.sql(
            f"select raw_record from {table} where quarantine_reason = 'malformed_line'").fetchall()]
        con.close()
        assert all(isinstance(r["line"], int) and r["line"] > 1 and r["text"] for r in records)
        if key == "sales":
            assert sorted(r["line"] for r in records) == [2, 3, 4]


# --------------------------------------------------------------------------- refused
@dataclass
class Refusal:
    case: str
    damage: Callable[[Workspace], None]
    match: str  # a regex the message must match (it names the file, line, source or items)
    gate: dict = field(default_factory=dict)


def _reviews(ws: Workspace, lines: list[str]) -> None:
    write_lines(ws.paths["reviews"], lines)


def _share(ws: Workspace, share: float, bad: Callable[[int], str]) -> list[str]:
    n = int(len(ws.clean.reviews) * share / (1 - share)) + 1
    return ws.clean.reviews + [bad(i) for i in range(n)]


def _sales_share(ws: Workspace, share: float, qty: str) -> list[str]:
    rows = ws.clean.sales
    n = int((len(rows) - 1) * share / (1 - share)) + 1
    return rows + [sale(qty=qty, day=(START + timedelta(days=i % 100)).isoformat()) for i in range(n)]


def _without_item(ws: Workspace, item: str) -> list[str]:
    return [ln for ln in ws.clean.reviews if json.loads(ln)["parent_asin"] != item]


def _without_first_week(lines: list[str], kind: str) -> list[str]:
    week2 = START + timedelta(days=7)
    if kind == "reviews":
        return [ln for ln in lines if json.loads(ln)["timestamp"] >= ms(week2, hour=0)]
    return [lines[0]] + [ln for ln in lines[1:] if ln.split(",")[{"sales": 0, "order_lines": 3, "requests": 0}[kind]][:10] >= week2.isoformat()]


def _drop_first_week(ws: Workspace) -> None:
    for key in ("reviews", "sales", "order_lines", "requests"):
        write_lines(ws.paths[key], _without_first_week(getattr(ws.clean, key), key))


def _truncated_gzip(ws: Workspace) -> None:
    data = gzip.compress(("\n".join(ws.clean.reviews) + "\n").encode(), mtime=0)
    ws.paths["reviews"].write_bytes(data[: len(data) * 2 // 3])


def _non_utf8(ws: Workspace, key: str, line: int) -> None:
    lines = [ln.encode() for ln in getattr(ws.clean, key)]
    lines[line - 1] = lines[line - 1].replace(b"o", b"\xe9", 1) if key == "reviews" else lines[line - 1] + b"\xff"
    write_lines(ws.paths[key], b"\n".join(lines) + b"\n")


def _write(key: str, data: bytes, *, raw: bool = False) -> Callable[[Workspace], None]:
    def damage(ws: Workspace) -> None:
        if raw:
            ws.paths[key].write_bytes(data)
        else:
            write_lines(ws.paths[key], data)

    return damage


REFUSALS = [
    Refusal("reviews: 20% ratings NaN (JSON literal)",
            lambda ws: _reviews(ws, _share(ws, 0.2, lambda i: rv(user_id=f"n{i}").replace('"rating": 4.0', '"rating": NaN'))),
            r"quarantined for a bad value at most 10%.*source_name=reviews.*nan_rating"),
    Refusal("reviews: 20% ratings out of 1..5",
            lambda ws: _reviews(ws, _share(ws, 0.2, lambda i: rv(rating=9.0, user_id=f"o{i}"))),
            r"rating.*(rating_out_of_range|\[1, 5\])"),
    Refusal("reviews: 20% timestamps 1e300",
            lambda ws: _reviews(ws, _share(ws, 0.2, lambda i: rv(timestamp=1e300, user_id=f"t{i}"))),
            r"timestamp_out_of_range|timestamp__utc"),
    Refusal('sales: 30% quantities "NaN"', lambda ws: write_lines(ws.paths["sales"], _sales_share(ws, 0.3, "NaN")),
            r"source_name=shop.*nan_quantity"),
    Refusal("request log: 30% negative counts",
            lambda ws: write_lines(ws.paths["requests"], ws.clean.requests + [req(count="-1", ts=f"{(START + timedelta(days=i % 100)).isoformat()} 03:00:00") for i in range(1500)]),
            r"count__number"),
    Refusal("reviews: cut short by 38% (whole lines)",
            lambda ws: _reviews(ws, ws.clean.reviews[: int(len(ws.clean.reviews) * 0.62)]),
            r"kept rows per source fall.*source_name=reviews.*previous_rows_kept"),
    Refusal("reviews: one item's reviews gone (1% of rows)",
            lambda ws: _reviews(ws, _without_item(ws, "R29")),
            r"items of the last publish still in the panel.*vanished.*item_id=R29"),
    Refusal("all sources: the first week gone", _drop_first_week, r"the panel starts later by.*previous_first_week=2024-01-01"),
    Refusal("reviews: empty file", lambda ws: write_lines(ws.paths["reviews"], []),
            r"source_name=reviews.*previous_rows_kept|reviews.*file is empty"),
    Refusal("sales: header only", lambda ws: write_lines(ws.paths["sales"], ws.clean.sales[:1]),
            r"source_name=shop"),
    Refusal("reviews: truncated .jsonl.gz", _truncated_gzip, r"reviews.jsonl.gz: the gzip stream ends early.*truncated"),
    Refusal("reviews: not gzip at all", _write("reviews", b"plain text, not gzip\n", raw=True), r"reviews.jsonl.gz: not a valid gzip file"),
    Refusal("reviews: non-UTF-8 byte on line 101", lambda ws: _non_utf8(ws, "reviews", 101), r"reviews.jsonl.gz line 101: byte 0x.. is not UTF-8"),
    Refusal("sales: non-UTF-8 byte on line 57", lambda ws: _non_utf8(ws, "sales", 57), r"sales.csv line 57: byte 0xff is not UTF-8"),
    Refusal("request log: non-UTF-8 byte on line 9", lambda ws: _non_utf8(ws, "requests", 9), r"requests.csv line 9: byte 0xff is not UTF-8"),
    Refusal("reviews: no line is JSON", lambda ws: _reviews(ws, ["not json"] * 50), r"none of the first 50 lines is a JSON object"),
    Refusal("reviews: timestamps in seconds, not ms",
            lambda ws: _reviews(ws, [json.dumps({**json.loads(ln), "timestamp": json.loads(ln)["timestamp"] // 1000}) for ln in ws.clean.reviews]),
            r"out of range for timestamp_unit ms.*set timestamp_unit: s"),
    Refusal("sales: empty file (0 bytes)", _write("sales", b"", raw=True), r"sales.csv: file is empty"),
    Refusal("sales: quantity column renamed", lambda ws: write_lines(ws.paths["sales"], ["day,sku,units,price", *ws.clean.sales[1:]]),
            r"sales.csv: missing column\(s\) 'qty' \(mapped as quantity\)"),
    Refusal("sales: no date parses", lambda ws: write_lines(ws.paths["sales"], [ws.clean.sales[0]] + [ln.replace("2024-", "24/", 1) for ln in ws.clean.sales[1:]]),
            r"column 'day' does not parse as ISO 8601"),
    Refusal("order lines: file deleted", lambda ws: ws.paths["order_lines"].unlink(), r"source 'retail': no file found at .*orders.csv"),
]


@pytest.mark.parametrize("refusal", REFUSALS, ids=[r.case for r in REFUSALS])
def test_bad_input_is_refused_with_a_named_reason_and_nothing_changes(workspace, refusal):
    ws = workspace
    refusal.damage(ws)
    cfg = ws.variant(**refusal.gate) if refusal.gate else ws.config
    try:
        with pytest.raises(DarkHorseError) as err:
            build(cfg, progress=lambda *_: None)
    finally:
        ws.restore()
    message = str(err.value)
    files = published_files(ws.config)
    online = online_rows(ws.config)
    intact = files == ws.published and online == ws.online
    named = re.search(refusal.match, message, re.S) is not None
    shown = _focus(message, refusal.match)
    record(refusal.case, "refused" if named else "refused, reason NOT named", shown, intact)
    assert named, message
    assert files == ws.published
    assert online == ws.online


def _focus(message: str, pattern: str) -> str:
    """The line of a long gate report that the pattern found, else the message's start."""
    for line in message.splitlines():
        if re.search(pattern.split(".*")[0], line):
            # a gate failure: its rule and what broke it, without the expectation's name
            return re.sub(r"^- expect_\w+(\([^)]*\))? on \w+: ", "", line.strip())
    return message.splitlines()[0]


def test_a_folder_given_as_a_source_path_is_named(workspace, tmp_path):
    ws = workspace
    doc = (ws.root / "darkhorse.yaml").read_text().replace(str(ws.paths["sales"]), str(ws.root / "raw"))
    path = tmp_path / "folder.yaml"
    path.write_text(doc)
    with pytest.raises((DarkHorseError, ValueError)) as err:
        load_config(path)
    message = str(err.value)
    named = "is a folder, not a file" in message and "/raw" in message
    record("sales: a folder as the path", "refused" if named else "refused, reason NOT named",
           next((ln for ln in message.splitlines() if "is a folder" in ln), message[:200]),
           published_files(ws.config) == ws.published)
    assert named, message


def test_items_allowed_to_vanish_leave_the_online_store(workspace):
    """With gate.max_vanished_items loosened, a publish without an item's reviews passes, and
    the online store stops serving the item; the clean rebuild brings it back."""
    ws = workspace
    _reviews(ws, _without_item(ws, "R29"))
    cfg = ws.variant(max_vanished_items=0.1)
    try:
        summary = build(cfg, progress=lambda *_: None)
    finally:
        ws.restore()
    from darkhorse.core.features import online_features

    gone = online_features(ws.config, ["R29", "R28"]).unknown_items
    ok = summary["feast"].get("items_removed") == ["R29"] and gone == ["R29"]
    record("reviews: one item gone, gate.max_vanished_items 10%", "published, item left the online store" if ok else "published, item STILL served",
           f"removed from the online store: {summary['feast'].get('items_removed')}", ok)
    assert ok, summary["feast"]
    # back to the baseline for whatever runs next
    build(ws.config, progress=lambda *_: None)
    assert panel_content(ws.config) == ws.content
    assert online_rows(ws.config) == ws.online
    ws.published = published_files(ws.config)
