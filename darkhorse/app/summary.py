"""What a dbt build read, kept and set aside, and the shape of the panel it made."""

from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Any

import duckdb

from darkhorse.app.preflight import SourceCheck
from darkhorse.core.config import THOUSANDS_SEPARATORS, Config
from darkhorse.core.marts import PANEL_MARTS, mart_path
from darkhorse.core.sql import sql_str


def summarize(config: Config, marts_dir: Path | None = None) -> dict[str, Any]:
    """What the last build read, kept and set aside, and the shape of the panel."""
    marts = Path(marts_dir or config.marts_dir)  # the published marts unless told otherwise
    con = duckdb.connect(str(config.duckdb_path), read_only=True)
    try:
        counts = con.sql(
            "select source_name, source_kind, outcome, reason, n_rows "
            "from rpt_source_row_counts order by all"
        ).fetchall()
        cal = con.sql(
            "select data_start, data_end, first_complete_week, last_complete_week "
            "from int_dataset_calendar"
        ).fetchall()[0]
        if config.has_request_log:
            counts += _request_log_counts(con)
        several = _weekly_rows_of_several_dates(con) if _has_weekly_sales(config) else {}
        coverage = _catalog_coverage(con, marts) if config.catalog is not None else None
    finally:
        con.close()
    sources: dict[str, dict[str, Any]] = {}
    for name, kind, outcome, reason, n in counts:
        s = sources.setdefault(
            name, {"kind": kind, "read": 0, "kept": 0, "quarantined": 0, "outside_complete_weeks": 0, "reasons": {}}
        )
        s["read"] += n
        if outcome == "kept":
            s["kept"] += n
        elif outcome == "quarantined":
            s["quarantined"] += n
            s["reasons"][reason] = n
        else:
            s["outside_complete_weeks"] += n
            s["reasons"][outcome] = n

    if coverage is not None and config.catalog.name in sources:
        sources[config.catalog.name]["coverage"] = coverage
    for name, (n, of) in several.items():
        if name in sources:
            sources[name]["weekly_item_weeks_with_several_dates"] = {"item_weeks": n, "of": of}

    pq = duckdb.connect()
    weeks_file = sql_str(str(marts / "item_weeks.parquet"))
    labels_file = sql_str(str(marts / "item_week_labels.parquet"))
    rows, items, weeks = pq.sql(
        f"select count(*), count(distinct item_id), count(distinct week_start) from read_parquet({weeks_file})"
    ).fetchall()[0]
    per_week = pq.sql(
        f"""
        select week_start, max(n_candidates) as candidates,
               count(*) filter (where is_hot_seller) as hot_sellers
        from read_parquet({labels_file})
        where is_label_known
        group by week_start order by week_start
        """
    ).fetchall()
    load = None
    if config.has_request_log:
        intervals_file = sql_str(str(mart_path(marts, "series_intervals")))
        n, series, first, last = pq.sql(
            "select count(*), count(distinct series_id), min(interval_start), max(interval_start) "
            f"from read_parquet({intervals_file})"
        ).fetchall()[0]
        load = {"rows": n, "series": series, "first_interval": str(first), "last_interval": str(last)}
    pq.close()
    prevalences = [h / c for _, c, h in per_week if c]
    return {
        "config_hash": config.config_hash(),
        "sources": sources,
        "calendar": {
            "data_start": str(cal[0]),
            "data_end": str(cal[1]),
            "first_complete_week": str(cal[2]),
            "last_complete_week": str(cal[3]),
        },
        "panel": {"rows": rows, "items": items, "weeks": weeks},
        # the interval load panel, with a request_log source
        **({"load_panel": load} if load is not None else {}),
        "labels": {
            "quantile": config.panel.hot_seller_quantile,
            "weeks_with_known_label": len(per_week),
            "prevalence_mean": statistics.fmean(prevalences) if prevalences else None,
            "prevalence_min": min(prevalences) if prevalences else None,
            "prevalence_max": max(prevalences) if prevalences else None,
            "per_week": [
                {"week_start": str(w), "candidates": c, "hot_sellers": h} for w, c, h in per_week
            ],
        },
        "marts": {m: str(mart_path(marts, m)) for m in PANEL_MARTS},
    }


def _catalog_coverage(con: duckdb.DuckDBPyConnection, marts: Path) -> dict[str, int]:
    """How the catalogue's kept listings meet the panel's items: the panel's items, those listed,
    and listings of items the panel does not hold (no kept event in a complete week)."""
    items_file = sql_str(str(mart_path(marts, "items")))
    panel, listed, unused = con.sql(
        f"""
        with panel as (select distinct item_id from read_parquet({items_file})),
        listed as (select item_id from int_item_listings)
        select
            (select count(*) from panel),
            (select count(*) from panel semi join listed using (item_id)),
            (select count(*) from listed anti join panel using (item_id))
        """
    ).fetchall()[0]
    return {"panel_items": int(panel), "listed": int(listed), "listed_not_in_panel": int(unused)}


def _has_weekly_sales(config: Config) -> bool:
    return any(src.granularity == "weekly" for src in config.sources if src.kind == "sales")


def _weekly_rows_of_several_dates(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int]]:
    """Per sales source with weekly rows: item-weeks whose kept rows carry several dates, and
    all its item-weeks. A weekly source dates each item's week once; several dates in one week
    are the sign of daily rows declared weekly (each counted as its whole week, so a partial
    first or last week is kept as if complete)."""
    rows = con.sql(
        """
        select source_name, count(*) filter (where n_dates > 1), count(*)
        from (
            select source_name, item_id, covered_from, count(distinct cast(event_ts as date)) as n_dates
            from int_sales_classified
            where quarantine_reason is null and covered_until - covered_from = interval 7 day
            group by all
        )
        group by all
        """
    ).fetchall()
    return {name: (int(n), int(of)) for name, n, of in rows}


def _request_log_counts(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """The request log's rows per outcome, as `rpt_source_row_counts` gives the item sources'
    (kept = in a complete interval of the load panel; rows of the partial first or last
    interval are outside it)."""
    return con.sql(
        """
        select
            r.source_name,
            'request_log' as source_kind,
            case
                when r.quarantine_reason is not null then 'quarantined'
                when r.interval_start < c.first_complete_interval then 'partial_first_interval'
                when r.interval_start > c.last_complete_interval then 'partial_last_interval'
                else 'kept'
            end as outcome,
            coalesce(r.quarantine_reason, '') as reason,
            count(*) as n_rows,
        from int_requests_classified r
        cross join int_load_calendar c
        group by all
        order by all
        """
    ).fetchall()


EXAMPLE_CHARS = 200  # a quarantined row's raw record, as quoted in an error


def quarantine_examples(candidate: Path) -> dict[tuple[str, str], str]:
    """One quarantined row per (source, reason) of a candidate's `quarantined_events` (the shortest
    raw record, so the example is the same from run to run), as
    `FILE: RAW RECORD` (the record cut to EXAMPLE_CHARS): what an error quotes so that a user
    sees the value that was refused ('27,5' where a decimal point was expected)."""
    path = mart_path(candidate, "quarantined_events")
    if not path.exists():
        return {}
    con = duckdb.connect()
    try:
        rows = con.sql(
            f"""
            -- the shortest record (ties: the smallest), not whichever a parallel scan meets first
            select source_name, quarantine_reason,
                   arg_min(source_file, (length(raw_record), raw_record)),
                   min_by(raw_record, (length(raw_record), raw_record))
            from read_parquet({sql_str(str(path))})
            where quarantine_reason is not null
            group by all
            """
        ).fetchall()
    finally:
        con.close()
    return {(name, reason): f"{file}: {str(record)[:EXAMPLE_CHARS]}" for name, reason, file, record in rows}


# a refused value that reads as a number once a decimal comma or digit grouping is declared
_GROUPING = re.escape("".join(THOUSANDS_SEPARATORS))
_SEPARATED_NUMBER = re.compile(rf'"(-?\d{{1,3}}(?:[{_GROUPING}]\d{{3}})+(?:[.,]\d+)?|-?\d+,\d+)"')
_NUMBER_REASONS = ("unparseable_quantity", "unparseable_unit_price", "unparseable_count", "unparseable_work")


def _declaration(number: str) -> str:
    """The `decimal` / `thousands` declaration that reads `number` ('1.234,5', '216,000')."""
    seps = [c for c in number if not c.isdigit() and c != "-"]
    grouping = [c for c in seps if c not in ".,"]
    if grouping:  # a space or an apostrophe only groups digits
        decimal = ", decimal: ','" if "," in seps else ""
        return f"thousands: {grouping[0]!r}{decimal}"
    if set(seps) == {".", ","}:
        decimal = seps[-1]
        return f"decimal: {decimal!r} and thousands: {'.' if decimal == ',' else ','!r}"
    if set(seps) == {"."}:  # several points group digits: the decimal separator is then a comma
        return "decimal: ',' and thousands: '.'"
    if len(seps) > 1:
        return "thousands: ','"
    if len(number.rsplit(",", 1)[1]) == 3:
        return "thousands: ',' (if it means " + number.replace(",", "") + ") or decimal: ','"
    return "decimal: ','"


def number_format_hint(config: Config, examples: dict[tuple[str, str], str]) -> str | None:
    """A hint, per CSV source, where a refused number looks written with a decimal comma or
    digit grouping (`'39,5'`, `'1.234'`) that the source does not declare (`decimal`,
    `thousands`); None when no refused number looks so."""
    hints = []
    for source in config.sources:
        if source.resolved_format() != "csv" or not hasattr(source, "decimal"):
            continue
        for reason in _NUMBER_REASONS:
            found = _SEPARATED_NUMBER.search(examples.get((source.name, reason), ""))
            if found:
                hints.append(
                    f"source '{source.name}': refused numbers such as {found.group(1)!r} ({reason}) look written "
                    f"with a decimal comma or digit grouping; if so, declare it on the source: "
                    f"{_declaration(found.group(1))}"
                )
                break
    return "; ".join(hints) or None


def empty_panel_message(
    checks: list[SourceCheck], summary: dict[str, Any], examples: dict[tuple[str, str], str] | None = None
) -> str:
    """Why the panel has no row, source by source: an empty file, or where its rows went, with
    one refused row of the source's most frequent quarantine reason (`examples`)."""
    parts = []
    for check in checks:
        if check.kind == "catalog":  # describes items, holds no event
            continue
        s = summary["sources"].get(check.name)
        if not s or not s["read"]:
            parts.append(f"source '{check.name}': {', '.join(check.files)}: file is empty (no data row)")
        else:
            part = (
                f"source '{check.name}': {s['read']} rows read, none kept in a complete week "
                f"({s['quarantined']} quarantined, {s['outside_complete_weeks']} in a partial "
                f"first or last week; reasons {s['reasons']})"
            )
            quarantined = {r: n for r, n in s["reasons"].items() if (check.name, r) in (examples or {})}
            if quarantined:
                reason = max(quarantined, key=quarantined.get)
                part += f"; a row with {reason}: {examples[(check.name, reason)]}"
            parts.append(part)
    return "the panel is empty, nothing was published: " + "; ".join(parts)
