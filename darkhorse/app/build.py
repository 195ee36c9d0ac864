"""Build the weekly panels: the steps of `darkhorse build` (and `make build`), in order.

1. `preflight()` (darkhorse/app/preflight.py) checks every configured raw source;
2. `run_dbt()` (darkhorse/app/dbt_runner.py) runs `dbt build` into a candidate folder;
3. `summarize()` (darkhorse/app/summary.py) reports rows read / kept / quarantined per source,
   items, weeks and hot sellers per week;
4. the gate (expectations/) validates the candidate; `publish` (darkhorse/core/publish.py)
   switches the published marts to it; Feast registers and materializes the features.

The summary is also written as JSON. A failure at any step before the publish leaves the
published marts, the Feast registry and the online store as they were.

One build runs at a time per data folder (`darkhorse/app/lock.py`: a second one stops with
"another build is running (pid N since T)"; the lock of a killed build is taken over). dbt
runs as a child that dies with the build, so a killed build leaves no dbt holding the DuckDB
file. Items of the last published panel that the new one no longer has (allowed by
`gate.max_vanished_items`) are removed from the online store after the publish, and so are the
load series of the last interval panel that the new one lacks (`gate.max_vanished_series`).

A config whose only source is a `request_log` builds the interval load panel alone: dbt builds
the weekly marts empty (their columns, no row), the gate checks the interval panel, and the
publish and Feast steps carry it (the weekly feature views have no row to serve).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from darkhorse.app.dbt_runner import BuildError, run_dbt
from darkhorse.app.lock import BuildLocked, build_lock
from darkhorse.app.preflight import SourceError, preflight
from darkhorse.app.summary import (
    empty_panel_message,
    number_format_hint,
    quarantine_examples,
    summarize,
)
from darkhorse.core import publish as pub
from darkhorse.core.config import Config
from darkhorse.core.errors import DarkHorseError
from darkhorse.core.marts import PANEL_MARTS, mart_path

# what callers of `darkhorse.app.build` use besides `build` and `gate_only`
__all__ = [
    "BuildError",
    "BuildLocked",
    "GateFailed",
    "SourceError",
    "build",
    "gate_only",
    "preflight",
    "run_dbt",
    "summarize",
]


class GateFailed(DarkHorseError, RuntimeError):
    """The gate refused the candidate; nothing was published. The message lists the failures."""


def _gate(config: Config, candidate: Path, previous: dict[str, Any] | None):
    from expectations.gate import GateError, run_gate  # GX is slow to import: only when gating

    try:
        return run_gate(
            config,
            candidate_marts=candidate,
            duckdb_path=config.duckdb_path,
            previous=previous,
            previous_marts=pub.current_snapshot(config) if previous is not None else None,
        )
    except GateError as e:
        raise BuildError(f"the gate could not run: {e}") from None


def build(
    config: Config, *, gate: bool = True, features: bool = True, progress=print
) -> dict[str, Any]:
    """preflight -> dbt build into a candidate -> gate -> publish -> Feast apply + materialize.

    A failure at any step before the publish (bad source, dbt error, failed gate, a crash)
    leaves the published marts, the Feast registry and the online store as they were.
    Raises BuildLocked while another build of the same data folder runs.
    """
    with build_lock(config, progress=progress):
        return _build(config, gate=gate, features=features, progress=progress)


def _build(config: Config, *, gate: bool, features: bool, progress) -> dict[str, Any]:
    checks = preflight(config)
    for check in checks:
        for note in check.notes:
            progress(f"source '{check.name}': {note}")
    run_id = pub.new_run_id()
    candidate = pub.candidate_dir(config, run_id)
    progress(f"[1/4] dbt build into candidate {candidate}")
    rejected: dict[str, list] = {}
    for check in checks:
        rejected.setdefault(check.kind, []).extend(check.rejected)
    extra = {"rejected_lines": {k: v for k, v in rejected.items() if v}}
    if not run_dbt(config, ["build"], marts_dir=candidate, extra_vars=extra):
        raise BuildError(f"dbt build failed: see the model or test errors above (candidate left in {candidate})")
    summary = summarize(config, candidate)
    examples = quarantine_examples(candidate)
    hint = number_format_hint(config, examples)
    if hint:
        progress(hint)
    _require_rows(config, checks, summary, candidate, examples, hint)
    previous = pub.read_manifest(config)
    gate_result = None
    if gate:
        progress("[2/4] gate: Great Expectations on raw sources, staging events and marts")
        gate_result = _gate(config, candidate, previous)
        summary["gate"] = {
            "success": gate_result.success,
            "failures": len(gate_result.failures),
            "docs": str(gate_result.docs_path),
        }
        unknown = gate_result.unknown_plan_items
        if unknown:
            summary["gate"]["unknown_plan_items"] = unknown
            if gate_result.success:
                shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
                progress(f"plan: {len(unknown)} item(s) the panel does not hold plan nothing "
                         f"(within gate.max_unknown_plan_items): {shown}")
        if not gate_result.success:
            raise GateFailed(gate_result.summary() + (f"\n{hint}" if hint else ""))
    progress("[3/4] publish")
    files = [f for c in checks for f in (*c.files, *c.plan_files)]  # a new plan is new data
    manifest = {
        "published_at": datetime.now(UTC).isoformat(),
        "config_hash": config.config_hash(),
        "data_snapshot": pub.data_snapshot_id(files),
        "row_counts": (
            gate_result.row_counts if gate_result is not None else {"item_weeks": summary["panel"]["rows"]}
        ),
        "source_rows": (
            gate_result.source_rows
            if gate_result is not None
            else {n: {"read": s["read"], "kept": s["read"] - s["quarantined"]} for n, s in summary["sources"].items()}
        ),
        "calendar": summary["calendar"],
        "gate": summary.get("gate", {"success": None, "skipped": True}),
    }
    target = pub.publish(config, candidate, run_id, manifest)
    summary["published"] = str(target)
    summary["marts"] = {m: str(mart_path(config.marts_dir, m)) for m in PANEL_MARTS}
    if features:
        from darkhorse.core import features as feat

        progress("[4/4] Feast: apply and materialize the online store")
        feat.apply(config)
        summary["feast"] = feat.materialize(config)
        vanished = gate_result.vanished_items if gate_result is not None else []
        if vanished:
            from darkhorse.core.features.online import forget_items

            summary["feast"]["items_removed"] = vanished
            summary["feast"]["online_rows_removed"] = forget_items(config, vanished)
            progress(f"online store: removed {len(vanished)} item(s) that left the panel")
        series = gate_result.vanished_series if gate_result is not None else []
        if series:
            from darkhorse.core.features.online import forget_items
            from darkhorse.core.features.store import SERIES_KEY

            summary["feast"]["series_removed"] = series
            summary["feast"]["online_series_rows_removed"] = forget_items(config, series, key=SERIES_KEY)
            progress(f"online store: removed {len(series)} load series that left the interval panel")
    out = config.data_dir / "build_summary.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, default=str))
    summary["summary_path"] = str(out)
    return summary


def _require_rows(config: Config, checks: list, summary: dict[str, Any], candidate: Path,
                  examples: dict[tuple[str, str], str], hint: str | None) -> None:
    """Refuse a build whose panel is empty: the weekly one with an item source, the interval
    one with a request_log source (a request_log-only config has no weekly panel to fill)."""
    if config.has_item_sources and not summary["panel"]["rows"]:
        raise BuildError(empty_panel_message(checks, summary, examples) + (f"; {hint}" if hint else ""))
    load = summary.get("load_panel")
    if load is not None and not load["rows"]:
        names = ", ".join(s.name for s in config.sources if s.kind == "request_log")
        raise BuildError(
            f"the interval load panel is empty, nothing was published: request_log source {names} "
            f"has no row in a complete {config.load.grain} interval "
            f"({mart_path(candidate, 'series_intervals')}; rows set aside are in quarantined_events)"
        )


def gate_only(config: Config, candidate: Path | None = None):
    """Run the gate on a candidate (default: the newest) without publishing anything."""
    if candidate is None:
        runs = (
            sorted((p for p in config.candidates_dir.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
            if config.candidates_dir.exists()
            else []
        )
        runs = [p for p in runs if any(p.glob("*.parquet"))]
        if not runs:
            raise BuildError(f"no candidate under {config.candidates_dir}: run `darkhorse build` first")
        candidate = runs[-1]
    return candidate, _gate(config, candidate, pub.read_manifest(config))
