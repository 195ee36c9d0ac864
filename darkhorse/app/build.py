"""Build the weekly panels: check the raw sources, run the dbt project, report what happened.

`build()` is what `darkhorse build` (and `make build`) runs:

1. `preflight()` checks every configured raw source before dbt touches it: the files exist,
   the mapped columns are there, timestamps parse and are in the configured unit. Problems
   that would make the whole source meaningless stop the run with a message naming the
   source, file and column; row-level problems are left to dbt, which quarantines the rows.
2. `run_dbt()` runs `dbt build` in-process with the config's values as vars and its paths as
   environment variables (the same variables `profiles.yml` reads).
3. `summarize()` reads what dbt wrote and reports rows read / kept / quarantined per source,
   items, weeks and hot sellers per week; the summary is also written as JSON.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from darkhorse.core.config import (
    AmazonReviewsSource,
    Config,
    OrderLinesSource,
    RequestLogSource,
    SalesSource,
)
from darkhorse.core.errors import DarkHorseError
from darkhorse.core.marts import PANEL_MARTS, mart_path
from darkhorse.core.sql import quote_ident, raw_reader, sql_str

SAMPLE_LINES = 2000


class SourceError(DarkHorseError, ValueError):
    """A raw source cannot be used as configured; the message names source, file and column."""


class BuildError(DarkHorseError, RuntimeError):
    """The dbt build failed (a model or a data test); details were printed by dbt."""


# --------------------------------------------------------------------------- preflight
@dataclass
class SourceCheck:
    name: str
    kind: str
    files: list[str]
    columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _expand(config: Config, source: Any) -> list[str]:
    files: list[str] = []
    for pattern in config.source_paths(source):
        matched = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        existing = [f for f in matched if Path(f).is_file()]
        if not existing:
            raise SourceError(f"source '{source.name}': no file found at {pattern}")
        files.extend(existing)
    return files


def _required_columns(source: Any) -> dict[str, str]:
    """Mapped columns (role -> the user's column name) that must exist in the file."""
    cols = source.columns.model_dump()
    roles: dict[str, str] = {}
    for role, name in cols.items():
        if name is None:
            continue
        if isinstance(name, list):
            for i, n in enumerate(name):
                roles[f"{role}[{i}]"] = n
        else:
            roles[role] = name
    return roles


def _tabular_columns(con: duckdb.DuckDBPyConnection, fmt: str, file: str) -> list[str]:
    reader = raw_reader(fmt, file)
    try:
        return [r[0] for r in con.sql(f"describe select * exclude (filename) from {reader}").fetchall()]
    except duckdb.Error as e:
        raise SourceError(f"cannot read {file} as {fmt}: {e}") from None


def _check_tabular(config: Config, source: Any, check: SourceCheck) -> None:
    fmt = source.resolved_format()
    con = duckdb.connect()
    required = _required_columns(source)
    for file in check.files:
        present = _tabular_columns(con, fmt, file)
        check.columns = present
        missing = {role: col for role, col in required.items() if col not in present}
        if missing:
            listing = ", ".join(f"'{c}' (mapped as {r})" for r, c in missing.items())
            raise SourceError(
                f"source '{source.name}' file {file}: missing column(s) {listing}; "
                f"the file has {present}. Fix `columns:` in the config (optional roles can be null)."
            )
    # timestamps must parse with the configured format on a sample
    ts_col, ts_fmt = _timestamp_spec(source)
    reader = raw_reader(fmt, check.files[0])
    quoted = quote_ident(ts_col)
    parse = (
        f"try_strptime(cast({quoted} as varchar), {sql_str(ts_fmt)})"
        if ts_fmt
        else f"try_cast({quoted} as timestamp)"
    )
    n, ok = con.sql(
        f"select count(*), count({parse}) from (select {quoted} from {reader} "
        f"where {quoted} is not null limit {SAMPLE_LINES})"
    ).fetchall()[0]
    if n and ok == 0:
        how = f"format {ts_fmt!r}" if ts_fmt else "ISO 8601"
        sample = con.sql(f"select cast({quoted} as varchar) from {reader} limit 1").fetchall()[0][0]
        raise SourceError(
            f"source '{source.name}' file {check.files[0]}: column '{ts_col}' does not parse "
            f"as {how} (e.g. {sample!r}); set the source's timestamp/date format"
        )
    if n and ok < n:
        check.notes.append(f"{n - ok} of {n} sampled '{ts_col}' values do not parse")


def _timestamp_spec(source: Any) -> tuple[str, str | None]:
    if isinstance(source, SalesSource):
        return source.columns.date, source.date_format
    if isinstance(source, OrderLinesSource | RequestLogSource):
        return source.columns.timestamp, source.timestamp_format
    raise TypeError(source)


def _open_text(path: str):
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


_UNIT_RANGE = {"s": (1e8, 1e11), "ms": (1e11, 1e14), "us": (1e14, 1e17)}


def _check_reviews(source: AmazonReviewsSource, check: SourceCheck) -> None:
    cols = source.columns
    for file in check.files:
        valid: list[dict] = []
        n_lines = 0
        try:
            with _open_text(file) as fh:
                for line in fh:
                    if not line.strip():
                        continue
                    n_lines += 1
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(rec, dict):
                        valid.append(rec)
                    if n_lines >= SAMPLE_LINES:
                        break
        except OSError as e:
            raise SourceError(f"source '{source.name}': cannot read {file}: {e}") from None
        if n_lines == 0:
            check.notes.append(f"{file} is empty")
            continue
        if not valid:
            raise SourceError(
                f"source '{source.name}' file {file}: none of the first {n_lines} lines is a "
                "JSON object; is it JSON Lines (one record per line)?"
            )
        if len(valid) < n_lines:
            check.notes.append(
                f"{n_lines - len(valid)} of the first {n_lines} lines of {Path(file).name} "
                "are malformed (they will be quarantined)"
            )
        keys = set().union(*(r.keys() for r in valid))
        check.columns = sorted(keys)
        for role in ("item_id", "timestamp"):
            key = getattr(cols, role)
            if key not in keys:
                raise SourceError(
                    f"source '{source.name}' file {file}: required key '{key}' (mapped as {role}) "
                    f"is in none of the first {len(valid)} records; keys seen: {sorted(keys)}"
                )
        stamps = []
        for r in valid:
            with contextlib.suppress(TypeError, ValueError):
                stamps.append(float(r.get(cols.timestamp)))
        if not stamps:
            raise SourceError(
                f"source '{source.name}' file {file}: column '{cols.timestamp}' holds no epoch "
                "numbers in the first records"
            )
        med = statistics.median(stamps)
        lo, hi = _UNIT_RANGE[source.timestamp_unit]
        if not lo <= med < hi:
            guess = next((u for u, (a, b) in _UNIT_RANGE.items() if a <= med < b), None)
            hint = f"; the values look like {guess}: set timestamp_unit: {guess}" if guess else ""
            raise SourceError(
                f"source '{source.name}' file {file}: column '{cols.timestamp}' is out of range "
                f"for timestamp_unit {source.timestamp_unit} (median {med:.0f}){hint}"
            )


def preflight(config: Config) -> list[SourceCheck]:
    """Check every configured source; raise SourceError naming the first unusable one."""
    checks = []
    for source in config.sources:
        check = SourceCheck(source.name, source.kind, _expand(config, source))
        if isinstance(source, AmazonReviewsSource):
            _check_reviews(source, check)
        else:
            _check_tabular(config, source, check)
        checks.append(check)
    return checks


# --------------------------------------------------------------------------- dbt
def dbt_env(config: Config, marts_dir: Path | None = None) -> dict[str, str]:
    """Environment variables profiles.yml reads, from the config's paths."""
    return {
        "DARKHORSE_DUCKDB_PATH": str(config.duckdb_path),
        # never the published folder: a plain dbt run builds a candidate the gate has not seen
        "DARKHORSE_MARTS_DIR": str(marts_dir or config.candidates_dir / "dbt"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def dbt_args(config: Config, command: list[str]) -> list[str]:
    project = str(config.dbt_project_dir)
    return [
        *command,
        "--project-dir",
        project,
        "--profiles-dir",
        project,
        "--vars",
        json.dumps(config.dbt_vars()),
    ]


def dbt_executable() -> str:
    """The dbt of this environment (beside the running interpreter), else the one on PATH."""
    local = Path(sys.executable).parent / "dbt"
    return str(local) if local.exists() else (shutil.which("dbt") or "dbt")


def run_dbt(config: Config, command: list[str], *, marts_dir: Path | None = None) -> bool:
    """Run a dbt command with the config's vars and paths; True on success.

    dbt runs in its own process: it holds the DuckDB file open (one writer per file) until it
    exits, and its output streams to the terminal as it goes.
    """
    env = {**os.environ, **dbt_env(config, marts_dir)}
    config.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    Path(env["DARKHORSE_MARTS_DIR"]).mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run([dbt_executable(), *dbt_args(config, command)], env=env, check=False)
    except OSError as e:
        raise BuildError(f"cannot start dbt: {e}") from None
    return proc.returncode == 0


# --------------------------------------------------------------------------- summary
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


class GateFailed(DarkHorseError, RuntimeError):
    """The gate refused the candidate; nothing was published. The message lists the failures."""


def _gate(config: Config, candidate: Path, previous: dict[str, Any] | None):
    from expectations.gate import GateError, run_gate  # GX is slow to import: only when gating

    try:
        return run_gate(config, candidate_marts=candidate, duckdb_path=config.duckdb_path, previous=previous)
    except GateError as e:
        raise BuildError(f"the gate could not run: {e}") from None


def build(
    config: Config, *, gate: bool = True, features: bool = True, progress=print
) -> dict[str, Any]:
    """preflight -> dbt build into a candidate -> gate -> publish -> Feast apply + materialize.

    A failure at any step before the publish (bad source, dbt error, failed gate, a crash)
    leaves the published marts, the Feast registry and the online store as they were.
    """
    from darkhorse.core import publish as pub

    checks = preflight(config)
    run_id = pub.new_run_id()
    candidate = pub.candidate_dir(config, run_id)
    progress(f"[1/4] dbt build into candidate {candidate}")
    if not run_dbt(config, ["build"], marts_dir=candidate):
        raise BuildError(f"dbt build failed: see the model or test errors above (candidate left in {candidate})")
    summary = summarize(config, candidate)
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
        if not gate_result.success:
            raise GateFailed(gate_result.summary())
    pause = float(os.environ.get("DARKHORSE_PAUSE_BEFORE_PUBLISH", "0") or 0)
    if pause > 0:  # a window to test that a crash here publishes nothing
        progress(f"pausing {pause:.0f}s before publishing (DARKHORSE_PAUSE_BEFORE_PUBLISH)")
        time.sleep(pause)
    progress("[3/4] publish")
    files = [f for c in checks for f in c.files]
    manifest = {
        "published_at": datetime.now(UTC).isoformat(),
        "config_hash": config.config_hash(),
        "data_snapshot": pub.data_snapshot_id(files),
        "row_counts": (
            gate_result.row_counts if gate_result is not None else {"item_weeks": summary["panel"]["rows"]}
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
    out = config.data_dir / "build_summary.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, default=str))
    summary["summary_path"] = str(out)
    return summary


def gate_only(config: Config, candidate: Path | None = None):
    """Run the gate on a candidate (default: the newest) without publishing anything."""
    from darkhorse.core import publish as pub

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
