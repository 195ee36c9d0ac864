"""Candidates and published snapshots of the marts.

dbt always builds into a candidate folder (`data/candidates/<run_id>/`). Only a candidate that
passed the gate is published: it moves to `data/published/<run_id>/` (a rename on the same
file system) with a `manifest.json`, and the published marts path (`paths.marts`, by default
`data/marts`) is a symlink switched to it with one atomic `rename(2)`. Readers (Feast, the
trainers, the service) never see a half-written panel: they see the old snapshot or the new one.

dbt also leaves views in the DuckDB file over the Parquet marts it wrote into the candidate;
after the switch they are pointed at the published marts path (`repoint_relations`), so the
warehouse's `item_weeks`, `item_week_labels`, ... read the published snapshot, not a folder
that no longer exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from darkhorse.core.config import Config
from darkhorse.core.errors import DarkHorseError

MANIFEST = "manifest.json"
KEEP_SNAPSHOTS = 3


class PublishError(DarkHorseError, RuntimeError):
    """The published marts path cannot be switched safely (the message says why)."""


def new_run_id() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z-{os.getpid()}"


def candidate_dir(config: Config, run_id: str) -> Path:
    return config.candidates_dir / run_id


def published_root(config: Config) -> Path:
    return config.data_dir / "published"


def current_snapshot(config: Config) -> Path | None:
    """The folder the published marts path points to, or None before the first publish."""
    link = config.marts_dir
    if link.is_symlink():
        target = link.resolve()
        return target if target.is_dir() else None
    return None


def read_manifest(config: Config) -> dict[str, Any] | None:
    """The manifest of the published snapshot (the folder the marts path points to), or None
    before the first publish. The one reader: the build, the trainers and the tests call it."""
    path = config.marts_dir.resolve() / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise PublishError(f"{path}: not valid JSON ({e})") from None


def data_snapshot_id(paths: list[str]) -> str:
    """A short id of the raw inputs: path, size and modification time of every file."""
    h = hashlib.sha256()
    for p in sorted(paths):
        st = Path(p).stat()
        h.update(f"{Path(p).resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:12]


def _prepare_link_location(link: Path) -> None:
    """A real folder where the symlink must go (an older layout) is set aside, never deleted
    with content in it."""
    if link.is_symlink() or not link.exists():
        return
    if not link.is_dir():
        raise PublishError(f"{link} exists and is not a folder or a symlink; move it away")
    leftovers = [p for p in link.iterdir() if p.name != ".gitkeep"]
    if leftovers:
        aside = link.with_name(f"{link.name}.before-publish-{new_run_id()}")
        link.rename(aside)
    else:
        shutil.rmtree(link)


def publish(config: Config, candidate: Path, run_id: str, manifest: dict[str, Any]) -> Path:
    """Move a gated candidate to data/published/<run_id> and switch the marts link to it."""
    root = published_root(config)
    root.mkdir(parents=True, exist_ok=True)
    target = root / run_id
    if target.exists():
        raise PublishError(f"snapshot {target} already exists")
    candidate.rename(target)  # same file system: atomic, nothing copied
    (target / MANIFEST).write_text(json.dumps({**manifest, "run_id": run_id}, indent=2, default=str))

    link = config.marts_dir
    link.parent.mkdir(parents=True, exist_ok=True)
    _prepare_link_location(link)
    tmp = link.with_name(f".{link.name}.{run_id}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(os.path.relpath(target, link.parent), tmp, target_is_directory=True)
    os.replace(tmp, link)  # the switch: readers see the old snapshot or the new one
    repoint_relations(config, candidate)
    prune(config)
    return target


def repoint_relations(config: Config, candidate: Path) -> list[str]:
    """Point the DuckDB file's views over `candidate`'s Parquet files at the published marts
    path (the link, so they follow every later publish); return the views changed.

    The caller holds the build lock: nothing else writes the file. A missing DuckDB file
    (marts published from elsewhere) changes nothing.
    """
    database = config.duckdb_path
    if not database.is_file():
        return []
    old = str(candidate).rstrip("/") + "/"
    new = str(config.marts_dir).rstrip("/") + "/"
    changed = []
    with closing(duckdb.connect(str(database))) as con:
        views = con.execute(
            "select schema_name, view_name, sql from duckdb_views() "
            "where not internal and contains(sql, ?)",
            [old],
        ).fetchall()
        for schema, name, sql in views:
            head = "CREATE VIEW "
            if not sql.startswith(head):
                continue
            con.execute("CREATE OR REPLACE VIEW " + sql[len(head) :].replace(old, new))
            changed.append(f"{schema}.{name}")
    return changed


def prune(config: Config, keep: int = KEEP_SNAPSHOTS) -> None:
    """Drop old published snapshots (never the current one) and abandoned candidates."""
    current = current_snapshot(config)
    root = published_root(config)
    if root.exists():
        snaps = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name)
        for old in snaps[:-keep]:
            if current is None or old.resolve() != current:
                shutil.rmtree(old, ignore_errors=True)
    cands = config.candidates_dir
    if cands.exists():
        runs = sorted((p for p in cands.iterdir() if p.is_dir() and p.name != "dbt"), key=lambda p: p.name)
        for old in runs[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
